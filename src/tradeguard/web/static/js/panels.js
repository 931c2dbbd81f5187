// One renderer per panel. Each takes the API result ({ok, data} or {ok: false, message})
// and redraws its panel; a failing endpoint shows "unavailable", never throws.

import { $, el, empty, replace, table, unavailable } from "./dom.js";
import {
  approx, checkValue, dec, roundDec, duration, isBlank, isoTime, millis, text, time, toDate, tone, words,
} from "./format.js";
import { lineChart } from "./chart.js";

// The first of ``names`` that ``obj`` has (not null/undefined).
export function pick(obj, ...names) {
  if (!obj || typeof obj !== "object") return undefined;
  for (const name of names) {
    const value = obj[name];
    if (value !== null && value !== undefined) return value;
  }
  return undefined;
}

const STATUS_CLASS = { ok: "ok", warn: "warn", warning: "warn", critical: "crit", crit: "crit" };

export function statusClass(status) {
  return STATUS_CLASS[String(status || "").toLowerCase()] || "muted";
}

function pill(label, cls, title) {
  return el("span", { class: `pill pill-${cls}`, title: title || null }, label);
}

function when(value) {
  return { value: time(value), title: isoTime(value) };
}

function listOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  const inner = pick(data, ...keys);
  return Array.isArray(inner) ? inner : [];
}

// --- the run (top bar) ----------------------------------------------------------------

export function renderRun(result, clock) {
  const start = $("run-start");
  if (!result.ok) {
    start.className = "pill pill-warn";
    start.textContent = "status unavailable";
    start.title = result.message;
    return null;
  }
  const data = result.data || {};
  const run = pick(data, "run") || data;
  const session = pick(data, "session_id", "session") ?? pick(run, "session_id", "session");
  $("session-id").textContent = isBlank(session) ? "" : `session ${session}`;
  const recovered = runWasRecovered(run, data);
  const phase = String(pick(data, "phase") ?? "");
  if (phase && phase !== "running") {
    start.className = `pill pill-${phase === "failed" ? "crit" : phase === "starting" ? "info" : "warn"}`;
    start.textContent = phase === "starting" ? "starting: recovering…" : words(phase);
  } else if (recovered === true) {
    start.className = "pill pill-warn";
    start.textContent = "recovered from an unclean shutdown";
  } else if (recovered === false) {
    start.className = "pill pill-ok";
    start.textContent = "clean start";
  } else {
    start.className = "pill pill-muted";
    start.textContent = words(pick(run, "start", "state", "run_state") ?? "running");
  }
  start.title = text(pick(data, "exchange") ?? "");
  const epoch = pick(run, "epoch", "lease_epoch") ?? pick(pick(data, "leader"), "epoch") ?? pick(data, "epoch");
  const epochNode = $("run-epoch");
  replace(epochNode, isBlank(epoch) ? "" : el("span", null, "epoch ", el("b", null, text(epoch))));
  const leader = pick(data, "leader");
  const role = leader && typeof leader === "object" ? pick(leader, "role") : leader;
  if (role === false || (typeof role === "string" && role !== "leader")) {
    epochNode.append(" ", pill(role === false ? "standby" : words(role), "warn"));
  }
  const paused = pauseInfo(data);
  const pausedNode = $("run-paused");
  pausedNode.hidden = !paused.paused;
  pausedNode.textContent = paused.paused ? "new orders paused" : "";
  pausedNode.title = paused.paused
    ? [paused.by && `by ${paused.by}`, paused.since && `since ${time(paused.since)} UTC`]
      .filter(Boolean).join(" ") : "";
  const uptime = Number(pick(run, "uptime_s", "uptime_seconds", "uptime") ?? NaN);
  const started = toDate(pick(run, "started_ns", "started_at", "started", "start_ts"));
  clock.set(Number.isFinite(uptime) ? uptime : null, started);
  return { paused: paused.paused };
}

