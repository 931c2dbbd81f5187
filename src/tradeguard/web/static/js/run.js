// The run in the top bar: how it started, its epoch, uptime (ticking between reads), and
// whether new orders are paused.

import { $, el, pill, replace } from "./dom.js";
import { duration, isBlank, isoTime, text, time, toDate, words } from "./format.js";
import { pick } from "./shapes.js";

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
