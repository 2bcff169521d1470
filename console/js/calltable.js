// The table of calls shared by the dashboard (recent calls) and the call history.

import { h, clock, when } from "./dom.js";
import { t, outcome, language } from "./i18n.js";

/** The CSS class of an outcome badge. */
export function outcomeClass(o) {
  if (!o) return "badge live";
  if (o === "transferred") return "badge handed";
  if (o === "completed" || o === "caller_hangup" || o === "agent_hangup") return "badge ok";
  return "badge bad";
}

/** A badge for an outcome (null = in progress). */
export function outcomeBadge(o) {
  return h("span", { class: outcomeClass(o) }, outcome(o));
}

/** Call duration in seconds: stored, else running time. */
export function durationSecs(c) {
  if (c.duration_ms != null) return c.duration_ms / 1000;
  if (c.ended_at_ms != null) return (c.ended_at_ms - c.started_at_ms) / 1000;
  return (Date.now() - c.started_at_ms) / 1000;
}

/** A table of calls; each row opens the call. */
export function callTable(calls) {
  const head = h("thead", h("tr",
    h("th", t("calls.started")),
    h("th", t("calls.caller")),
    h("th", t("calls.profile")),
    h("th.num", t("calls.duration")),
    h("th.num", t("calls.turns")),
    h("th", t("calls.language")),
    h("th", t("calls.outcome")),
    h("th.wide", t("call.summary"))));
  const body = h("tbody");
  for (const c of calls) {
    const href = c.ended_at_ms == null ? `#/live/${c.uuid}` : `#/calls/${c.uuid}`;
    const row = h("tr.call-row", {
      dataset: { uuid: c.uuid },
      tabindex: "0",
      on: {
        click: () => { location.hash = href; },
        keydown: (e) => { if (e.key === "Enter") location.hash = href; },
      },
    },
    h("td", h("a", { href }, when(c.started_at_ms, language()))),
    h("td", c.caller_id || "—"),
    h("td.profile-cell", c.profile || "—"),
    h("td.num", clock(durationSecs(c))),
    h("td.num", Number.isFinite(c.turn_count) ? c.turn_count : "—"),
    h("td", c.language || "—"),
    h("td", outcomeBadge(c.outcome), c.has_recording ? h("span.rec", { title: "recording" }, "●") : null),
    h("td.wide.summary-cell", c.summary || c.error || ""));
    body.appendChild(row);
  }
  return h("table.calls#calls-table", head, body);
}
