// The start-up and recovery panel: live progress while it runs, then its figures, the
// recovery actions in the order they ran, and the phases.

import { $, el, replace, table, unavailable } from "./dom.js";
import { isBlank, millis, text, words } from "./format.js";
import { listOf, pick } from "./shapes.js";

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
