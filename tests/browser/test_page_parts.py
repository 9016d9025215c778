"""The page's own building blocks, run in the real browser on the real page (no backend data needed)."""

from __future__ import annotations

import pytest

from tests.browser.harness import open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>"\'&<s-banner>'


def test_values_become_text_never_markup(page, admin):
    frame = open_app(page, admin)
    result = frame.evaluate("""async (hostile) => {
        const { h } = await import('/app/static/js/dom.js');
        const el = h('div', { id: 'probe', title: hostile, href: 'javascript:window.__pwned=1' },
                     hostile, h('a', { href: hostile }, hostile), h('a', { href: '//evil.example/x' }, 'x'));
        document.body.append(el);
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { pwned: window.__pwned || 0, text: el.firstChild.textContent, title: el.title,
                 elements: el.querySelectorAll('img, script, s-banner').length,
                 hrefs: [...el.querySelectorAll('a')].map((a) => a.getAttribute('href')) };
    }""", HOSTILE)
    assert result == {"pwned": 0, "text": HOSTILE, "title": HOSTILE, "elements": 0, "hrefs": ["#", "#"]}


def test_errors_are_shown_next_to_their_own_field(page, admin):
    frame = open_app(page, admin)
    result = frame.evaluate("""async (hostile) => {
        const { field, showFieldErrors, clearFieldErrors } = await import('/app/static/js/fields.js');
        const form = document.createElement('form');
        form.append(field({ name: 'username', label: 'API username' }), field({ name: 'skip_tags', label: 'Tags' }));
        document.body.append(form);
        const unplaced = showFieldErrors(form, { 'target.username': hostile, 'skip_tags': 'no commas inside a tag', 'nonsense': 'x' });
        const read = (name) => form.querySelector(`[data-field="${name}"] .field-error`);
        const shown = { username: read('username').textContent, tags: read('skip_tags').textContent,
                        invalid: form.querySelector('#field-username').getAttribute('aria-invalid'),
                        focused: document.activeElement.id, unplaced };
        clearFieldErrors(form);
        return { ...shown, cleared: read('username').hidden && !form.querySelector('[aria-invalid]') };
    }""", HOSTILE)
    assert result == {
        "username": HOSTILE, "tags": "no commas inside a tag", "invalid": "true",
        "focused": "field-username", "unplaced": ["nonsense: x"], "cleared": True,
    }


def test_a_busy_button_shows_it_and_cannot_be_pressed_twice(page, admin):
    frame = open_app(page, admin)
    result = frame.evaluate("""async () => {
        const { busy, button } = await import('/app/static/js/ui.js');
        let runs = 0, release;
        const b = button('Save', null);
        document.body.append(b);
        const first = busy(b, () => { runs += 1; return new Promise((resolve) => { release = resolve; }); });
        const during = { busy: b.getAttribute('aria-busy'), disabled: b.disabled };
        await busy(b, async () => { runs += 1; });
        release();
        await first;
        return { runs, during, after: { busy: b.getAttribute('aria-busy'), disabled: b.disabled } };
    }""")
    assert result == {"runs": 1, "during": {"busy": "true", "disabled": True}, "after": {"busy": None, "disabled": False}}
