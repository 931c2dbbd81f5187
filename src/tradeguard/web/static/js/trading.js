// The trading panels: open orders, positions at the mark, balances, the reconciliation
// history, and the flags that need a person (with their resolve buttons).

import { $, el, empty, pill, replace, statusClass, table, unavailable } from "./dom.js";
import { approx, dec, isBlank, isoTime, millis, text, time, tone, words } from "./format.js";
import { listOf, pick } from "./shapes.js";

export function renderOrders(result) {
  const body = $("orders-body");
  const count = $("orders-count");
  if (!result.ok) {
    count.textContent = "";
    replace(body, unavailable("Open orders", result));
    return;
  }
  const orders = listOf(result.data, "orders", "items");
  count.textContent = String(orders.length);
  if (!orders.length) {
    replace(body, empty("no open orders"));
    return;
  }
  const shown = orders.slice(0, 200);
  replace(body, table(
    [{ label: "symbol" }, { label: "side" }, { label: "price", num: true },
     { label: "amount", num: true }, { label: "filled", num: true, cls: "hide-narrow" },
     { label: "status" },
     { label: "client id", cls: "hide-narrow" }],
    shown.map((o) => {
      const side = String(pick(o, "side") ?? "").toLowerCase();
      const status = String(pick(o, "status") ?? "");
      return [
        text(pick(o, "symbol")),
        { value: side || "—", cls: side === "buy" ? "side-buy" : side === "sell" ? "side-sell" : "" },
        dec(pick(o, "price")),
        dec(pick(o, "amount", "quantity", "qty")),
        dec(pick(o, "filled", "filled_amount")),
        { value: words(status.toLowerCase()), cls: /unknown/i.test(status) ? "neg" : "" },
        { value: text(pick(o, "client_order_id", "id")), cls: "mono muted" },
      ];
    }),
  ), orders.length > shown.length ? empty(`… and ${orders.length - shown.length} more`) : null);
}

export function renderPositions(result) {
  const body = $("positions-body");
  const count = $("positions-count");
  if (!result.ok) {
    count.textContent = "";
    replace(body, unavailable("Positions", result));
    return;
  }
  const all = listOf(result.data, "positions", "items");
  const positions = all.filter((p) => p.flat !== true && tone(pick(p, "size", "amount")) !== "");
  count.textContent = String(positions.length);
  if (!positions.length) {
    replace(body, empty(all.length ? `flat on ${all.map((p) => p.symbol).join(", ")}` : "no positions"));
    return;
  }
  replace(body, table(
    [{ label: "symbol" }, { label: "size", num: true }, { label: "entry", num: true, cls: "hide-narrow" },
     { label: "mark", num: true }, { label: "unrealized PnL", num: true },
     { label: "realized", num: true, cls: "hide-narrow" }],
    positions.map((p) => {
      const upnl = pick(p, "unrealized_pnl", "unrealized");
      const rpnl = pick(p, "realized_pnl", "realized");
      return [
        text(pick(p, "symbol")),
        { value: dec(pick(p, "size", "amount")), cls: tone(pick(p, "size", "amount")) },
        approx(pick(p, "entry_price", "entry")),
        isBlank(pick(p, "mark_price", "mark")) ? { value: "unknown", cls: "muted" }
          : dec(pick(p, "mark_price", "mark")),
        isBlank(upnl) ? { value: "—", title: "no mark price" }
          : { value: el("span", null, approx(upnl), isBlank(p.pnl_asset) ? "" : el("span", { class: "muted small" }, ` ${p.pnl_asset}`)), cls: tone(upnl) },
        { value: approx(rpnl), cls: tone(rpnl) },
      ];
    }),
  ));
}

