// Live calls: every call in progress with its transcript as it happens (server-sent events),
// or one call (#/live/<uuid>). Turns already spoken are read from the records when a call
// first shows up; later ones arrive on the stream and are de-duplicated by their seq.

import { h, replace, clock } from "../dom.js";
import { t } from "../i18n.js";
import * as api from "../api.js";
import { subscribe } from "../live_stream.js";
import { outcomeBadge } from "../calltable.js";

export function render(main, { uuid: only }) {
  const status = h("span.stream-state#live-state", t("live.reconnecting"));
  const board = h("div.live-board#live-board");
  const empty = h("p.muted#live-empty", t("live.waiting"));
  replace(main, h("h1", t("live.title"), " ", status), empty, board);

  const calls = new Map(); // uuid → { info, turns: Map(seq → turn), el, list, state }
  let closed = false;

  function wanted(uuid) {
    return !only || only === uuid;
  }

  function refreshEmpty() {
    empty.hidden = calls.size > 0;
  }

  function addTurn(entry, turn) {
    if (entry.turns.has(turn.seq)) return;
    entry.turns.set(turn.seq, turn);
    const li = h("li.turn", { class: `role-${turn.role}`, dataset: { seq: turn.seq } },
      h("div.turn-head", h("span.role", t(`role.${turn.role}`)),
        turn.interrupted ? h("span.badge.bad", t("call.interrupted")) : null),
      h("div.text", turn.text));
    // Keep seq order even when the history read and the stream interleave.
    const after = [...entry.list.children].find((el) => Number(el.dataset.seq) > turn.seq);
    entry.list.insertBefore(li, after || null);
    li.scrollIntoView({ block: "nearest" });
  }

  function ensure(info) {
    if (!wanted(info.uuid)) return null;
    let entry = calls.get(info.uuid);
    if (entry) return entry;
    const list = h("ol.transcript.live");
    const state = h("span.call-state", outcomeBadge(null));
    const elapsed = h("span.elapsed", { dataset: { since: info.started_at_ms } }, clock((Date.now() - info.started_at_ms) / 1000));
    const el = h("section.card.live-call", { dataset: { uuid: info.uuid } },
      h("div.live-call-head",
        h("strong", info.caller_id || info.uuid.slice(0, 8)),
        info.profile ? h("span.muted", ` · ${info.profile}`) : null,
        state, elapsed,
        h("a.open", { href: `#/calls/${info.uuid}` }, t("live.open"))),
      list);
    entry = { info, turns: new Map(), el, list, state, elapsed };
    calls.set(info.uuid, entry);
    board.prepend(el);
    refreshEmpty();
    // Turns spoken before we started listening.
    api.call(info.uuid).then((c) => {
      if (closed) return;
      for (const turn of c.turns || []) addTurn(entry, { ...turn, call_uuid: c.uuid });
      if (c.outcome) end(entry, c.outcome);
    }).catch(() => {});
    return entry;
  }

  function end(entry, outcome) {
    entry.ended = true;
    entry.el.classList.add("ended");
    replace(entry.state, outcomeBadge(outcome));
  }

  if (only) {
    // The call may already be over (opened from a link): show what the records hold.
    api.call(only).then((c) => {
      if (closed) return;
      const entry = ensure(c);
      if (entry && c.outcome) end(entry, c.outcome);
    }).catch(() => {});
  }

  const close = subscribe({
    state: (s) => {
      status.textContent = s === "open" ? t("live.connected") : t("live.reconnecting");
      status.classList.toggle("ok", s === "open");
    },
    snapshot: (snap) => {
      for (const c of snap.calls || []) {
        const entry = ensure(c);
        if (entry && c.last_turn) addTurn(entry, c.last_turn);
      }
    },
    lagged: async () => {
      // Missed events: re-read every shown call's turns.
      for (const entry of calls.values()) {
        try {
          const c = await api.call(entry.info.uuid);
          for (const turn of c.turns || []) addTurn(entry, turn);
          if (c.outcome) end(entry, c.outcome);
        } catch { /* keep what we have */ }
      }
    },
    started: (info) => { ensure(info); },
    turn: (turn) => {
      const entry = calls.get(turn.call_uuid) || ensure({ uuid: turn.call_uuid, started_at_ms: Date.now() });
      if (entry) addTurn(entry, turn);
    },
    ended: (e) => {
      const entry = calls.get(e.uuid);
      if (entry) end(entry, e.outcome);
    },
  });

  const ticker = setInterval(() => {
    for (const entry of calls.values()) {
      if (!entry.ended) entry.elapsed.textContent = clock((Date.now() - entry.info.started_at_ms) / 1000);
    }
  }, 1000);

  return () => {
    closed = true;
    close();
    clearInterval(ticker);
  };
}
