// Shared pieces of the page: banners, loading states, status badges, times, success toasts.
import { h, replace } from "./dom.js";

// -- banners: errors stay until what caused them is resolved (never a fading toast) -----------
const banners = new Map();

export function showBanner(id, tone, title, text, ...actions) {
  const banner = h("s-banner", { tone, "data-banner": id, role: tone === "critical" ? "alert" : "status" },
    h("strong", { class: "banner-title" }, title), text ? h("span", { class: "banner-text" }, " ", text) : null,
    actions.length ? h("span", { class: "banner-actions" }, ...actions) : null);
  banners.get(id)?.remove();
  banners.set(id, banner);
  document.getElementById("banners").append(banner);
  return banner;
}

export function clearBanner(id) {
  banners.get(id)?.remove();
  banners.delete(id);
}

// -- actions: every button shows that it is working, and cannot be pressed twice --------------
export async function busy(button, work) {
  if (button.getAttribute("aria-busy") === "true") return undefined;
  button.setAttribute("aria-busy", "true");
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

export function button(label, onclick, { variant = "secondary", type = "button", ...props } = {}) {
  return h("button", { type, class: `btn btn-${variant}`, onclick, ...props }, label);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", text);
}

export function section(heading, ...children) {
  return h("s-section", { heading }, ...children);
}

export function toast(message) {
  if (window.shopify?.toast?.show) {
    window.shopify.toast.show(message);
    return;
  }
  const note = h("p", { class: "toast", role: "status" }, message);
  document.body.append(note);
  setTimeout(() => note.remove(), 4000);
}

// -- sync states ------------------------------------------------------------------------------
export const STATES = {
  synced: { label: "Synced", tone: "success", help: "Delivered to your tracking platform." },
  waiting: { label: "Waiting", tone: "info", help: "Queued; it goes out within moments." },
  retrying: { label: "Retrying", tone: "warning", help: "The platform did not take it yet; the connector keeps trying." },
  failed: { label: "Failed", tone: "critical", help: "The platform refused it; fix the reason, then retry." },
  held: { label: "Held", tone: "neutral", help: "Kept until a tracking account is connected (or syncing is resumed)." },
  skipped: { label: "Not sent", tone: "neutral", help: "Left out by your settings (tag, unpaid or test order)." },
  stale: { label: "Skipped (older)", tone: "neutral", help: "An older version of an order already sent; nothing to do." },
};

export function stateBadge(status) {
  const state = STATES[status] || { label: status || "Unknown", tone: "neutral" };
  return h("s-badge", { tone: state.tone, "data-status": status, title: state.help || "" }, state.label);
}

// -- times ------------------------------------------------------------------------------------
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString() }, relative(date));
}

function relative(date) {
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const units = [["minute", 60], ["hour", 3600], ["day", 86400]];
  let [unit, size] = units[0];
  for (const candidate of units) if (Math.abs(seconds) >= candidate[1]) [unit, size] = candidate;
  if (unit === "day" && Math.abs(seconds) > 7 * 86400) return date.toLocaleDateString();
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(seconds / size), unit);
}

export function fail(main, error) {
  showBanner("page", "critical", "This page could not load.", error.message,
    button("Try again", () => window.location.reload()));
  replace(main);
}
