// Historical import: "send the last N days" through the webhook pipeline, with a progress bar.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { busy, button } from "./ui.js";

const POLL_MS = 1000;

export function importPanel({ days = 30, onDone, secondary } = {}) {
  const status = h("div", { class: "import-status", "aria-live": "polite" });
  const input = h("input", { id: "import-days", name: "days", type: "number", min: "1", max: "365", value: String(days), inputmode: "numeric" });
  const error = h("p", { class: "field-error", id: "import-days-error", role: "alert", hidden: true });
  const start = button(`Send the last ${days} days`, (event) => busy(event.currentTarget, async () => {
    error.hidden = true;
    const chosen = Number.parseInt(input.value, 10);
    try {
      const job = await api("/import", { method: "POST", body: { days: chosen } });
      await follow(job.job_id, status);
      onDone?.();
    } catch (failure) {
      error.textContent = failure.errors?.days || failure.message;
      error.hidden = false;
      replace(status);
    }
  }), { variant: "primary", "data-action": "start-import" });
  input.addEventListener("input", () => { start.textContent = `Send the last ${input.value || "…"} days`; });
  return h("div", { class: "import", "data-field": "days" },
    h("p", {}, "Orders from before the connector was installed are sent to your tracking platform ",
      "the same way as new ones. Where the platform allows it, they are sent silently: customers get no e-mails for them."),
    h("div", { class: "field inline" }, h("label", { for: "import-days" }, "Days to send"), input, error),
    h("div", { class: "actions" }, start, secondary || null), status);
}

// Poll the job until it is done; the bar shows the orders handled out of those found.
async function follow(jobId, holder) {
  const bar = h("progress", { max: "100", value: "0" });
  const text = h("span", { class: "subdued" }, "Starting…");
  replace(holder, h("div", { class: "progress", role: "status" }, bar, text));
  for (;;) {
    const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
    const progress = job.progress || job;
    const total = Number(progress.total ?? 0);
    const done = Number(progress.fetched ?? progress.done ?? 0);
    if (total > 0) { bar.max = total; bar.value = Math.min(done, total); } else bar.removeAttribute("value");
    text.textContent = total > 0 ? ` ${done} of ${total} orders` : " Looking for orders…";
    if (["done", "finished", "completed", "failed", "error"].includes(job.status)) {
      if (["failed", "error"].includes(job.status)) throw new Error(job.error || "The import stopped.");
      bar.max = Math.max(total, 1); bar.value = bar.max;
      const shipments = Number(progress.fulfillments ?? 0);
      text.textContent = ` Done: ${done} orders sent to the queue` +
        (shipments > 0 ? `, with ${shipments} shipment${shipments === 1 ? "" : "s"} and their tracking.` : ".");
      for (const note of job.notes || []) holder.append(h("p", { class: "help" }, note));
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