function runWasRecovered(run, data) {
  const start = pick(run, "start", "start_kind", "kind");
  if (typeof start === "string") {
    if (/recover|unclean/i.test(start)) return true;
    if (/clean|fresh|new/i.test(start)) return false;
  }
  for (const source of [run, data]) {
    const recovered = pick(source, "recovered", "unclean_shutdown");
    if (typeof recovered === "boolean") return recovered;
    const clean = pick(source, "clean_start");
    if (typeof clean === "boolean") return !clean;
  }
  return null;
}

function pauseInfo(data) {
  const raw = pick(data, "pause", "paused") ?? pick(pick(data, "run"), "pause", "paused");
  if (raw && typeof raw === "object") {
    return { paused: Boolean(pick(raw, "paused")), by: pick(raw, "by", "who", "paused_by"),
             since: pick(raw, "since", "since_ns", "paused_ns", "ts") };
  }
  return { paused: Boolean(raw), by: pick(data, "by", "paused_by"),
           since: pick(data, "since_ns", "paused_since") };
}

// Uptime that ticks between refreshes.
export class RunClock {
  constructor(node) {
    this.node = node;
    this.base = null;
    this.at = 0;
    this.started = null;
  }

  set(uptime, started) {
    this.base = uptime;
    this.at = performance.now();
    this.started = started;
    this.tick();
  }

  tick() {
    let seconds = null;
    if (this.base !== null) seconds = this.base + (performance.now() - this.at) / 1000;
    else if (this.started) seconds = (Date.now() - this.started.getTime()) / 1000;
    if (seconds === null) {
      this.node.replaceChildren();
      return;
    }
    replace(this.node, el("span", { title: this.started ? `started ${isoTime(this.started)}` : null },
      "up ", el("b", null, duration(seconds))));
  }
}

// --- recovery -----------------------------------------------------------------------------

// The start-up tracker's document: state waiting/running/ready/failed, phases in order,
// and the figures of the store's recovery and the session's start-up.
export function recoveryRunning(data) {
  const state = String(pick(data, "state") ?? "");
  return state === "running" || state === "waiting";
}

export function renderRecovery(result) {
  const body = $("recovery-body");
  const badge = $("recovery-state");
  if (!result.ok) {
    badge.className = "pill pill-muted";
    badge.textContent = "";
    replace(body, unavailable("Recovery", result));
    return;
  }
  const data = result.data || {};
  const state = String(pick(data, "state") ?? "");
  const running = recoveryRunning(data);
  const unclean = pick(data, "unclean_shutdown");
  if (state === "failed") {
    badge.className = "pill pill-crit";
    badge.textContent = "start-up failed";
  } else if (running) {
    badge.className = "pill pill-info";
    badge.textContent = state === "waiting" ? "waiting…" : "recovering…";
  } else if (unclean === true) {
    badge.className = "pill pill-warn";
    badge.textContent = "unclean shutdown, recovered";
  } else if (unclean === false) {
    badge.className = "pill pill-ok";
    badge.textContent = "clean start";
  } else {
    badge.className = "pill pill-muted";
    badge.textContent = words(state || pick(data, "phase") || "");
  }
  body.dataset.state = state;
  const parts = [];
  if (running) parts.push(progressBlock(data));
  if (state === "failed" && !isBlank(pick(data, "error"))) {
    parts.push(el("p", { class: "unavailable" }, text(pick(data, "error"))));
  }
  parts.push(figures(data));
  const actions = listOf(pick(data, "recovery_actions") || []);
  if (actions.length) {
    parts.push(el("div", { class: "subhead" }, `Recovery actions (${actions.length}, in the order they ran)`));
    parts.push(table(
      [{ label: "action" }, { label: "outcome" }, { label: "took", num: true }],
      actions.map((a) => actionRow(a)),
    ));
  }
  const errors = listOf(pick(data, "recovery_errors") || []);
  if (errors.length) {
    parts.push(el("div", { class: "subhead" }, "Recovery errors"));
    parts.push(el("ul", { class: "discs" }, errors.map((e) => el("li", { class: "disc neg" }, text(e)))));
  }
  const phases = listOf(pick(data, "phases") || []);
  if (phases.length) {
    const list = phasesTable(phases);
    if (running || state === "failed") {
      parts.push(el("div", { class: "subhead" }, "Start-up phases"), list);
    } else {
      const total = pick(data, "duration_ms");
      const wasOpen = body.querySelector("details.phases[open]") !== null; // keep it as the person left it
      parts.push(el("details", { class: "phases", open: wasOpen },
        el("summary", null, `Start-up phases (${phases.length}${isBlank(total) ? "" : `, ${millis(total)}`})`),
        list));
    }
  }
  replace(body, ...parts);
}

