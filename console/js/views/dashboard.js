// The dashboard: calls in progress (live, over SSE), today's figures from the records
// (calls, answered by the agent vs handed over, turn latency p50/p95), outcomes, recent calls.

import { h, replace, ms, clock, debounce } from "../dom.js";
import { t, outcome } from "../i18n.js";
import * as api from "../api.js";
import { subscribe } from "../live_stream.js";
import { callTable, outcomeClass } from "../calltable.js";

function midnight() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function card(id, label, value, extra) {
  return h(`div.card.stat#${id}`, h("div.stat-label", label), h("div.stat-value", value),
    extra ? h("div.stat-extra", extra) : null);
}

function pct(n, total) {
  return total > 0 ? `${Math.round((100 * n) / total)} %` : "";
}

function outcomesBar(outcomes) {
  const entries = Object.entries(outcomes || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return h("p.muted", "—");
  const bar = h("div.outcome-bar");
  const legend = h("ul.legend");
  for (const [o, n] of entries) {
    const seg = h("span", { class: `seg ${outcomeClass(o).replace("badge ", "")}`, title: `${outcome(o)}: ${n}` });
    seg.style.width = `${(100 * n) / total}%`;
    bar.appendChild(seg);
    legend.appendChild(h("li", h("span", { class: outcomeClass(o) }, outcome(o)), ` ${n}`));
  }
  return h("div", bar, legend);
}

export function render(main) {
  const cards = h("section.cards#stats");
  const outcomesBox = h("div#outcomes");
  const liveList = h("ul.live-list#dash-live");
  const recent = h("div#recent");
  const error = h("p.error", { hidden: true });
  replace(main,
    h("h1", t("nav.dashboard")),
    error,
    cards,
    h("div.grid2",
      h("section.card",
        h("h2", t("dash.live"), " ", h("span.count#live-count", "0")),
        liveList),
      h("section.card", h("h2", t("dash.outcomes")), outcomesBox)),
    h("section.card", h("h2", h("a", { href: "#/calls" }, t("dash.recent"))), recent));

  const live = new Map(); // uuid → LiveCall
  let closed = false;

  function showError(e) {
    error.textContent = e.status ? t("err.server", { status: e.status, msg: e.message }) : t("err.network", { msg: e.message });
    error.hidden = false;
  }

  function drawLive() {
    const calls = [...live.values()].sort((a, b) => b.started_at_ms - a.started_at_ms);
    replace(main.querySelector("#live-count"), String(calls.length));
    const liveCard = main.querySelector("#stat-live .stat-value");
    if (liveCard) liveCard.textContent = String(calls.length);
    if (calls.length === 0) {
      replace(liveList, h("li.muted", t("dash.none_live")));
      return;
    }
    replace(liveList, calls.map((c) => h("li.live-item", { dataset: { uuid: c.uuid } },
      h("a", { href: `#/live/${c.uuid}` },
        h("span.badge.live", t("outcome.live")), " ",
        h("strong", c.caller_id || c.uuid.slice(0, 8)),
        c.profile ? h("span.muted", ` · ${c.profile}`) : null,
        h("span.elapsed", { dataset: { since: c.started_at_ms } }, clock((Date.now() - c.started_at_ms) / 1000))),
      c.last_turn ? h("div.last-turn", h("span.role", `${t(`role.${c.last_turn.role}`)}: `), c.last_turn.text) : null)));
  }

  async function loadStats() {
    try {
      const s = await api.stats(midnight());
      if (closed) return;
      const lat = s.turn_latency_ms || {};
      const ended = s.answered_by_agent + s.handed_over;
      replace(cards,
        card("stat-live", t("dash.live"), String(live.size)),
        card("stat-today", t("dash.today"), String(s.calls)),
        card("stat-agent", t("dash.agent"), String(s.answered_by_agent), pct(s.answered_by_agent, ended)),
        card("stat-handed", t("dash.handed"), String(s.handed_over), pct(s.handed_over, ended)),
        card("stat-p50", t("dash.p50"), ms(lat.p50), lat.count ? `n = ${lat.count}` : null),
        card("stat-p95", t("dash.p95"), ms(lat.p95)));
      replace(outcomesBox, outcomesBar(s.outcomes));
    } catch (e) {
      if (!closed && e.status !== 401) showError(e);
    }
  }

  async function loadRecent() {
    try {
      const page = await api.calls({ limit: 8 });
      if (closed) return;
      replace(recent, page.calls.length ? callTable(page.calls) : h("p.muted", t("calls.empty")));
    } catch (e) {
      if (!closed && e.status !== 401) showError(e);
    }
  }

  const refresh = debounce(() => { loadStats(); loadRecent(); }, 300);
  drawLive();
  loadStats();
  loadRecent();

  const close = subscribe({
    snapshot: (snap) => {
      live.clear();
      for (const c of snap.calls || []) live.set(c.uuid, c);
      drawLive();
      refresh();
    },
    lagged: async () => {
      try {
        const snap = await api.live();
        live.clear();
        for (const c of snap.calls || []) live.set(c.uuid, c);
        drawLive();
      } catch { /* the stream reconnects; the next snapshot fixes it */ }
    },
    started: (c) => {
      live.set(c.uuid, { ...c, turn_count: 0, last_turn: null });
      drawLive();
      refresh();
    },
    turn: (turn) => {
      const c = live.get(turn.call_uuid);
      if (c) {
        c.turn_count = (c.turn_count || 0) + 1;
        c.last_turn = turn;
        drawLive();
      }
    },
    ended: (e) => {
      live.delete(e.uuid);
      drawLive();
      refresh();
    },
  });

  const ticker = setInterval(() => {
    for (const el of liveList.querySelectorAll(".elapsed")) {
      el.textContent = clock((Date.now() - Number(el.dataset.since)) / 1000);
    }
  }, 1000);
  const poll = setInterval(loadStats, 30000);

  return () => {
    closed = true;
    close();
    clearInterval(ticker);
    clearInterval(poll);
  };
}
