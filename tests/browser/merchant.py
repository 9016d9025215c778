"""A store owner using the page: what they click and read, in the page's own words.

Selectors are the page's (labels, ``data-action`` buttons); nothing here reaches into the backend.
"""

from __future__ import annotations

from typing import Any

from tests.browser.harness import AdminStandIn, app_frame, open_app

# A busy button (aria-busy="true", set and removed however fast) or a loading placeholder added.
WATCH_LOADING = """() => {
  window.__loadingSeen = false;
  window.__loadingWatch = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes" && (r.oldValue === "true" || r.target.getAttribute("aria-busy") === "true")) {
        window.__loadingSeen = true;
      }
      for (const node of r.addedNodes) {
        if (node.nodeType === 1 && (node.matches(".loading") || node.querySelector(".loading"))) window.__loadingSeen = true;
      }
    }
  });
  window.__loadingWatch.observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["aria-busy"], attributeOldValue: true });
}"""


class Merchant:
    def __init__(self, page: Any, admin: AdminStandIn) -> None:
        self.page, self.admin = page, admin
        self.frame: Any = None

    def open(self, path: str = "/app") -> Any:
        self.frame = open_app(self.page, self.admin, path)
        return self.frame

    def go(self, link_text: str) -> Any:
        """Follow an in-page link or a tab of <s-app-nav> (App Bridge navigates the frame)."""
        with self.page.expect_event("framenavigated", predicate=lambda f: f.parent_frame is not None and "/app" in f.url):
            self.frame.get_by_text(link_text, exact=True).first.click()
        self.frame = app_frame(self.page, self.admin)
        self.frame.wait_for_selector("main:not([aria-busy])", state="attached")
        return self.frame

    # -- the account ------------------------------------------------------------------------
    def choose_platform(self, label: str) -> None:
        self.frame.get_by_label(label, exact=True).check()

    def fill(self, **values: str) -> None:
        for label, value in values.items():
            self.frame.get_by_label(label, exact=True).fill(value)

    def test_connection(self) -> str:
        """Press *Test connection*; the platform's answer as shown."""
        self._watch_loading()
        self.frame.click("[data-action='test-connection']")
        result = self.frame.wait_for_selector(".test-result s-banner")
        self._assert_loading_shown("test-connection")
        return result.inner_text()

    def press(self, action: str) -> None:
        """Press a button by its ``data-action`` and wait until it is no longer busy."""
        button = self.frame.locator(f"[data-action='{action}']").first
        self._watch_loading()
        button.click()
        self.frame.wait_for_function(
            "(action) => !document.querySelector(`[data-action='${action}'][aria-busy]`)", arg=action)
        self._assert_loading_shown(action)

    # -- every action shows that it is working (issue 14.6) ---------------------------------
    def _watch_loading(self) -> None:
        """Note, from now on, any busy button or loading placeholder, however briefly shown."""
        self.frame.evaluate(WATCH_LOADING)

    def _assert_loading_shown(self, action: str) -> None:
        shown = self.frame.evaluate("() => { window.__loadingWatch?.disconnect(); return window.__loadingSeen === true; }")
        assert shown, f"pressing {action!r} showed no loading state (no aria-busy, no .loading)"

    # -- reading ----------------------------------------------------------------------------
    def banners(self) -> list[str]:
        return [b.inner_text() for b in self.frame.query_selector_all("#banners s-banner")]

    def order_rows(self) -> dict[str, dict[str, str]]:
        """Orders page: order name → {"state": badge text, "reason": what happened}."""
        rows = {}
        for row in self.frame.query_selector_all("table.orders tbody tr"):
            cells = row.query_selector_all("td")
            rows[cells[0].inner_text()] = {"state": cells[1].inner_text(), "reason": cells[3].inner_text(),
                                           "status": row.get_attribute("data-status")}
        return rows
