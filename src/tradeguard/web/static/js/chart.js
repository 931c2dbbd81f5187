// A small hand-written SVG line chart: one series, its area, min/max and the last value.
// Values become floats here only to be drawn; the labels keep the service's text.

import { $, el, replace, svg, unavailable } from "./dom.js";
import { dec, duration, isBlank, millis, roundDec, time, toDate } from "./format.js";
import { listOf, pick } from "./shapes.js";

const W = 320;
const H = 84;
const PAD_TOP = 6;
const PAD_BOTTOM = 14;

// points: [{t: Date|ms, v: number, label?: string}] oldest first.
export function lineChart({ title, points, series, format, empty }) {
  const pts = points.filter((p) => Number.isFinite(p.v) && Number.isFinite(p.t));
  const last = pts.length ? pts[pts.length - 1] : null;
  const head = el("div", { class: "chart-title" },
    el("span", null, title),
    el("b", null, last ? (last.label ?? format(last.v)) : "—"));
  if (pts.length < 2) {
    return el("div", { class: "chart" }, head, el("p", { class: "empty small" }, empty));
  }
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t;
  let lo = Math.min(...pts.map((p) => p.v));
  let hi = Math.max(...pts.map((p) => p.v));
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.001 || 1;
    lo -= pad;
    hi += pad;
  }
  const x = (t) => (t1 === t0 ? W : ((t - t0) / (t1 - t0)) * W);
  const y = (v) => PAD_TOP + (1 - (v - lo) / (hi - lo)) * (H - PAD_TOP - PAD_BOTTOM);
  const line = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    .join("");
  const base = (H - PAD_BOTTOM).toFixed(1);
  const area = `${line}L${x(t1).toFixed(1)},${base}L${x(t0).toFixed(1)},${base}Z`;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "aria-label": `${title}: ${pts.length} points, last ${format(last.v)}`,
  },
  svg("line", { class: "axis", x1: 0, x2: W, y1: base, y2: base }),
  svg("path", { class: `area-${series}`, d: area }),
  svg("path", { class: `line-${series}`, d: line, "vector-effect": "non-scaling-stroke" }));
  const scale = el("div", { class: "chart-scale" },
    el("span", { title: `${time(t0)} – ${time(t1)} UTC` }, `last ${duration((t1 - t0) / 1000)}`),
    el("span", null, `min ${format(Math.min(...pts.map((p) => p.v)))}`),
    el("span", null, `max ${format(Math.max(...pts.map((p) => p.v)))}`));
  return el("div", { class: "chart" }, head, chart, scale);
}

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
