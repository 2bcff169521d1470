// One finished call: details, the recording with a timeline of the turns, and the transcript
// synced to it — clicking a turn seeks there; the turn under the playhead is highlighted
// while the recording plays (turn offsets are relative to the call's start, as the WAV is).

import { h, replace, clock, ms, when } from "../dom.js";
import { t, language } from "../i18n.js";
import * as api from "../api.js";
import { outcomeBadge, durationSecs } from "../calltable.js";
import { turnSpans, turnAt } from "../sync.js";

function detailRow(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", label), h("dd", value)];
}

function toolCalls(turn) {
  if (!turn.tool_calls || turn.tool_calls.length === 0) return null;
  return h("div.tools", turn.tool_calls.map((tc) => h("details.tool",
    h("summary", h("span.badge.tool", t("call.tool")), ` ${tc.name} · ${ms(tc.duration_ms)}`),
    h("pre", JSON.stringify(tc.arguments, null, 2)),
    h("pre", JSON.stringify(tc.result, null, 2)))));
}

function turnLatency(turn) {
  const l = turn.latencies || {};
  if (turn.role !== "agent" || l.turn_latency_ms == null) return null;
  const parts = [
    ["ASR", l.asr_ms], ["LLM", l.llm_ttft_ms], ["TTS", l.tts_first_audio_ms],
  ].filter(([, v]) => v != null).map(([k, v]) => `${k} ${ms(v)}`);
  return h("span.latency", { title: parts.join(" · ") }, `${t("call.latency")} ${ms(l.turn_latency_ms)}`);
}

export function render(main, { uuid }) {
  replace(main, h("p.muted", "…"));
  let closed = false;
  let raf = 0;

  (async () => {
    let c;
    try {
      c = await api.call(uuid);
    } catch (e) {
      if (!closed && e.status !== 401) {
        replace(main, h("a", { href: "#/calls" }, t("call.back")),
          h("p.error", t("err.server", { status: e.status, msg: e.message })));
      }
      return;
    }
    if (closed) return;
    const spans = turnSpans(c);
    const turnEls = [];
    const audio = c.has_recording
      ? h("audio#player", { controls: true, preload: "auto", src: api.recordingUrl(c.uuid) })
      : null;

    const transcript = h("ol.transcript#transcript");
    (c.turns || []).forEach((turn, i) => {
      const el = h("li.turn", {
        class: `role-${turn.role}`,
        dataset: { seq: turn.seq, start: spans[i].start.toFixed(3) },
        tabindex: "0",
        on: {
          click: (ev) => {
            if (ev.target.closest("details")) return;
            seek(i);
          },
          keydown: (ev) => { if (ev.key === "Enter") seek(i); },
        },
      },
      h("div.turn-head",
        h("span.role", t(`role.${turn.role}`)),
        h("span.at", clock(spans[i].start)),
        turn.interrupted ? h("span.badge.bad", t("call.interrupted")) : null,
        turnLatency(turn)),
      h("div.text", { lang: c.language || undefined }, turn.text),
      toolCalls(turn));
      turnEls.push(el);
      transcript.appendChild(el);
    });

    const total = Math.max(durationSecs(c), spans.length ? spans[spans.length - 1].end : 0, 0.001);
    const timeline = h("div.timeline#timeline");
    spans.forEach((s, i) => {
      const seg = h("span.tl-seg", { class: `role-${s.role}`, title: `${t(`role.${s.role}`)} ${clock(s.start)}`,
        on: { click: () => seek(i) } });
      seg.style.left = `${(100 * s.start) / total}%`;
      seg.style.width = `${Math.max(0.5, (100 * (s.end - s.start)) / total)}%`;
      timeline.appendChild(seg);
    });
    const head = h("div.playhead");
    timeline.appendChild(head);

    let current = -2;
    function highlight() {
      if (!audio) return;
      const time = audio.currentTime;
      head.style.left = `${Math.min(100, (100 * time) / total)}%`;
      const idx = turnAt(spans, time);
      if (idx === current) return;
      if (current >= 0 && turnEls[current]) turnEls[current].classList.remove("current");
      current = idx;
      if (idx >= 0) {
        turnEls[idx].classList.add("current");
        turnEls[idx].scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
      main.dataset.currentTurn = String(idx >= 0 ? c.turns[idx].seq : -1);
    }
    function loop() {
      highlight();
      if (audio && !audio.paused) raf = requestAnimationFrame(loop);
    }
    function seek(i) {
      if (!audio) return;
      audio.currentTime = spans[i].start;
      highlight();
      audio.play().catch(() => {});
    }
    if (audio) {
      audio.addEventListener("play", () => { cancelAnimationFrame(raf); raf = requestAnimationFrame(loop); });
      audio.addEventListener("timeupdate", highlight);
      audio.addEventListener("seeked", highlight);
      timeline.addEventListener("click", (ev) => {
        if (ev.target !== timeline) return;
        const r = timeline.getBoundingClientRect();
        audio.currentTime = (total * (ev.clientX - r.left)) / r.width;
        highlight();
      });
    }

    const details = h("dl.details",
      detailRow(t("calls.started"), when(c.started_at_ms, language())),
      detailRow(t("calls.caller"), c.caller_id),
      detailRow(t("calls.duration"), clock(durationSecs(c))),
      detailRow(t("calls.outcome"), outcomeBadge(c.outcome)),
      detailRow(t("call.transfer"), c.transfer_target),
      detailRow(t("calls.language"), c.language),
      detailRow(t("call.error"), c.error),
      detailRow(t("call.models"), Object.entries(c.models || {}).filter(([, v]) => v)
        .map(([k, v]) => `${k}: ${v}`).join(" · ")),
      detailRow("uuid", h("code", c.uuid)));

    replace(main,
      h("a.back", { href: "#/calls" }, t("call.back")),
      h("h1", c.caller_id || c.uuid, " ", outcomeBadge(c.outcome),
        c.ended_at_ms == null ? h("a.button#watch-live", { href: `#/live/${c.uuid}` }, t("call.watch_live")) : null),
      h("div.call-layout",
        h("section.card.player-card",
          audio ? [audio, timeline] : h("p.muted", t("call.no_recording")),
          h("h2", t("call.transcript")),
          transcript),
        h("aside.card",
          c.summary ? [h("h2", t("call.summary")), h("p.summary#summary", c.summary)] : null,
          h("h2", t("call.details")),
          details)));
    highlight();
  })();

  return () => {
    closed = true;
    cancelAnimationFrame(raf);
    const a = main.querySelector("audio");
    if (a) a.pause();
  };
}