function progressBlock(data) {
  const phase = pick(data, "phase") ?? "starting";
  const step = pick(data, "step");
  const done = Number(pick(data, "done"));
  const total = Number(pick(data, "total"));
  const known = Number.isFinite(done) && Number.isFinite(total) && total > 0;
  const pct = known ? Math.min(100, (done / total) * 100) : 0;
  const bar = el("span");
  bar.style.width = `${known ? pct.toFixed(1) : 100}%`;
  if (!known) bar.className = "indeterminate";
  return el("div", { class: "recovery-progress" },
    el("div", null, el("b", null, words(phase)),
      isBlank(step) ? "" : el("span", { class: "muted" }, ` · ${words(step)}`), " ",
      el("span", { class: "muted num", "data-progress": "" },
        known ? `${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")}` : "")),
    el("div", { class: "progress", role: "progressbar", "aria-label": `start-up: ${words(phase)}`,
                "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": known ? pct.toFixed(0) : null },
    bar));
}

function phasesTable(phases) {
  return el("ol", { class: "phases-list" }, phases.map((p) => {
    const outcome = pick(p, "outcome");
    const cls = isBlank(outcome) ? "info" : /ok|done/i.test(outcome) ? "ok"
      : /fail|error/i.test(outcome) ? "crit" : "warn";
    const done = pick(p, "done");
    const total = pick(p, "total");
    return el("li", { class: "phase-item", "data-outcome": isBlank(outcome) ? "running" : text(outcome) },
      el("span", { class: `dot dot-${cls}`, "aria-hidden": "true" }),
      el("span", { class: "phase-name" }, words(pick(p, "name")),
        !isBlank(total) && Number(total) > 0 && isBlank(outcome)
          ? el("span", { class: "muted num" }, ` ${numberText(done)} / ${numberText(total)}`) : ""),
      el("span", { class: "muted num" }, isBlank(outcome) ? "running…" : millis(pick(p, "duration_ms"))),
      isBlank(pick(p, "detail")) ? null : el("span", { class: "phase-detail" }, text(pick(p, "detail"))));
  }));
}

function unknownText(unknown, byReconcile) {
  if (!unknown || typeof unknown !== "object") {
    return isBlank(unknown) && !byReconcile ? ["—", ""] : [text(unknown ?? byReconcile), ""];
  }
  const size = (v) => (Array.isArray(v) ? v.length : Number(v) || 0);
  const adopted = size(unknown.adopted);
  const notPlaced = size(unknown.not_placed) + size(unknown.absent_within_grace);
  const still = size(unknown.still_unknown);
  const unreachable = size(unknown.unreachable);
  const detail = [byReconcile && `${byReconcile} by reconciliation`,
                  adopted && `${adopted} found`, notPlaced && `${notPlaced} not placed`,
                  still && `${still} still unknown`, unreachable && `${unreachable} unreachable`]
    .filter(Boolean).join(", ");
  const total = byReconcile + adopted + notPlaced;
  return [`${total}${detail && total ? ` (${detail})` : detail ? `, ${detail}` : ""}`,
          still || unreachable ? "warn" : ""];
}

