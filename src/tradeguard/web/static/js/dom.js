// Building DOM without innerHTML: every value the service sends becomes a text node, so
// a symbol, note or message can never become markup.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function $(id) {
  return document.getElementById(id);
}

export function replace(container, ...children) {
  container.replaceChildren();
  append(container, children);
}

// A table: columns [{label, num?, cls?}], rows of cells (strings or nodes).
export function table(columns, rows, cls) {
  const head = el("tr", null, columns.map((c) => el("th", {
    class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null, scope: "col",
  }, c.label)));
  const body = rows.map((cells) => {
    const tr = el("tr", cells.attrs || null);
    cells.forEach((cell, i) => {
      const c = columns[i] || {};
      const td = el("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null });
      if (cell && typeof cell === "object" && !(cell instanceof Node) && "value" in cell) {
        if (cell.cls) td.className = `${td.className} ${cell.cls}`.trim();
        if (cell.title) td.title = cell.title;
        append(td, [cell.value]);
      } else append(td, [cell]);
      tr.append(td);
    });
    return tr;
  });
  return el("table", { class: cls || null }, el("thead", null, head), el("tbody", null, body));
}

export function unavailable(what, result) {
  const why = result && result.message ? `: ${result.message}` : "";
  return el("p", { class: "unavailable" }, `${what} unavailable${why}`);
}

export function empty(textContent) {
  return el("p", { class: "empty" }, textContent);
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const STATUS_CLASS = { ok: "ok", warn: "warn", warning: "warn", critical: "crit", crit: "crit" };

// ok / warn / crit (the colours), or muted for anything else.
export function statusClass(status) {
  return STATUS_CLASS[String(status || "").toLowerCase()] || "muted";
}

export function pill(label, cls, title) {
  return el("span", { class: `pill pill-${cls}`, title: title || null }, label);
}
