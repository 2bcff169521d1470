// Outbound campaigns: the list (state, window, progress per contact state) and one campaign
// (settings, counts, results, its contacts a page at a time, start/pause/resume/stop, and a
// form that adds contacts as the CSV `agent campaign import` reads, each refused row shown
// with its line and reason). A running campaign's figures refresh every few seconds.

import { h, replace, when } from "../dom.js";
import { t, language } from "../i18n.js";
import * as api from "../api.js";

const PAGE = 25;
const REFRESH_MS = 5000;
const STATES = ["pending", "retry", "dialling", "done", "failed", "dnc"];

function stateClass(s) {
  if (s === "running") return "badge live";
  if (s === "paused" || s === "draft") return "badge handed";
  if (s === "finished") return "badge ok";
  return "badge bad";
}

function contactClass(s) {
  if (s === "done") return "badge ok";
  if (s === "dialling") return "badge live";
  if (s === "pending" || s === "retry") return "badge tool";
  return "badge bad";
}

function stateBadge(s) {
  return h("span", { class: stateClass(s), dataset: { state: s } }, t(`camp.state.${s}`));
}

function windowText(c) {
  const w = c.window || {};
  return `${w.start}–${w.end} · ${(w.days || []).join(" ")}`;
}

/** A bar with one segment per contact state, widths by count. */
function progressBar(c) {
  const total = c.total_contacts || 0;
  const bar = h("div.outcome-bar.campaign-bar");
  if (total === 0) return bar;
  for (const s of STATES) {
    const n = (c.counts || {})[s] || 0;
    if (n === 0) continue;
    const seg = h("span", { class: `seg cs-${s}`, title: `${t(`camp.cstate.${s}`)}: ${n}` });
    seg.style.width = `${(100 * n) / total}%`;
    bar.appendChild(seg);
  }
  return bar;
}

function errorText(e) {
  return e.status === 0 ? t("err.network", { msg: e.message }) : t("err.server", { status: e.status, msg: e.message });
}

function renderList(main) {
  const box = h("div#campaigns-list", h("p.muted", "…"));
  replace(main, h("h1", t("nav.campaigns")), box);
  let closed = false;
  let timer = null;

  async function load() {
    try {
      const { campaigns } = await api.campaigns();
      if (closed) return;
      if (!campaigns.length) {
        replace(box, h("p.muted#campaigns-empty", t("camp.none")));
        return;
      }
      const head = h("thead", h("tr",
        h("th", t("camp.id")),
        h("th", t("camp.state")),
        h("th", t("camp.profile")),
        h("th", t("camp.window")),
        h("th.num", t("camp.total")),
        STATES.map((s) => h("th.num", t(`camp.cstate.${s}`))),
        h("th.wide", t("camp.progress"))));
      const body = h("tbody");
      for (const c of campaigns) {
        const href = `#/campaigns/${encodeURIComponent(c.id)}`;
        if (c.error) {
          body.appendChild(h("tr.campaign-row", { dataset: { id: c.id } },
            h("td", h("a", { href }, c.id)), h("td.error", { colspan: String(STATES.length + 5) }, c.error)));
          continue;
        }
        body.appendChild(h("tr.campaign-row", {
          dataset: { id: c.id },
          tabindex: "0",
          on: {
            click: () => { location.hash = href; },
            keydown: (e) => { if (e.key === "Enter") location.hash = href; },
          },
        },
        h("td", h("a", { href }, c.id)),
        h("td", stateBadge(c.state)),
        h("td", c.profile),
        h("td.small", windowText(c)),
        h("td.num", { dataset: { count: "total" } }, c.total_contacts),
        STATES.map((s) => h("td.num", { dataset: { count: s } }, c.counts[s])),
        h("td.wide", progressBar(c))));
      }
      replace(box, h("section.card", h("table.calls#campaigns-table", head, body)));
      clearTimeout(timer);
      if (campaigns.some((c) => c.state === "running")) timer = setTimeout(load, REFRESH_MS);
    } catch (e) {
      if (!closed && e.status !== 401) replace(box, h("p.error#campaigns-error", errorText(e)));
    }
  }

  load();
  return () => { closed = true; clearTimeout(timer); };
}

