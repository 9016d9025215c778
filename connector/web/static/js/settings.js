// Settings: the tracking account and the options, one form under Shopify's contextual save bar
// (<form data-save-bar>: App Bridge shows Save/Discard while it has unsaved changes).
import { api } from "./api.js";
import { accountFieldset } from "./account.js";
import { h, replace } from "./dom.js";
import { clearFieldErrors, field, showFieldErrors } from "./fields.js";
import { importPanel } from "./importer.js";
import { busy, button, clearBanner, section, showBanner, toast } from "./ui.js";

export async function settingsPage(main) {
  const settings = await api("/settings");
  render(main, settings);
}

function render(main, settings) {
  const managed = settings.managed_by === "operator";
  const options = settings.options || {};
  const account = accountFieldset(settings, { disabled: managed });
  const form = h("form", { id: "settings-form", novalidate: true, "data-save-bar": managed ? undefined : "" });
  const save = button("Save", null, { variant: "primary", type: "submit", disabled: managed, "data-action": "save" });
  const discard = button("Discard", null, { type: "reset", disabled: managed });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!managed) busy(save, () => submit(main, form, account, settings));
  });
  form.addEventListener("reset", (event) => { event.preventDefault(); render(main, settings); });
  replace(form,
    section("Tracking account", account.element),
    section("Syncing", checkbox("paused", "Pause syncing", options.paused,
      "While paused, orders are kept and nothing is sent; they all go out when you resume.", managed)),
    section("Which orders to send",
      field({ name: "skip_tags", label: "Skip orders tagged", value: (options.skip_tags || []).join(", "), disabled: managed,
        help: "Comma-separated Shopify order tags, e.g. wholesale, no-tracking. Orders with any of them are not sent." }),
      checkbox("skip_unpaid", "Skip unpaid orders", options.skip_unpaid, "Orders are sent once they are paid.", managed),
      checkbox("skip_test_orders", "Skip test orders", options.skip_test_orders, "Orders placed with Shopify's test payment gateway.", managed)),
    section("Order number", radios("order_number", options.order_number || "name", [
      ["name", "As Shopify shows it, with your prefix (e.g. #1001)"], ["number", "The number only (e.g. 1001)"]], managed)),
    section("Courier codes", carriers(options.carriers || {}, managed)),
    managed ? null : h("div", { class: "actions sticky-actions" }, save, discard));
  replace(main,
    managed ? h("s-banner", { tone: "info", "data-note": "managed" }, h("strong", { class: "banner-title" }, "Managed by your server operator."),
      " These settings are shown read-only; ask your operator to change them.") : null,
    form,
    managed ? null : section("Send past orders", importPanel({ days: 30 })));
}

async function submit(main, form, account, settings) {
  clearFieldErrors(form);
  try {
    const saved = await api("/settings", { method: "PUT", body: { target: account.read(), options: readOptions(form) } });
    clearBanner("settings");
    toast("Settings saved");
    render(main, saved);
  } catch (error) {
    const unplaced = showFieldErrors(form, error.errors);
    showBanner("settings", "critical", "The settings were not saved.", unplaced.length ? unplaced.join(" ") : error.message);
  }
}

function readOptions(form) {
  const value = (name) => form.querySelector(`[name="${name}"]`);
  const carriers = {};
  for (const row of form.querySelectorAll(".carrier-row")) {
    const [from, to] = row.querySelectorAll("input");
    if (from.value.trim() || to.value.trim()) carriers[from.value.trim()] = to.value.trim();
  }
  return {
    paused: value("paused").checked,
    skip_tags: value("skip_tags").value.split(",").map((tag) => tag.trim()).filter(Boolean),
    skip_unpaid: value("skip_unpaid").checked,
    skip_test_orders: value("skip_test_orders").checked,
    order_number: form.querySelector('[name="order_number"]:checked')?.value || "name",
    carriers,
  };
}

function checkbox(name, label, checked, help, disabled) {
  const id = `field-${name}`;
  return h("div", { class: "field check", "data-field": name },
    h("label", { for: id }, h("input", { type: "checkbox", id, name, checked, disabled }), " ", label),
    h("p", { class: "help" }, help), h("p", { class: "field-error", role: "alert", hidden: true }));
}

function radios(name, current, choices, disabled) {
  return h("fieldset", { class: "field", "data-field": name }, h("legend", { class: "visually-hidden" }, "Order number"),
    choices.map(([value, label]) => h("label", { class: "choice" },
      h("input", { type: "radio", name, value, checked: value === current, disabled }), " ", label)),
    h("p", { class: "field-error", role: "alert", hidden: true }));
}

// Shopify's courier name (tracking company) → the platform's courier code, on top of the built-in table.
function carriers(map, disabled) {
  const rows = h("div", { class: "carrier-rows" });
  const add = (from = "", to = "") => rows.append(h("div", { class: "carrier-row" },
    h("input", { "aria-label": "Courier name in Shopify", placeholder: "Courier in Shopify, e.g. PPL CZ", value: from, disabled }),
    h("span", { "aria-hidden": "true" }, "→"),
    h("input", { "aria-label": "Courier code on the platform", placeholder: "Platform code, e.g. ppl", value: to, disabled }),
    disabled ? null : button("Remove", (event) => { event.currentTarget.closest(".carrier-row").remove(); rows.closest("form")?.dispatchEvent(new Event("change")); }, { variant: "plain" })));
  for (const [from, to] of Object.entries(map)) add(from, to);
  if (!Object.keys(map).length && !disabled) add();
  return h("div", { class: "field", "data-field": "carriers" },
    h("p", { class: "help" }, "Only needed when the platform does not recognise a courier name Shopify sends; the built-in table covers the common ones."),
    rows, disabled ? null : button("Add a courier", () => add(), { variant: "plain" }),
    h("p", { class: "field-error", role: "alert", hidden: true }));
}
