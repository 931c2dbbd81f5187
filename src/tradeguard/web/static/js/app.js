// The dashboard's controller: loads every panel, follows the live stream (EventSource on
// /api/events, reconnecting with a back-off), and carries out the write actions with the
// token kept in this tab's sessionStorage.

import { getJson, getToken, postJson, setToken } from "./api.js";
import { $, el, empty, replace } from "./dom.js";
import { words } from "./format.js";
import { renderChart } from "./chart.js";
import { renderHealth } from "./health.js";
import { journalRow, journalTable } from "./journal.js";
import { recoveryRunning, renderRecovery } from "./recovery.js";
import { RunClock, renderRun } from "./run.js";
import { pick } from "./shapes.js";
import {
  renderBalances, renderFlags, renderOrders, renderPositions, renderReconciliations,
} from "./trading.js";

const JOURNAL_ROWS = 50;
const FULL_REFRESH_MS = 15000;
const SERIES_REFRESH_MS = 5000;
const STATE_DEBOUNCE_MS = 250;
const STATE_MIN_INTERVAL_MS = 1000;
const MAX_BACKOFF_MS = 5000;

const clock = new RunClock($("run-uptime"));
const state = {
  paused: false,
  lastSeq: 0,
  journalLoaded: false,
  stream: null,
  backoff: 1000,
  stateTimer: null,
  lastStateLoad: 0,
  recoveryTimer: null,
  startTimer: null,
  starting: false,
  opened: false,
};

// --- loading the panels -------------------------------------------------------------------

async function loadStatus() {
  const result = await getJson("/api/status");
  const info = renderRun(result, clock);
  state.starting = result.ok && pick(result.data, "phase") === "starting";
  document.body.dataset.phase = result.ok ? String(pick(result.data, "phase") ?? "") : "unavailable";
  if (info) {
    state.paused = info.paused;
    const pause = $("btn-pause");
    pause.disabled = false;
    pause.textContent = info.paused ? "Resume orders" : "Pause orders";
    pause.classList.toggle("btn-primary", info.paused);
    $("btn-reconcile").disabled = false;
  }
  return result;
}

async function loadRecovery() {
  const result = await getJson("/api/recovery");
  renderRecovery(result);
  // While the start-up runs, poll it too (the stream may not be up yet).
  clearTimeout(state.recoveryTimer);
  if ((result.ok && recoveryRunning(result.data)) || (!result.ok && result.status === 0)) {
    state.recoveryTimer = setTimeout(loadRecovery, 1000);
  }
}

async function loadHealth() {
  renderHealth(await getJson("/api/health"));
}

async function loadFlags() {
  renderFlags(await getJson("/api/flags"), askToResolve);
}

async function loadJournal() {
  const result = await getJson(`/api/journal?limit=${JOURNAL_ROWS}`);
  const body = $("journal-body");
  if (!result.ok) {
    replace(body, empty(`Journal unavailable: ${result.message}`));
    body.firstChild.className = "unavailable";
    state.journalLoaded = false;
    return;
  }
  const records = (Array.isArray(result.data) ? result.data : pick(result.data, "records") || [])
    .slice().sort((a, b) => Number(b.seq) - Number(a.seq));
  const lastSeq = Number(pick(result.data, "last_seq") ?? (records[0] ? records[0].seq : 0));
  state.lastSeq = Math.max(state.lastSeq, Number.isFinite(lastSeq) ? lastSeq : 0,
    records[0] ? Number(records[0].seq) : 0);
  state.journalLoaded = true;
  $("journal-seq").textContent = `last seq ${state.lastSeq.toLocaleString("en-US")}`;
  const scrolled = body.querySelector(".journal-scroll");
  const scrollTop = scrolled ? scrolled.scrollTop : 0;
  replace(body, records.length
    ? el("div", { class: "journal-scroll" }, journalTable(records.slice(0, JOURNAL_ROWS)))
    : empty("the journal is empty"));
  const again = body.querySelector(".journal-scroll");
  if (again) again.scrollTop = scrollTop; // a refresh leaves the reader where they were
}