function contactsTable(items) {
  const head = h("thead", h("tr",
    h("th", t("camp.external_id")),
    h("th", t("camp.phone")),
    h("th", t("camp.variables")),
    h("th", t("camp.cstate")),
    h("th.num", t("camp.attempts")),
    h("th", t("camp.result")),
    h("th", t("camp.last_attempt"))));
  const body = h("tbody");
  for (const c of items) {
    const vars = Object.entries(c.variables || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
    const a = c.last_attempt;
    let last = "—";
    if (a) {
      const what = a.result || t(`camp.attempt.${a.state}`);
      last = h("span", h("a", { href: `#/calls/${a.call_uuid}` }, `#${a.seq}`), ` ${what}`,
        a.cause ? h("span.muted", ` (${a.cause})`) : null,
        h("span.muted.small", ` ${when(a.ended_at_ms ?? a.started_at_ms, language())}`));
    } else if (c.state === "retry" && c.next_attempt_at_ms) {
      last = h("span.muted", t("camp.next_at", { at: when(c.next_attempt_at_ms, language()) }));
    }
    body.appendChild(h("tr.contact-row", { dataset: { externalId: c.external_id, state: c.state } },
      h("td", c.external_id),
      h("td", h("code", c.phone)),
      h("td.small", vars || "—"),
      h("td", h("span", { class: contactClass(c.state) }, t(`camp.cstate.${c.state}`))),
      h("td.num", c.attempts),
      h("td", c.result ? `${c.result}${c.code != null ? ` (${c.code})` : ""}` : "—",
        c.note ? h("div.muted.small", c.note) : null),
      h("td.small", last)));
  }
  return h("table.calls#contacts-table", head, body);
}

function renderOne(main, id, query) {
  let offset = Math.max(0, Number(query.get("offset")) || 0);
  const title = h("h1#campaign-title", id);
  const banner = h("div.banner#campaign-banner", { role: "status", hidden: true });
  const controls = h("div.campaign-actions#campaign-actions");
  const counts = h("section.cards.campaign-cards#campaign-counts");
  const settings = h("dl.details#campaign-settings");
  const results = h("div#campaign-results");
  const contacts = h("div#contacts-list", h("p.muted", "…"));
  const pager = h("div.pager#contacts-pager");

  const csv = h("textarea#contacts-csv", {
    rows: 6, spellcheck: "false",
    placeholder: "external_id,phone,time_zone,name,appointment\nA-1001,+7 912 345-67-89,Europe/Moscow,Анна,10:30",
  });
  const tz = h("input#contacts-tz", { type: "text", placeholder: "Europe/Moscow", autocomplete: "off" });
  const addBtn = h("button.primary#contacts-add", { type: "submit" }, t("camp.add"));
  const report = h("div#contacts-report", { role: "status", hidden: true });
  const form = h("form.add-contacts#contacts-form", { novalidate: true },
    h("h2", t("camp.add_title")),
    h("p.hint", t("camp.add_hint")),
    csv,
    h("div.add-row", h("label", { for: "contacts-tz" }, t("camp.default_tz")), tz, addBtn),
    report);

  replace(main,
    h("a.back", { href: "#/campaigns" }, t("camp.back")),
    title, banner, controls, counts,
    h("div.call-layout",
      h("section.card", h("h2", t("camp.contacts")), contacts, pager),
      h("div",
        h("section.card", h("h2", t("camp.settings")), settings),
        h("section.card", h("h2", t("camp.results")), results),
        h("section.card", form))));

  let closed = false;
  let timer = null;
  let seq = 0;

  function say(kind, text) {
    banner.className = `banner ${kind}`;
    replace(banner, text);
    banner.hidden = false;
  }

  async function change(to) {
    for (const b of controls.querySelectorAll("button")) b.disabled = true;
    try {
      const r = await api.setCampaignState(id, to);
      say("ok", t("camp.changed", { from: t(`camp.state.${r.previous}`), to: t(`camp.state.${r.state}`) }));
    } catch (e) {
      if (e.status !== 401) say("bad", e.status === 409 ? e.message : errorText(e));
    }
    await load();
  }

  function drawControls(c) {
    const btns = [];
    if (c.state === "draft" || c.state === "paused") {
      btns.push(h("button.primary#campaign-start", { type: "button", on: { click: () => change("running") } },
        t(c.state === "draft" ? "camp.start" : "camp.resume")));
    }
    if (c.state === "running") {
      btns.push(h("button#campaign-pause", { type: "button", on: { click: () => change("paused") } }, t("camp.pause")));
    }
    if (c.state === "draft" || c.state === "running" || c.state === "paused") {
      // Stopping is for good: the first click arms the button, the second stops.
      let armed = null;
      const stop = h("button.danger#campaign-stop", { type: "button" }, t("camp.stop"));
      stop.addEventListener("click", () => {
        if (armed) {
          clearTimeout(armed);
          change("stopped");
          return;
        }
        stop.textContent = t("camp.stop_confirm");
        stop.classList.add("armed");
        armed = setTimeout(() => { armed = null; stop.textContent = t("camp.stop"); stop.classList.remove("armed"); }, 5000);
      });
      btns.push(stop);
    }
    btns.push(h("a.button#campaign-export", { href: api.campaignExportUrl(id), download: `campaign-${id}-results.csv` },
      t("camp.export")));
    replace(controls, btns);
  }

  function draw(c) {
    replace(title, c.id, " ", stateBadge(c.state));
    title.dataset.state = c.state;
    drawControls(c);
    replace(counts,
      h("div.card.stat#count-total", h("div.stat-label", t("camp.total")), h("div.stat-value", c.total_contacts)),
      STATES.map((s) => h(`div.card.stat#count-${s}`, h("div.stat-label", t(`camp.cstate.${s}`)),
        h("div.stat-value", c.counts[s]))));
    const r = c.rules || {};
    const d = r.retry_delay_secs || {};
    const row = (k, v) => [h("dt", t(k)), h("dd", v === "" || v == null ? "—" : v)];
    replace(settings,
      row("camp.profile", c.profile),
      row("camp.window", windowText(c)),
      row("camp.limits", t("camp.limits_text", c.limits)),
      row("camp.retries", `busy ${d.busy} s · no_answer ${d.no_answer} s · failed ${d.failed} s · machine ${d.machine} s`),
      row("camp.attempts", `${c.attempts} (${t("camp.in_flight", { n: c.in_flight })})`),
      row("camp.greeting", (c.script || {}).greeting),
      row("camp.question", (c.script || {}).question));
    const res = Object.entries(c.results || {}).sort((a, b) => b[1] - a[1]);
    replace(results, res.length
      ? h("ul.legend#campaign-result-list", res.map(([k, n]) => h("li", { dataset: { result: k } }, h("span.badge.tool", k), ` ${n}`)))
      : h("p.muted", "—"));
    const p = c.contacts;
    replace(contacts, p.items.length ? contactsTable(p.items) : h("p.muted#contacts-empty", t("camp.no_contacts")));
    const from = p.items.length ? p.offset + 1 : 0;
    const to = p.offset + p.items.length;
    const prev = h("a.button#contacts-prev", { href: `#/campaigns/${encodeURIComponent(id)}?offset=${Math.max(0, p.offset - PAGE)}` }, t("calls.prev"));
    const next = h("a.button#contacts-next", { href: `#/campaigns/${encodeURIComponent(id)}?offset=${p.next_offset ?? to}` }, t("calls.next"));
    if (p.offset === 0) prev.classList.add("disabled");
    if (p.next_offset == null) next.classList.add("disabled");
    replace(pager, prev, h("span#contacts-range", t("camp.page", { from, to, total: p.total })), next);
  }

  async function load() {
    const mine = ++seq;
    clearTimeout(timer);
    try {
      const c = await api.campaign(id, { limit: PAGE, offset });
      if (closed || mine !== seq) return;
      draw(c);
      if (c.state === "running") timer = setTimeout(load, REFRESH_MS);
    } catch (e) {
      if (closed || mine !== seq || e.status === 401) return;
      replace(contacts, h("p.error#campaign-error", errorText(e)));
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    addBtn.disabled = true;
    report.className = "";
    try {
      const r = await api.addContacts(id, { csv: csv.value.endsWith("\n") ? csv.value : `${csv.value}\n`, time_zone: tz.value.trim() || null });
      const rejected = r.rejected || [];
      report.className = `banner ${rejected.length ? "bad" : "ok"}`;
      replace(report,
        h("div#contacts-summary", t("camp.report", { added: r.added, duplicates: r.duplicates, rejected: rejected.length })),
        rejected.length ? h("ul#contacts-rejected", rejected.map((x) => h("li", {
          dataset: { line: x.line ?? "", index: x.index ?? "" },
        }, x.line != null ? t("camp.line", { line: x.line }) : t("camp.row", { row: x.index + 1 }),
        x.external_id ? ` (${x.external_id})` : "", `: ${x.reason}`))) : null);
      if (!rejected.length) csv.value = "";
      await load();
    } catch (e) {
      if (e.status !== 401) {
        report.className = "banner bad";
        replace(report, h("div#contacts-summary", errorText(e)));
      }
    } finally {
      report.hidden = false;
      addBtn.disabled = false;
    }
  });

  load();
  return () => { closed = true; clearTimeout(timer); };
}

export function render(main, { id, query }) {
  return id === undefined ? renderList(main) : renderOne(main, id, query);
}
