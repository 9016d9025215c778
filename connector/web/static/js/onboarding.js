// First open: connect the store to its existing Foxdeli or parcelLab account, then offer to send
// the recent orders. Built for Shopify asks that a B2B app's onboarding start with exactly this.
import { api } from "./api.js";
import { accountFieldset } from "./account.js";
import { h, replace } from "./dom.js";
import { clearFieldErrors, showFieldErrors } from "./fields.js";
import { importPanel } from "./importer.js";
import { busy, button, clearBanner, section, showBanner, toast } from "./ui.js";

export function renderOnboarding(main, settings, { onFinish }) {
  const account = accountFieldset(settings);
  const form = h("form", { class: "onboarding", novalidate: true, "data-step": "connect" });
  const save = button("Save and continue", null, { variant: "primary", type: "submit", "data-action": "save-account" });
  const skip = button("Skip for now", () => onFinish(), { variant: "plain", "data-action": "skip-onboarding" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, async () => {
      clearFieldErrors(form);
      try {
        const saved = await api("/settings", { method: "PUT", body: { target: account.read(), options: settings.options || {} } });
        clearBanner("onboarding");
        toast("Account connected");
        renderImportStep(main, saved, onFinish);
      } catch (error) {
        const unplaced = showFieldErrors(form, error.errors);
        showBanner("onboarding", "critical", "The account could not be saved.",
          unplaced.length ? unplaced.join(" ") : error.message);
      }
    });
  });
  replace(form, account.element, h("div", { class: "actions" }, save, skip));
  replace(main,
    steps(1),
    section("Connect your tracking account",
      h("p", {}, "Link this store to the Foxdeli or parcelLab account you already have. ",
        "Every new and changed order is then sent there within moments; nothing is sent until you connect."),
      form));
  main.querySelector("input:not([type=radio])")?.focus();
}

function renderImportStep(main, settings, onFinish) {
  const done = button("Go to the overview", () => onFinish(), { variant: "primary", "data-action": "finish-onboarding" });
  const later = button("Not now", () => onFinish(), { variant: "plain", "data-action": "skip-import" });
  const panel = importPanel({ days: 30, secondary: later, onDone: () => panel.append(h("div", { class: "actions" }, done)) });
  replace(main, steps(2), section("Send your recent orders", panel));
}

function steps(current) {
  const names = ["Connect your account", "Send recent orders"];
  return h("ol", { class: "steps", "aria-label": "Setup steps" }, names.map((name, index) => h("li", {
    class: index + 1 === current ? "current" : index + 1 < current ? "done" : "",
    "aria-current": index + 1 === current ? "step" : undefined,
  }, name)));
}
