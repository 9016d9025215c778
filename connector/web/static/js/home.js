// Home: is it set up and working? The account, the counts, the last delivery, and what needs attention.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { PLATFORMS, platformOf } from "./fields.js";
import { renderOnboarding } from "./onboarding.js";
import { STATES, clearBanner, loading, section, showBanner, when } from "./ui.js";

export async function home(main) {
  const [settings, overview] = await load();
  const connected = overview.connected ?? Boolean(platformOf(settings));
  if (!connected && settings.managed_by !== "operator") {
    renderOnboarding(main, settings, { onFinish: () => reload(main) });
    return;
  }
  renderHome(main, settings, overview);
}

// "Today" and "this week" are the merchant's own, in the browser's time zone.
function load() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return Promise.all([api("/settings"), api(`/overview?tz=${encodeURIComponent(zone)}`)]);
}

async function reload(main) {
  replace(main, loading());
  const [settings, overview] = await load();
  renderHome(main, settings, overview);
}

export function countsOf(overview) {
  const counts = { ...(overview.counts || overview.orders || {}) };
  // the store's own words, should they come through: pending is waiting, dead is failed
  if (counts.pending !== undefined) counts.waiting = (counts.waiting || 0) + counts.pending;
  if (counts.dead !== undefined) counts.failed = (counts.failed || 0) + counts.dead;
  return counts;
}

function renderHome(main, settings, overview) {
  const counts = countsOf(overview);
  const kind = platformOf(settings);
  attention(settings, overview, counts, kind);
  replace(main,
    section("Tracking account", account(settings, kind)),
    section("Orders", metrics(overview, counts), lastDelivery(overview)),
    h("p", { class: "subdued footer-help" }, "Every order keeps its own state and the platform's exact answer on the ",
      h("a", { href: "/app/orders" }, "Orders"), " page."));
}

function attention(settings, overview, counts, kind) {
  const connected = overview.connected ?? Boolean(kind);
  if (!connected) {
    showBanner("account", "warning", "No tracking account is connected.",
      "Orders are kept and will be sent once you connect one.", h("a", { href: "/app/settings", class: "btn btn-secondary" }, "Connect an account"));
  } else if (overview.account_error || overview.credentials_ok === false) {
    showBanner("account", "critical", `${PLATFORMS[kind]?.label || "The platform"} no longer accepts the saved credentials.`,
      overview.account_error || "Check them in Settings; orders are kept until then.", h("a", { href: "/app/settings", class: "btn btn-secondary" }, "Open settings"));
  } else clearBanner("account");
  if (counts.failed > 0) {
    showBanner("failed", "critical", `${counts.failed} ${counts.failed === 1 ? "order was" : "orders were"} refused by the platform.`,
      "Each one shows the reason; fix it, then retry.", h("a", { href: "/app/orders?status=failed", class: "btn btn-secondary" }, "See failed orders"));
  } else clearBanner("failed");
  if (overview.blocked && connected && !overview.account_error && !settings.options?.paused) {
    showBanner("blocked", "warning", "Deliveries are on hold.", String(overview.blocked));
  } else clearBanner("blocked");
  if (settings.options?.paused) showBanner("paused", "warning", "Syncing is paused.", "New orders are kept and sent once you resume it in Settings.");
  else clearBanner("paused");
}

function account(settings, kind) {
  if (!kind) return h("p", {}, "Not connected.");
  const target = settings.target || {};
  const who = target.username || target.account || target.eshop_id || "";
  return h("div", { class: "account-summary" },
    h("p", {}, h("s-badge", { tone: "success" }, "Connected"), " ", h("strong", {}, PLATFORMS[kind].label),
      who ? h("span", { class: "subdued" }, " · ", who) : null),
    settings.managed_by === "operator" ? h("p", { class: "subdued" }, "Managed by your server operator.") : null);
}

function metrics(overview, counts) {
  const cards = [
    ["Synced today", overview.synced_today, "synced"],
    ["Synced this week", overview.synced_week ?? overview.synced_this_week, "synced"],
    ["Waiting", counts.waiting ?? 0, "waiting"],
    ["Retrying", counts.retrying ?? 0, "retrying"],
    ["Failed", counts.failed ?? 0, "failed"],
  ];
  if (counts.held) cards.push(["Held", counts.held, "held"]);
  return h("div", { class: "metrics" }, cards.filter(([, value]) => value !== undefined).map(([label, value, status]) =>
    h("a", { class: `metric tone-${STATES[status].tone}`, href: `/app/orders?status=${status}`, "data-metric": label },
      h("span", { class: "metric-value" }, String(value)), h("span", { class: "metric-label" }, label))));
}

function lastDelivery(overview) {
  const last = overview.last_delivery;
  const oldest = overview.oldest_waiting ?? overview.oldest_waiting_at;
  return h("dl", { class: "facts" },
    h("dt", {}, "Last delivery"), h("dd", {}, last ? [when(last.at ?? last.delivered_at ?? last), last.name ? ` · ${last.name}` : ""] : "None yet"),
    h("dt", {}, "Oldest waiting"), h("dd", {}, oldest ? when(oldest.at ?? oldest.received_at ?? oldest) : "Nothing waiting"));
}