export function renderBalances(result) {
  const body = $("balances-body");
  const count = $("balances-count");
  if (!result.ok) {
    count.textContent = "";
    replace(body, unavailable("Balances", result));
    return;
  }
  let balances = result.data;
  if (balances && !Array.isArray(balances) && typeof balances === "object") {
    const inner = pick(balances, "balances", "items");
    balances = Array.isArray(inner) ? inner
      : Object.entries(inner && typeof inner === "object" ? inner : balances)
        .map(([asset, b]) => ({ asset, ...(b || {}) }));
  }
  balances = Array.isArray(balances) ? balances : [];
  count.textContent = String(balances.length);
  if (!balances.length) {
    replace(body, empty("no balances recorded"));
    return;
  }
  const valued = balances.some((b) => !isBlank(pick(b, "value")));
  const valueAsset = pick(balances.find((b) => !isBlank(b.value_asset)) || {}, "value_asset");
  const columns = [{ label: "asset" }, { label: "free", num: true },
                   { label: "locked", num: true, cls: "hide-narrow" },
                   { label: "total", num: true }];
  if (valued) columns.push({ label: `value${isBlank(valueAsset) ? "" : ` (${valueAsset})`}`, num: true, cls: "hide-narrow" });
  replace(body, table(columns, balances.map((b) => {
    const row = [
      el("b", null, text(pick(b, "asset", "currency"))),
      dec(pick(b, "free")),
      dec(pick(b, "locked", "used")),
      el("b", null, dec(pick(b, "total"))),
    ];
    if (valued) row.push(isBlank(pick(b, "value")) ? { value: "—", title: "no price" } : approx(pick(b, "value")));
    return row;
  })));
}

// --- reconciliations ---------------------------------------------------------------------------

export function renderReconciliations(result) {
  const body = $("reconciliations-body");
  const count = $("reconciliations-count");
  if (!result.ok) {
    count.textContent = "";
    replace(body, unavailable("Reconciliation history", result));
    return;
  }
  const reports = listOf(result.data, "reconciliations", "reports", "items");
  count.textContent = reports.length ? `last ${reports.length}` : "";
  if (!reports.length) {
    replace(body, empty("no reconciliation yet"));
    return;
  }
  replace(body, el("ul", { class: "recons" }, groupRepeats(reports).slice(0, 10).map((item) => {
    const r = item.reports[0];
    const discs = listOf(pick(r, "discrepancies") ?? [], "items");
    const nDiscs = discs.reduce((n, d) => n + (Number(pick(d, "count")) || 1), 0);
    const complete = pick(r, "complete");
    const corrective = pick(r, "corrective_events", "corrections");
    const nCorrective = pick(r, "events_journaled") ?? (Array.isArray(corrective) ? corrective.length : corrective);
    const unchecked = listOf(pick(r, "unchecked") ?? []);
    const failures = listOf(pick(r, "failures") ?? []);
    const flagsRaised = listOf(pick(r, "flags_raised") ?? []);
    const state = complete === false ? pill("incomplete", "crit")
      : nDiscs ? pill(`${nDiscs} discrepanc${nDiscs === 1 ? "y" : "ies"}`, flagsRaised.length ? "crit" : "warn")
        : pill("no difference", "ok");
    const ts = pick(r, "ts_ns", "ts", "finished_ns");
    const runs = item.reports.length;
    const oldest = pick(item.reports[runs - 1], "ts_ns", "ts");
    return el("li", { class: "recon", "data-seq": text(pick(r, "seq")) },
      el("div", { class: "recon-head" },
        el("span", { class: "recon-when", title: runs > 1 ? `${isoTime(oldest)} – ${isoTime(ts)}` : isoTime(ts) },
          runs > 1 ? `${time(oldest)} – ${time(ts)}` : time(ts)),
        state,
        runs > 1 ? el("span", { class: "muted small" }, `${runs} runs`) : null,
        isBlank(pick(r, "trigger", "reason")) ? null
          : el("span", { class: "muted small" }, words(pick(r, "trigger", "reason"))),
        isBlank(nCorrective) || Number(nCorrective) === 0 ? null
          : el("span", { class: "muted small" }, `${nCorrective} correction${Number(nCorrective) === 1 ? "" : "s"} journaled`),
        flagsRaised.length ? el("span", { class: "small neg" }, `${flagsRaised.length} flag${flagsRaised.length === 1 ? "" : "s"} raised`) : null,
        unchecked.length ? el("span", { class: "small neg", title: unchecked.join(", ") }, `${unchecked.length} not checked`) : null,
        isBlank(pick(r, "duration_ms")) || runs > 1 ? null
          : el("span", { class: "muted small" }, millis(pick(r, "duration_ms")))),
      discs.length || failures.length ? el("ul", { class: "discs" },
        discs.slice(0, 12).map((d) => el("li", { class: "disc" },
          el("b", null, words(pick(d, "kind", "type"))),
          Number(pick(d, "count")) > 1 ? ` ×${pick(d, "count")}` : "",
          isBlank(pick(d, "symbol")) ? "" : ` ${pick(d, "symbol")}`,
          isBlank(pick(d, "action", "resolution")) ? "" : el("span", { class: "muted" }, ` → ${words(pick(d, "action", "resolution"))}`),
          isBlank(pick(d, "detail", "message")) ? ""
            : el("span", { class: "muted" }, `: ${text(pick(d, "detail", "message"))}`))),
        failures.slice(0, 4).map((f) => el("li", { class: "disc neg" }, text(f)))) : null);
  })));
}