function figures(r) {
  const reconcile = pick(r, "reconcile");
  let reconcileText = "—";
  let reconcileCls = "";
  if (reconcile && typeof reconcile === "object") {
    const complete = pick(reconcile, "complete");
    const raw = pick(reconcile, "discrepancies");
    const n = Array.isArray(raw) ? raw.length : Number(raw ?? 0);
    const flagsRaised = Number(pick(reconcile, "flags_raised") ?? 0);
    reconcileText = `${complete === false ? "INCOMPLETE" : "complete"}, ${n} discrepanc${n === 1 ? "y" : "ies"}`
      + (flagsRaised ? `, ${flagsRaised} flag${flagsRaised === 1 ? "" : "s"}` : "");
    // Discrepancies corrected by themselves are normal (first start, fills while down);
    // a flag needs a person, an incomplete run could not check everything.
    reconcileCls = complete === false ? "crit" : flagsRaised ? "warn" : n > 0 ? "" : "ok";
    if (!isBlank(pick(reconcile, "error"))) {
      reconcileText = `failed: ${pick(reconcile, "error")}`;
      reconcileCls = "crit";
    }
  }
  const byReconcile = Number(pick(pick(reconcile, "found") || {}, "unknown_resolved") ?? 0);
  const [unknownValue, unknownCls] = unknownText(pick(r, "unknown"), byReconcile);
  const unclean = pick(r, "unclean_shutdown");
  const snapshot = pick(r, "snapshot_seq");
  const quarantined = pick(r, "quarantined_records");
  const hasStore = !isBlank(pick(r, "replayed_events"));
  const items = [
    ["Previous shutdown", unclean === true ? "UNCLEAN" : unclean === false ? (isBlank(pick(r, "previous_run")) ? "none (new store)" : "clean") : "—",
      unclean === true ? "crit" : unclean === false ? "ok" : ""],
    ["Snapshot used", isBlank(snapshot) ? (hasStore ? "none" : "—") : `seq ${numberText(snapshot)}`, ""],
    ["Events replayed", numberText(pick(r, "replayed_events")), ""],
    ["Quarantined records", numberText(quarantined), Number(quarantined) > 0 ? "crit" : ""],
    ["Reconciliation", reconcileText, reconcileCls],
    ["UNKNOWN orders resolved", unknownValue, unknownCls],
    ["Fills replayed", numberText(pick(r, "fills_replayed")), ""],
    ["Start-up took", isBlank(pick(r, "duration_ms")) ? "—" : millis(pick(r, "duration_ms")), ""],
  ];
  return el("dl", { class: "figures" }, items.map(([label, value, cls]) => el("div", { class: "figure" },
    el("dt", null, label), el("dd", { class: cls || null, "data-figure": label }, value))));
}

function numberText(value) {
  if (isBlank(value)) return "—";
  const n = Number(value);
  return Number.isFinite(n) ? n.toLocaleString("en-US") : text(value);
}

function actionRow(action) {
  if (typeof action !== "object" || action === null) return [text(action), "", ""];
  const name = pick(action, "kind", "action", "name") ?? "";
  const target = pick(action, "client_order_id", "order", "symbol", "target");
  const outcome = pick(action, "outcome", "result", "status") ?? "";
  const took = pick(action, "duration_ms", "took_ms");
  const ok = /ok|done|success|submitted|dropped|resubmitted|sent/i.test(String(outcome));
  const bad = /fail|error|refused|rejected/i.test(String(outcome));
  return [
    el("span", null, words(name), isBlank(target) ? "" : el("span", { class: "muted mono" }, ` ${target}`)),
    { value: words(outcome), cls: bad ? "neg" : ok ? "pos" : "", title: text(pick(action, "error") ?? "") },
    isBlank(took) ? "—" : millis(took),
  ];
}

// --- health ---------------------------------------------------------------------------------

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

// --- orders, positions, balances ------------------------------------------------------------

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

// --- chart --------------------------------------------------------------------------------

function columnPoints(times, values) {
  if (!Array.isArray(times) || !Array.isArray(values)) return [];
  return times.map((t, i) => {
    const v = values[i];
    const d = toDate(t);
    return { t: d ? d.getTime() : NaN, v: v === null || v === undefined ? NaN : Number(v),
             label: typeof v === "string" ? dec(roundDec(v, 2)) : undefined };
  });
}

