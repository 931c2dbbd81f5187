// The health panel: problems first, in full, then the checks that are fine, compactly.

import { $, el, empty, replace, statusClass, unavailable } from "./dom.js";
import { checkValue, isBlank, text, time, words } from "./format.js";
import { listOf, pick } from "./shapes.js";

const CHECK_LABELS = {
  rss_bytes: "memory (RSS)",
  cpu_percent: "CPU",
  disk_free_bytes: "disk free",
  disk_free_percent: "disk free",
  open_fds_ratio: "open files (of limit)",
  event_loop_lag_seconds: "event-loop lag",
  journal_append_p99_seconds: "journal append p99",
  snapshot_age_seconds: "last snapshot",
  backup_age_seconds: "last backup",
  exchange_reachable: "exchange reachable",
  exchange_rtt_seconds: "exchange round trip",
  exchange_clock_skew_ms: "exchange clock skew",
  reconciliation_age_seconds: "last reconciliation",
  unknown_orders_oldest_age_seconds: "oldest UNKNOWN order",
  open_flags: "open flags",
  store_writable: "store writable",
};

function checkLabel(name) {
  return CHECK_LABELS[name]
    || words(String(name).replace(/_(seconds|bytes|ms|ratio|percent|pct)$/, ""));
}

export function renderHealth(result) {
  const body = $("health-body");
  const overall = $("health-overall");
  const panel = $("panel-health");
  if (!result.ok) {
    overall.className = "pill pill-muted";
    overall.textContent = "health unavailable";
    panel.dataset.status = "";
    $("health-when").textContent = "";
    replace(body, result.status === 503 ? empty(`not checked yet (${result.message})`)
      : unavailable("Health", result));
    return;
  }
  const data = result.data || {};
  const status = pick(data, "status") ?? "unknown";
  const cls = statusClass(status);
  overall.className = `pill pill-${cls}`;
  overall.textContent = `health ${status}`;
  // The tab's title says it too, so a person sees it from another tab.
  document.title = cls === "crit" || cls === "warn" ? `${String(status).toUpperCase()} · tradeguard`
    : "tradeguard";
  panel.dataset.status = cls === "crit" || cls === "warn" ? cls : "";
  const ts = pick(data, "ts_ns", "ts", "checked_at");
  $("health-when").textContent = isBlank(ts) ? "" : `checked ${time(ts)} UTC`;
  const checks = listOf(data, "checks");
  if (!checks.length) {
    replace(body, empty("no health round yet"));
    return;
  }
  const order = { critical: 0, crit: 0, warn: 1, warning: 1, ok: 3 };
  const sorted = [...checks].sort((a, b) => (order[a.status] ?? 2) - (order[b.status] ?? 2));
  const row = (c) => {
    const name = text(pick(c, "name", "check"));
    const threshold = pick(c, "threshold");
    const detail = pick(c, "detail", "message");
    const ok = c.status === "ok";
    return el("li", { class: "check", "data-status": String(c.status || "unknown"),
                      "data-check": name, title: `${name}: ${c.status}${isBlank(detail) ? "" : ` (${detail})`}` },
    el("span", { class: "dot", "aria-hidden": "true" }),
    el("span", { class: "name" }, checkLabel(name)),
    el("span", { class: "value" }, checkValue(name, pick(c, "value")),
      isBlank(threshold) || ok ? "" : el("span", { class: "muted" }, ` / ${checkValue(name, threshold)}`)),
    isBlank(detail) || ok ? null : el("span", { class: "detail" }, text(detail)));
  };
  const problems = sorted.filter((c) => c.status !== "ok");
  const fine = sorted.filter((c) => c.status === "ok");
  replace(body,
    problems.length ? el("ul", { class: "checks checks-problems" }, problems.map(row)) : null,
    fine.length ? el("ul", { class: "checks checks-ok" }, fine.map(row)) : null);
}
