// Formatting for people. Money and quantities arrive as decimal strings and are shown
// as those digits (grouped, trailing zeros trimmed): never through a float.

const DEC = /^([+-]?)(\d+)(?:\.(\d+))?$/;

export function isBlank(value) {
  return value === null || value === undefined || value === "";
}

export function text(value) {
  if (isBlank(value)) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A decimal string (or an integer) with thousands separators; "—" when missing.
export function dec(value, { trim = true } = {}) {
  if (isBlank(value)) return "—";
  const s = String(value).trim();
  const m = DEC.exec(s);
  if (!m) return s;
  const [, sign, whole, frac = ""] = m;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = trim ? frac.replace(/0+$/, "") : frac;
  const out = fraction ? `${grouped}.${fraction}` : grouped;
  return sign === "-" && /[1-9]/.test(s) ? `−${out}` : out;
}

// A decimal string rounded half-up to ``places`` decimals, on its digits (no float).
export function roundDec(value, places) {
  const m = DEC.exec(String(value ?? "").trim());
  if (!m) return isBlank(value) ? value : String(value);
  const [, sign, whole, frac = ""] = m;
  if (frac.length <= places) return String(value).trim();
  const digits = (whole + frac.slice(0, places)).split("").map(Number);
  if (Number(frac[places]) >= 5) {
    let i = digits.length - 1;
    while (i >= 0) {
      if (digits[i] === 9) { digits[i] = 0; i -= 1; } else { digits[i] += 1; break; }
    }
    if (i < 0) digits.unshift(1);
  }
  const all = digits.join("");
  const intPart = all.slice(0, all.length - places) || "0";
  const fracPart = places ? all.slice(all.length - places) : "";
  return `${sign}${intPart}${fracPart ? `.${fracPart}` : ""}`;
}

// A computed decimal (entry price, PnL, value) shown with sensible precision: about
// eight significant digits, at least two decimals; exact inputs are shown as they are.
export function approx(value) {
  const m = DEC.exec(String(value ?? "").trim());
  if (!m) return dec(value);
  const [, , whole, frac = ""] = m;
  let places;
  if (/[1-9]/.test(whole)) places = Math.max(2, 8 - whole.replace(/^0+/, "").length);
  else {
    const lead = frac.length - frac.replace(/^0+/, "").length;
    places = lead + 6;
  }
  return dec(roundDec(value, places));
}

// "pos", "neg" or "" from the sign of a decimal string.
export function tone(value) {
  if (isBlank(value)) return "";
  const s = String(value).trim();
  if (!/[1-9]/.test(s)) return "";
  return s.startsWith("-") ? "neg" : "pos";
}

// Any time the API sends (ns, ms or s since the epoch, or ISO-8601) -> Date, or null.
export function toDate(value) {
  if (isBlank(value)) return null;
  if (typeof value === "string" && !/^\d+$/.test(value)) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n > 1e17) return new Date(n / 1e6);
  if (n > 1e14) return new Date(n / 1e3);
  if (n > 1e11) return new Date(n);
  return new Date(n * 1000);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

// HH:MM:SS UTC today, else YYYY-MM-DD HH:MM UTC.
export function time(value) {
  const d = toDate(value);
  if (!d) return "—";
  const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const now = new Date();
  const sameDay = d.getUTCFullYear() === now.getUTCFullYear()
    && d.getUTCMonth() === now.getUTCMonth() && d.getUTCDate() === now.getUTCDate();
  if (sameDay) return hms;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hms.slice(0, 5)}`;
}

export function isoTime(value) {
  const d = toDate(value);
  return d ? d.toISOString() : "";
}

// 75 -> "1m 15s"; 90061 -> "1d 1h".
export function duration(seconds) {
  if (isBlank(seconds)) return "—";
  let s = Math.max(0, Math.floor(Number(seconds)));
  if (!Number.isFinite(s)) return "—";
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${pad(m)}m`;
  if (m) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

export function millis(ms) {
  if (isBlank(ms)) return "—";
  const n = Number(ms);
  if (!Number.isFinite(n)) return String(ms);
  if (n >= 10000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 100) return `${Math.round(n)} ms`;
  return `${n.toFixed(n >= 10 ? 1 : 2)} ms`;
}

// A check's value for people: seconds, bytes, ratios and booleans by the check's name.
export function checkValue(name, value) {
  if (isBlank(value)) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  const n = Number(value);
  if (typeof value === "string" && !Number.isFinite(n)) return value;
  if (/_bytes$/.test(name)) return bytes(n);
  if (/_seconds$/.test(name)) {
    if (n === 0) return "0 s";
    if (n < 1) return millis(n * 1000);
    return n < 120 ? `${n.toFixed(1)} s` : duration(n);
  }
  if (/_ms$/.test(name)) return millis(n);
  if (/_(ratio|fraction)$/.test(name)) return `${(n * 100).toFixed(1)} %`;
  if (/_percent$|_pct$/.test(name)) return `${n.toFixed(1)} %`;
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(3);
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

// snake_case -> "snake case" (kinds, phases, check names).
export function words(name) {
  return text(name).replace(/_/g, " ");
}
