// Orders: every order's sync state, the platform's own reason when it failed, Retry.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { STATES, busy, button, clearBanner, loading, showBanner, stateBadge, toast, when } from "./ui.js";

const PAGE_SIZE = 50;
const ALIASES = { pending: "waiting", dead: "failed" };

export async function orders(main) {
  const initial = new URLSearchParams(window.location.search).get("status");
  const state = { status: STATES[initial] ? initial : "", q: "", cursor: null };
  const list = h("div", { class: "orders-list", "aria-live": "polite" });
  const retryAll = button("Retry all failed", (event) => busy(event.currentTarget, async () => {
    try {
      const result = await api("/retry", { method: "POST", body: {} });
      clearBanner("orders");
      toast(`${result.retried ?? result.replayed ?? result.queued ?? "Failed"} orders queued again`);
      await refresh();
    } catch (error) {
      showBanner("orders", "critical", "The orders could not be queued again.", error.message);
    }
  }), { "data-action": "retry-all" });
  const filter = h("select", { id: "filter-status", name: "status", "aria-label": "Sync state",
    onchange: () => { state.status = filter.value; state.q = search.value.trim(); refresh(); } },
    h("option", { value: "" }, "All states"),
    Object.entries(STATES).map(([value, spec]) => h("option", { value, selected: value === state.status }, spec.label)));
  const search = h("input", { id: "search", type: "search", name: "q", placeholder: "Order name, e.g. #1001", "aria-label": "Search by order name" });
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (event) => {
    event.preventDefault(); state.q = search.value.trim(); refresh();
  } }, filter, search, button("Search", null, { type: "submit" }), retryAll);

  async function refresh(more = false) {
    if (!more) { state.cursor = null; replace(list, loading("Loading orders…")); }
    try {
      const data = await api(`/orders?${query(state)}`);
      render(list, data, more, state, refresh);
      clearBanner("orders-load");
    } catch (error) {
      replace(list);
      showBanner("orders-load", "critical", "The orders could not load.", error.message, button("Try again", () => refresh()));
    }
  }
  replace(main, h("s-section", {}, form, list));
  await refresh();
}

function query(state) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.status) params.set("status", state.status);
  if (state.q) params.set("q", state.q);
  if (state.cursor) params.set("cursor", state.cursor);
  return params.toString();
}

function render(list, data, more, state, refresh) {
  const rows = (data.orders || []).map((order) => row(order, refresh));
  let table = list.querySelector("tbody");
  if (!more || !table) {
    if (!rows.length) {
      replace(list, h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No orders here yet."),
        h("p", { class: "subdued" }, state.status || state.q ? "Nothing matches; try another state or name." :
          "New orders appear within moments of being placed. To send older ones, use “Send past orders” in Settings.")));
      return;
    }
    table = h("tbody");
    replace(list, h("table", { class: "orders" },
      h("thead", {}, h("tr", {}, ["Order", "State", "Updated", "What happened", ""].map((title) => h("th", { scope: "col" }, title)))),
      table));
  }
  table.append(...rows);
  list.querySelector(".more")?.remove();
  const next = data.next_cursor ?? data.next;
  if (next) {
    list.append(h("div", { class: "more" }, button("Show more", (event) => busy(event.currentTarget, async () => {
      state.cursor = next; await refresh(true);
    }), { "data-action": "more" })));
  }
}

function row(order, refresh) {
  const status = ALIASES[order.status] || order.status;
  const id = String(order.order_id);
  const retry = ["failed", "retrying"].includes(status) ? button("Retry", (event) => busy(event.currentTarget, async () => {
    try {
      await api(`/orders/${encodeURIComponent(id)}/retry`, { method: "POST", body: {} });
      toast(`${order.name || `Order ${id}`} queued again`);
      await refresh();
    } catch (error) {
      showBanner("orders", "critical", `${order.name || `Order ${id}`} could not be queued again.`, error.message);
    }
  }), { "data-action": "retry" }) : null;
  return h("tr", { "data-order-id": id, "data-status": status },
    h("td", { "data-label": "Order" }, h("a", { href: `/app/orders/${encodeURIComponent(id)}` }, order.name || `#${id}`)),
    h("td", { "data-label": "State" }, stateBadge(status)),
    h("td", { "data-label": "Updated" }, when(order.updated_at ?? order.last_synced_at ?? order.last_attempt_at)),
    h("td", { "data-label": "What happened", class: "reason" }, order.last_error || (status === "synced" ? null : STATES[status]?.help || null)),
    h("td", { class: "row-actions" }, retry));
}