// What a report found, as a key: consecutive reports that found the same and changed
// nothing (no correction, no flag) are shown as one line.
function repeatKey(r) {
  if (Number(pick(r, "events_journaled") ?? 0) > 0) return null;
  if (listOf(pick(r, "flags_raised") ?? []).length || listOf(pick(r, "failures") ?? []).length) return null;
  return JSON.stringify([pick(r, "complete"), pick(r, "found") ?? {}, pick(r, "unchecked") ?? []]);
}

function groupRepeats(reports) {
  const items = [];
  for (const r of reports) {
    const key = repeatKey(r);
    const last = items[items.length - 1];
    if (key !== null && last && last.key === key) last.reports.push(r);
    else items.push({ key, reports: [r] });
  }
  return items;
}

// --- flags --------------------------------------------------------------------------------

export function renderFlags(result, onAction) {
  const body = $("flags-body");
  const count = $("flags-count");
  const panel = $("panel-flags");
  if (!result.ok) {
    count.textContent = "";
    panel.dataset.status = "";
    replace(body, unavailable("Flags", result));
    return;
  }
  const flags = listOf(result.data, "flags", "items")
    .filter((f) => !pick(f, "resolved", "resolved_ns"));
  count.textContent = flags.length ? `${flags.length} open` : "";
  const critical = flags.some((f) => /crit/i.test(String(pick(f, "severity"))));
  panel.dataset.status = critical ? "crit" : flags.length ? "warn" : "";
  if (!flags.length) {
    replace(body, el("p", { class: "all-clear" }, "✓ No open flags: nothing needs a person."));
    return;
  }
  replace(body, el("div", { class: "flags" }, flags.map((f) => {
    const id = text(pick(f, "flag_id", "id"));
    const severity = String(pick(f, "severity") ?? "warn");
    const actions = listOf(pick(f, "actions") ?? []);
    return el("article", { class: "flag", "data-severity": severity, "data-flag-id": id },
      el("div", { class: "flag-head" },
        pill(severity, statusClass(severity)),
        el("span", { class: "flag-kind" }, words(pick(f, "kind"))),
        isBlank(pick(f, "symbol")) ? null : el("span", { class: "mono" }, pick(f, "symbol")),
        el("span", { class: "muted small", title: isoTime(pick(f, "raised_ns", "ts_ns", "ts", "raised_at")) },
          isBlank(pick(f, "raised_ns", "ts_ns", "ts", "raised_at")) ? ""
            : `raised ${time(pick(f, "raised_ns", "ts_ns", "ts", "raised_at"))} UTC`),
        el("span", { class: "muted small mono" }, id)),
      el("p", { class: "flag-msg" }, text(pick(f, "message", "detail"))),
      el("div", { class: "flag-actions" }, actions.map((action) => {
        const name = typeof action === "object" ? pick(action, "action", "name") : action;
        return el("button", {
          type: "button", class: "btn btn-small", "data-action": text(name),
          onclick: () => onAction(f, text(name)),
        }, words(name));
      })));
  })));
}
