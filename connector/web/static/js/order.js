// One order: its state, the platform's answer, the Shopify events and delivery attempts, what was sent.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { busy, button, clearBanner, section, showBanner, stateBadge, toast, when } from "./ui.js";

const ALIASES = { pending: "waiting", dead: "failed" };

export async function order(main, orderId) {
  const detail = await api(`/orders/${encodeURIComponent(orderId)}`);
  const status = ALIASES[detail.status] || detail.status;
  const name = detail.name || `Order ${orderId}`;
  const retry = ["failed", "retrying"].includes(status) ? button("Retry", (event) => busy(event.currentTarget, async () => {
    try {
      await api(`/orders/${encodeURIComponent(orderId)}/retry`, { method: "POST", body: {} });
      clearBanner("order");
      toast(`${name} queued again`);
      await order(main, orderId);
    } catch (error) {
      showBanner("order", "critical", `${name} could not be queued again.`, error.message);
    }
  }), { variant: "primary", "data-action": "retry" }) : null;
  replace(main,
    h("p", {}, h("a", { href: "/app/orders", class: "back" }, "← All orders")),
    section(name,
      h("p", {}, stateBadge(status), " ", h("span", { class: "subdued" }, "updated ", when(detail.updated_at ?? detail.last_synced_at))),
      detail.last_error ? h("s-banner", { tone: "critical", role: "alert" }, h("strong", { class: "banner-title" }, "The platform answered:"),
        " ", h("span", { class: "platform-answer" }, detail.last_error)) : null,
      retry ? h("div", { class: "actions" }, retry) : null),
    section("Delivery attempts", list(detail.attempts ?? detail.recent_attempts, (a) => [
      when(a.at ?? a.attempted_at ?? a.created_at), " · ", a.what ? `${a.what}: ` : "", a.outcome ?? a.status ?? "", a.http_status ? ` (HTTP ${a.http_status})` : "",
      a.error || a.reason ? h("div", { class: "reason" }, a.error || a.reason) : null,
    ], "No delivery attempt yet.")),
    section("Shopify events", list(detail.events, (e) => [
      when(e.received_at ?? e.at), " · ", h("code", {}, e.topic || ""), e.status ? h("span", { class: "subdued" }, " · ", e.status) : null,
      e.reason ? h("div", { class: "reason subdued" }, e.reason) : null,
    ], "No events.")),
    detail.payload ? section("What was sent", h("pre", { class: "payload" }, JSON.stringify(detail.payload, null, 2))) : null);
}

function list(items, render, empty) {
  if (!items || !items.length) return h("p", { class: "subdued" }, empty);
  return h("ul", { class: "timeline" }, items.map((item) => h("li", {}, render(item))));
}