async function loadOrders() {
  renderOrders(await getJson("/api/orders?status=open"));
}

async function loadPositions() {
  renderPositions(await getJson("/api/positions"));
}

async function loadBalances() {
  renderBalances(await getJson("/api/balances"));
}

async function loadReconciliations() {
  renderReconciliations(await getJson("/api/reconciliations"));
}

function loadTrading() {
  return Promise.all([loadOrders(), loadPositions(), loadBalances(), loadReconciliations()]);
}

async function loadSeries() {
  renderChart(await getJson("/api/series"));
}

const SESSION_PANELS = ["flags", "orders", "positions", "balances", "reconciliations", "journal",
                        "chart"];

// While the service recovers, only the run, the recovery and health answer: the other
// panels wait (asking them would only get 503s) and the status is polled until it runs.
async function loadAll() {
  await Promise.all([loadStatus(), loadRecovery(), loadHealth()]);
  if (state.starting) {
    for (const name of SESSION_PANELS) {
      replace($(`${name}-body`), empty("waiting for the start-up to finish…"));
    }
    clearTimeout(state.startTimer);
    state.startTimer = setTimeout(loadAll, 1000);
  } else {
    await Promise.all([loadFlags(), loadTrading(), loadJournal(), loadSeries()]);
  }
  document.body.dataset.loaded = "true";
}

// Which panels a journal record's type changes (the rest wait for the full refresh).
const PANELS_OF = [
  [/^(trading_|session_|account_)/, ["status"]],
  [/^(order_|fill_|cancel_|external_order_)/, ["orders", "positions", "balances"]],
  [/^(balance_|position_)/, ["positions", "balances"]],
  [/^flag_/, ["flags"]],
  [/^reconciliation_/, ["reconciliations"]],
];
const LOADERS = {
  orders: loadOrders, positions: loadPositions, balances: loadBalances,
  reconciliations: loadReconciliations, flags: loadFlags, status: loadStatus,
};
const dirty = new Set();

// Journal records arrive in bursts: the panels they change are read again once per
// burst and at most once a second, however busy the session is (the page must not
// load the service it watches).
function stateChanged(type) {
  for (const [re, panels] of PANELS_OF) {
    if (re.test(type)) for (const panel of panels) dirty.add(panel);
  }
  if (state.stateTimer !== null || state.starting || dirty.size === 0) return;
  const wait = Math.max(STATE_DEBOUNCE_MS, state.lastStateLoad + STATE_MIN_INTERVAL_MS - Date.now());
  state.stateTimer = setTimeout(async () => {
    state.lastStateLoad = Date.now();
    const panels = [...dirty];
    dirty.clear();
    await Promise.all(panels.map((panel) => LOADERS[panel]()));
    state.stateTimer = null;
    if (dirty.size) stateChanged(""); // changed again while those were read
  }, wait);
}

// --- the live stream ----------------------------------------------------------------------