function seriesPoints(raw) {
  const items = Array.isArray(raw) ? raw : listOf(raw, "points", "values", "items");
  return items.map((p) => {
    let t; let v;
    if (Array.isArray(p)) [t, v] = p;
    else {
      t = pick(p, "ts_ns", "ts", "t", "time");
      v = pick(p, "value", "v", "equity", "p99_seconds", "seconds");
    }
    const d = toDate(t);
    return { t: d ? d.getTime() : NaN, v: Number(v),
             label: typeof v === "string" ? dec(roundDec(v, 2)) : undefined };
  }).sort((a, b) => a.t - b.t);
}

export function renderChart(result) {
  const body = $("chart-body");
  if (!result.ok) {
    replace(body, unavailable("Chart data", result));
    return;
  }
  const data = result.data || {};
  const times = pick(data, "ts_ns", "ts");
  const latencyRaw = pick(data, "journal_append_p99_s", "journal_append_p99_seconds", "journal_append_p99") ?? [];
  const equity = Array.isArray(times) ? columnPoints(times, pick(data, "equity"))
    : seriesPoints(pick(data, "equity") ?? []);
  const latency = Array.isArray(times) ? columnPoints(times, latencyRaw) : seriesPoints(latencyRaw);
  const quote = pick(data, "valuation_asset", "equity_asset", "quote");
  replace(body,
    lineChart({
      title: `Equity${isBlank(quote) ? "" : ` (${quote})`}`, points: equity, series: 1,
      format: (v) => dec(v.toFixed(2)),
      empty: "collecting points (one every few seconds)…",
    }),
    lineChart({
      title: "Journal append p99", points: latency.map((p) => ({ ...p, label: undefined })),
      series: 2, format: (v) => millis(v * 1000),
      empty: "no appends in the last minute yet",
    }));
}

// --- journal --------------------------------------------------------------------------------

const TONES = [
  [/flag_resolved|recovered|adopted/, "ok"],
  [/flag_raised|unknown|corrected|alert_failed/, "warn"],
  [/rejected|failed|poison|fenced/, "crit"],
];

function recordTone(record) {
  const type = String(pick(record, "type") ?? "");
  if (type === "health_changed") {
    const status = pick(pick(record, "fields") || record, "status");
    return statusClass(status) === "muted" ? "" : statusClass(status);
  }
  for (const [re, t] of TONES) if (re.test(type)) return t;
  return "";
}

function fieldsText(record) {
  const fields = pick(record, "fields", "event", "data") || {};
  const skip = new Set(["type", "ts_ns", "ts", "seq", "schema_version"]);
  const parts = [];
  for (const [k, v] of Object.entries(fields)) {
    if (skip.has(k) || v === null || v === undefined || v === "") continue;
    const value = typeof v === "object" ? JSON.stringify(v) : String(v);
    parts.push(`${k}=${value.length > 80 ? `${value.slice(0, 77)}…` : value}`);
  }
  const line = parts.join("  ");
  return line.length > 400 ? `${line.slice(0, 397)}…` : line;
}

export function journalRow(record, fresh) {
  const tr = el("tr", { "data-seq": text(pick(record, "seq")), "data-type": text(pick(record, "type")),
                        "data-tone": recordTone(record) || null, class: fresh ? "fresh" : null });
  const ts = pick(record, "ts_ns", "ts");
  tr.append(
    el("td", { class: "seq num" }, text(pick(record, "seq"))),
    el("td", { class: "num", title: isoTime(ts) }, time(ts)),
    el("td", { class: "type" }, words(pick(record, "type"))),
    el("td", { class: "fields" }, fieldsText(record)),
  );
  return tr;
}

export function journalTable(records) {
  const t = table([{ label: "seq", num: true }, { label: "time", num: true }, { label: "event" },
                   { label: "details" }], [], "journal");
  const tbody = t.tBodies[0];
  for (const r of records) tbody.append(journalRow(r, false));
  return t;
}
