// Connecting a Foxdeli or parcelLab account: platform choice, its credentials, "Test connection".
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { PLATFORMS, clearFieldErrors, credentialFields, readCredentials, showFieldErrors } from "./fields.js";
import { busy, button } from "./ui.js";

// A fieldset that swaps the credential fields when the merchant picks the other platform.
export function accountFieldset(settings, { disabled = false, onChange } = {}) {
  const target = settings?.target || {};
  let kind = PLATFORMS[target.kind] ? target.kind : "foxdeli";
  const fields = h("div", { class: "credential-fields" });
  const result = h("div", { class: "test-result", "aria-live": "polite" });
  const render = () => {
    replace(fields, credentialFields(kind, kind === target.kind ? target : {}, { disabled }));
    replace(result);
  };
  const choices = Object.entries(PLATFORMS).map(([value, platform]) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "kind", value, checked: value === kind, disabled,
      onchange: () => { kind = value; render(); onChange?.(); } }),
    " ", platform.label));
  const testButton = button("Test connection", (event) => busy(event.currentTarget, async () => {
    clearFieldErrors(fieldset);
    replace(result, h("span", { class: "subdued" }, `Asking ${PLATFORMS[kind].label}…`));
    try {
      const answer = await api("/settings/test", { method: "POST", body: { target: readCredentials(fieldset, kind) } });
      showResult(result, answer.ok, answer.message || (answer.ok ? "Connected." : "Refused."));
    } catch (error) {
      const unplaced = showFieldErrors(fieldset, error.errors);
      showResult(result, false, unplaced.length ? unplaced.join(" ") : error.message);
    }
  }), { disabled, "data-action": "test-connection" });
  const fieldset = h("fieldset", { class: "account", disabled },
    h("legend", {}, "Tracking platform"), h("div", { class: "choices", "data-field": "kind" }, choices,
      h("p", { class: "field-error", role: "alert", hidden: true })),
    fields, h("div", { class: "actions" }, testButton), result);
  render();
  return { element: fieldset, kind: () => kind, read: () => readCredentials(fieldset, kind) };
}

function showResult(holder, ok, message) {
  replace(holder, h("s-banner", { tone: ok ? "success" : "critical", role: ok ? "status" : "alert" },
    h("strong", { class: "banner-title" }, ok ? "Connection works." : "Connection failed."),
    " ", h("span", { class: "platform-answer" }, message)));
}
