// Building DOM nodes, never by parsing HTML strings: every text is a text node, so transcripts, prompts
// and caller ids can never inject markup (and the strict CSP forbids inline handlers anyway).

/**
 * h("div.card#id", {attrs / on: {click: fn}}, children...) → HTMLElement.
 * Children may be strings, numbers, nodes, arrays, or null/false (skipped).
 */
export function h(spec, attrs, ...children) {
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k === "value" || k === "checked" || k === "selected") {
      el[k] = v;
    } else if (k === "class") {
      for (const c of String(v).split(/\s+/).filter(Boolean)) el.classList.add(c);
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (strings, nodes, nested arrays; null/false skipped) to `el`. */
export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** "1:05" for 65.2 seconds; "1:02:03" past an hour. */
export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60);
  const m = Math.floor(seconds / 60) % 60;
  const hr = Math.floor(seconds / 3600);
  const pad = (n) => String(n).padStart(2, "0");
  return hr > 0 ? `${hr}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** "1.2 s" / "830 ms" for a millisecond figure, "—" when unknown. */
export function ms(v) {
  if (v === null || v === undefined || !Number.isFinite(Number(v))) return "—";
  v = Number(v);
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} s` : `${Math.round(v)} ms`;
}

/** Local date and time of a unix-ms instant. */
export function when(unixMs, locale) {
  if (unixMs === null || unixMs === undefined) return "—";
  return new Date(Number(unixMs)).toLocaleString(locale, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** Calls `fn` at most once per `wait` ms, with the latest arguments. */
export function debounce(fn, wait) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), wait);
  };
}
