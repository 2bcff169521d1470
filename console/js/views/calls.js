// Call history: text search (turns and summary), caller id, outcome filter, offset paging.
// The filters live in the URL (#/calls?q=…&outcome=…&offset=…), so a view can be bookmarked
// and the browser's back button walks the pages.

import { h, replace, debounce } from "../dom.js";
import { t, outcome } from "../i18n.js";
import * as api from "../api.js";
import { callTable } from "../calltable.js";

const PAGE = 25;
const OUTCOMES = ["running", "completed", "transferred", "caller_hangup", "agent_hangup", "error",
  "timeout", "shutdown", "protocol_error"];

export function render(main, { query }) {
  const state = {
    q: query.get("q") || "",
    caller_id: query.get("caller_id") || "",
    outcome: query.get("outcome") || "",
    offset: Math.max(0, Number(query.get("offset")) || 0),
  };
  const q = h("input#calls-q", { type: "search", placeholder: t("calls.search"), value: state.q, autocomplete: "off" });
  const caller = h("input#calls-caller", { type: "search", placeholder: t("calls.caller"), value: state.caller_id, autocomplete: "off" });
  const sel = h("select#calls-outcome",
    h("option", { value: "" }, t("calls.outcome_any")),
    OUTCOMES.map((o) => h("option", { value: o, selected: o === state.outcome },
      o === "running" ? t("outcome.live") : outcome(o))));
  const list = h("div#calls-list");
  const pager = h("div.pager#calls-pager");
  replace(main,
    h("h1", t("nav.calls")),
    h("form.filters#calls-filters", { on: { submit: (e) => { e.preventDefault(); apply(); } } }, q, caller, sel),
    list,
    pager);

  let seq = 0;
  let closed = false;

  function toHash(s) {
    const p = new URLSearchParams();
    for (const k of ["q", "caller_id", "outcome"]) if (s[k]) p.set(k, s[k]);
    if (s.offset) p.set("offset", String(s.offset));
    const qs = p.toString();
    return `#/calls${qs ? `?${qs}` : ""}`;
  }

  function apply() {
    const next = { q: q.value.trim(), caller_id: caller.value.trim(), outcome: sel.value, offset: 0 };
    // Replacing the hash re-renders this view through the router with the new filters.
    const target = toHash(next);
    if (target !== location.hash) history.replaceState(null, "", target);
    Object.assign(state, next);
    load();
  }

  const typed = debounce(apply, 300);
  q.addEventListener("input", typed);
  caller.addEventListener("input", typed);
  sel.addEventListener("change", apply);

  async function load() {
    const mine = ++seq;
    list.classList.add("loading");
    try {
      const page = await api.calls({ ...state, limit: PAGE });
      if (closed || mine !== seq) return;
      replace(list, page.calls.length ? callTable(page.calls) : h("p.muted#calls-empty", t("calls.empty")));
      const from = page.calls.length ? page.offset + 1 : 0;
      const to = page.offset + page.calls.length;
      const prev = h("a.button#calls-prev", { href: toHash({ ...state, offset: Math.max(0, page.offset - PAGE) }) }, t("calls.prev"));
      const next = h("a.button#calls-next", { href: toHash({ ...state, offset: page.next_offset ?? to }) }, t("calls.next"));
      if (page.offset === 0) prev.classList.add("disabled");
      if (page.next_offset == null) next.classList.add("disabled");
      replace(pager, prev,
        h("span#calls-range", t("calls.page", { from, to, total: page.total })),
        next);
    } catch (e) {
      if (closed || mine !== seq) return;
      if (e.status !== 401) replace(list, h("p.error", t("err.server", { status: e.status, msg: e.message })));
    } finally {
      list.classList.remove("loading");
    }
  }

  load();
  return () => { closed = true; };
}
