// The journal panel's rows: one record each, coloured by what it means.

import { el, statusClass, table } from "./dom.js";
import { isoTime, text, time, words } from "./format.js";
import { pick } from "./shapes.js";

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