function setLive(kind, label) {
  const node = $("live");
  node.dataset.state = kind;
  $("live-text").textContent = label;
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

// Records of the stream wait here for the next frame: one DOM update per frame, and
// never more than a page of rows kept, however fast the journal grows.
const incoming = [];
let frameAsked = false;

function onJournal(event) {
  const data = parse(event);
  if (!data) return;
  const records = Array.isArray(data) ? data : Array.isArray(data.records) ? data.records : [data];
  for (const record of records) {
    const seq = Number(record.seq);
    if (Number.isFinite(seq) && seq <= state.lastSeq) continue;
    if (Number.isFinite(seq)) state.lastSeq = seq;
    incoming.push(record);
    stateChanged(String(record.type ?? ""));
  }
  if (incoming.length > JOURNAL_ROWS) incoming.splice(0, incoming.length - JOURNAL_ROWS);
  if (!frameAsked) {
    frameAsked = true;
    requestAnimationFrame(flushJournal);
  }
}

function flushJournal() {
  frameAsked = false;
  const tbody = document.querySelector("#journal-body table.journal tbody");
  const records = incoming.splice(0, incoming.length);
  if (!tbody) {
    if (state.journalLoaded && records.length) loadJournal();
  } else {
    // A page read meanwhile may already hold some of them.
    let top = tbody.rows.length ? Number(tbody.rows[0].dataset.seq) : 0;
    for (const record of records) {
      const seq = Number(record.seq);
      if (Number.isFinite(seq) && seq <= top) continue;
      tbody.prepend(journalRow(record, true));
      if (Number.isFinite(seq)) top = seq;
    }
    while (tbody.rows.length > JOURNAL_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }
  $("journal-seq").textContent = `last seq ${state.lastSeq.toLocaleString("en-US")}`;
}

function onHealth(event) {
  const data = parse(event);
  if (data && Array.isArray(data.checks)) renderHealth({ ok: true, data });
  else loadHealth();
}

function onRecovery(event) {
  const data = parse(event);
  if (data) renderRecovery({ ok: true, data });
  else loadRecovery();
  if (data && state.starting && !recoveryRunning(data)) loadAll(); // the session just opened
}

function connect() {
  if (typeof EventSource === "undefined") {
    setLive("down", "no live updates in this browser");
    return;
  }
  setLive(state.stream ? "reconnecting" : "connecting", state.stream ? "reconnecting" : "connecting");
  const stream = new EventSource("/api/events");
  state.stream = stream;
  stream.addEventListener("open", () => {
    state.backoff = 1000;
    setLive("open", "live");
    // Catch up on what happened before the stream was (re)opened.
    if (state.opened) loadAll();
    else if (!state.starting) loadJournal();
    state.opened = true;
  });
  stream.addEventListener("journal", onJournal);
  stream.addEventListener("health", onHealth);
  stream.addEventListener("recovery", onRecovery);
  stream.addEventListener("status", () => {
    if (state.starting) loadAll();
    else { loadStatus(); loadRecovery(); }
  });
  stream.addEventListener("lagged", () => loadAll());
  stream.addEventListener("error", () => {
    if (stream.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error or the service stopped): try again later.
      setLive("down", `offline, retrying in ${Math.round(state.backoff / 1000)} s`);
      const wait = state.backoff;
      state.backoff = Math.min(state.backoff * 1.5, MAX_BACKOFF_MS);
      setTimeout(() => { if (state.stream === stream) connect(); }, wait);
    } else {
      setLive("reconnecting", "reconnecting");
    }
  });
}

// --- actions (need the token) ----------------------------------------------------------------

const dialog = $("dlg-action");
let pending = null;

function openDialog({ title, textContent, note, run }) {
  pending = run;
  $("dlg-title").textContent = title;
  $("dlg-text").textContent = textContent;
  $("dlg-note-row").hidden = !note;
  $("dlg-note").value = "";
  $("dlg-token-row").hidden = Boolean(getToken());
  $("dlg-token").value = "";
  $("dlg-error").hidden = true;
  $("dlg-ok").disabled = false;
  if (typeof dialog.showModal === "function") dialog.showModal();
  else dialog.setAttribute("open", "");
  (note ? $("dlg-note") : getToken() ? $("dlg-ok") : $("dlg-token")).focus();
}

function closeDialog() {
  pending = null;
  if (typeof dialog.close === "function") dialog.close();
  else dialog.removeAttribute("open");
}

function showError(message) {
  const node = $("dlg-error");
  node.textContent = message;
  node.hidden = false;
}

$("dlg-cancel").addEventListener("click", closeDialog);
$("dlg-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!pending) return;
  if (!getToken()) {
    const token = $("dlg-token").value.trim();
    if (!token) {
      showError("Enter the dashboard token (the value of TRADEGUARD_DASHBOARD_TOKEN).");
      return;
    }
    setToken(token);
  }
  $("dlg-ok").disabled = true;
  const result = await pending($("dlg-note").value.trim());
  $("dlg-ok").disabled = false;
  if (result.ok) {
    closeDialog();
    notice(result.done || "done", "ok");
    return;
  }
  const kind = result.data && result.data.error;
  if ((result.status === 401 || result.status === 403) && kind !== "writes_off") {
    setToken("");
    $("dlg-token-row").hidden = false;
    $("dlg-token").focus();
  }
  showError(result.message);
});

