// The tracking platforms' credentials and the shop's options, and the form fields for them.
// Names follow GET/PUT /app/api/settings: {"target": {"kind", <fields>, "<secret>_set"}, "options", "managed_by"}.
import { h } from "./dom.js";

export const PLATFORMS = {
  foxdeli: {
    label: "Foxdeli",
    fields: [
      { name: "username", label: "API username",
        help: "In Foxdeli: Settings → API Connections. Create an API connection; this is its username (not your login e-mail)." },
      { name: "password", label: "API password", secret: true,
        help: "Shown once when you create the API connection in Foxdeli (Settings → API Connections)." },
      { name: "eshop_id", label: "E-shop ID",
        help: "The ID of your e-shop in Foxdeli, 36 characters like 12345678-1234-1234-1234-1234567890ab. Foxdeli support can tell you which one." },
    ],
  },
  parcellab: {
    label: "parcelLab",
    fields: [
      { name: "account", label: "Account ID",
        help: "Your parcelLab account number: parcelLab app → Settings → Account." },
      { name: "token", label: "API token", secret: true,
        help: "parcelLab app → Settings → API tokens: create a token with the write scope and paste it as shown." },
      { name: "client_key", label: "Client key (optional)",
        help: "The shop or brand name your parcelLab setup expects, e.g. mybrand.com. Leave empty if parcelLab gave you none." },
    ],
  },
};

export function platformOf(settings) {
  const kind = settings?.target?.kind;
  return PLATFORMS[kind] ? kind : null;
}

// One labelled input with its help text and a place for its error, right beneath it.
export function field({ name, label, help, secret, type = "text", value = "", placeholder, disabled, prefix = "" }) {
  const id = `field-${prefix}${name}`;
  const input = h("input", {
    id, name, type: secret ? "password" : type, value: value ?? "", placeholder,
    autocomplete: secret ? "new-password" : "off", spellcheck: "false", disabled,
    "aria-describedby": `${id}-help ${id}-error`,
  });
  return h("div", { class: "field", "data-field": name },
    h("label", { for: id }, label), input,
    help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
    h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true }));
}

export function credentialFields(kind, target = {}, { disabled = false, prefix = "" } = {}) {
  return PLATFORMS[kind].fields.map((spec) => field({
    ...spec, prefix, disabled,
    value: spec.secret ? "" : target[spec.name],
    placeholder: spec.secret && target[`${spec.name}_set`] ? "Saved — leave empty to keep it" : undefined,
  }));
}

// The credentials typed into a form; an empty secret means "keep the stored one" (left out).
export function readCredentials(form, kind) {
  const target = { kind };
  for (const spec of PLATFORMS[kind].fields) {
    const value = form.querySelector(`[data-field="${spec.name}"] input`).value.trim();
    if (!spec.secret || value) target[spec.name] = value;
  }
  return target;
}

// Errors from a 400 {"errors": {"<field>": "<what to fix>"}}, each shown under its own field.
// Keys may be bare ("username") or dotted ("target.username", "options.skip_tags").
export function showFieldErrors(form, errors) {
  clearFieldErrors(form);
  const unplaced = [];
  for (const [key, message] of Object.entries(errors || {})) {
    const name = key.split(".").pop();
    const holder = form.querySelector(`[data-field="${CSS.escape(key)}"]`) || form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!holder) { unplaced.push(`${key}: ${message}`); continue; }
    const error = holder.querySelector(".field-error");
    error.textContent = String(message);
    error.hidden = false;
    holder.classList.add("has-error");
    holder.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
  }
  form.querySelector(".has-error input, .has-error select, .has-error textarea")?.focus();
  return unplaced;
}

export function clearFieldErrors(form) {
  for (const holder of form.querySelectorAll(".has-error")) {
    holder.classList.remove("has-error");
    const error = holder.querySelector(".field-error");
    error.hidden = true;
    error.textContent = "";
    holder.querySelector("[aria-invalid]")?.removeAttribute("aria-invalid");
  }
}