function notice(message, kind) {
  const node = $("notice");
  node.textContent = message;
  node.className = `notice notice-${kind}`;
  node.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { node.hidden = true; }, 6000);
}

function askToResolve(flag, action) {
  const id = String(pick(flag, "flag_id", "id"));
  openDialog({
    title: `Resolve flag: ${words(action)}`,
    textContent: `${words(pick(flag, "kind"))}${pick(flag, "symbol") ? ` on ${flag.symbol}` : ""}: ${pick(flag, "message") ?? ""}`,
    note: true,
    run: async (note) => {
      const result = await postJson(`/api/flags/${encodeURIComponent(id)}/resolve`, { action, note });
      if (result.ok) {
        result.done = `Flag ${id} resolved (${words(action)}).`;
        await Promise.all([loadFlags(), loadJournal(), loadTrading()]);
      }
      return result;
    },
  });
}

$("btn-pause").addEventListener("click", () => {
  const resume = state.paused;
  openDialog({
    title: resume ? "Resume new orders" : "Pause new orders",
    textContent: resume ? "The strategy may send new orders again."
      : "No new orders go out until resumed; cancels still do, open orders stay open.",
    note: true,
    run: async (note) => {
      const result = await postJson(resume ? "/api/resume" : "/api/pause", { note });
      if (result.ok) {
        result.done = resume ? "New orders allowed again." : "New orders paused.";
        await loadStatus();
      }
      return result;
    },
  });
});

$("btn-reconcile").addEventListener("click", () => {
  openDialog({
    title: "Reconcile now",
    textContent: "Compare the journal with the exchange once, now; every correction is journaled.",
    note: false,
    run: async () => {
      const result = await postJson("/api/reconcile", {});
      if (result.ok) {
        const found = pick(result.data, "discrepancies", "found");
        const n = Array.isArray(found) ? found.length : typeof found === "number" ? found : null;
        result.done = pick(result.data, "complete") === false
          ? `Reconciliation INCOMPLETE${pick(result.data, "error") ? `: ${result.data.error}` : ""}.`
          : n === null ? "Reconciliation done."
            : `Reconciliation done: ${n} discrepanc${n === 1 ? "y" : "ies"}.`;
        await Promise.all([loadTrading(), loadFlags(), loadJournal()]);
      }
      return result;
    },
  });
});

function tokenButton() {
  $("btn-token").textContent = getToken() ? "Forget token" : "Token";
}

$("btn-token").addEventListener("click", () => {
  if (getToken()) {
    setToken("");
    tokenButton();
    notice("Token forgotten in this tab.", "ok");
    return;
  }
  openDialog({
    title: "Dashboard token",
    textContent: "Actions (resolve, reconcile, pause) need the service's token. It stays in this tab only.",
    note: false,
    run: async () => ({ ok: true, done: "Token kept for this tab." }),
  });
});
dialog.addEventListener("close", () => { pending = null; tokenButton(); });

// --- start ----------------------------------------------------------------------------------

tokenButton();
loadAll();
connect();
setInterval(() => clock.tick(), 1000);
setInterval(() => { if (!state.starting) loadSeries(); }, SERIES_REFRESH_MS);
setInterval(() => { if (!document.hidden) loadAll(); }, FULL_REFRESH_MS);
