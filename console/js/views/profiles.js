// The agent profile editor: one form per profile, checked by the API as you type
// (POST /api/profiles/validate, the same validation as saving) with each error shown under
// its field, saved with PUT /api/profiles/{name} guarded by the ETag (If-Match) so two
// supervisors cannot overwrite each other's edits. Empty fields inherit from agent.toml.

import { h, replace, debounce } from "../dom.js";
import { t } from "../i18n.js";
import * as api from "../api.js";

// Field → how it is edited, in the form's order and groups.
const GROUPS = [
  ["persona", [
    ["description", "text"],
    ["language", "select", ["", "ru", "en"]],
    ["voice", "text"],
    ["listen", "text"],
    ["system_prompt", "long"],
  ]],
  ["phrases", [
    ["disclosure", "long"],
    ["greeting", "long"],
    ["reprompt", "long"],
    ["goodbye", "long"],
    ["apology", "long"],
    ["transfer_notice", "long"],
    ["handover_failed", "long"],
  ]],
  ["handover", [
    ["transfer_target", "text"],
    ["operator_digit", "text"],
    ["transfer_on_failure", "bool"],
    ["tools", "list"],
  ]],
  ["limits", [
    ["reprompt_after_secs", "number"],
    ["hangup_after_reprompts", "int"],
    ["max_call_secs", "int"],
    ["asr_budget_ms", "int"],
    ["llm_budget_ms", "int"],
    ["tts_budget_ms", "int"],
    ["temperature", "number"],
    ["max_tokens", "int"],
  ]],
];
const FIELDS = GROUPS.flatMap(([, fields]) => fields);

/** The field an API error key (`profiles.NAME.field[.more]`) points at, if it is on the form. */
export function fieldOfKey(key, name) {
  const prefix = `profiles.${name}.`;
  if (!key.startsWith(prefix)) return null;
  const field = key.slice(prefix.length).split(/[.[]/)[0];
  return FIELDS.some(([f]) => f === field) ? field : null;
}

function inputFor(field, kind, opts, value) {
  const id = `pf-${field}`;
  const common = { id, name: field, dataset: { field } };
  switch (kind) {
    case "long":
      return h("textarea", { ...common, rows: field === "system_prompt" ? 8 : 2, value: value ?? "" });
    case "select":
      return h("select", common, opts.map((o) => h("option", { value: o, selected: (value ?? "") === o }, o || "—")));
    case "bool":
      return h("select", common,
        h("option", { value: "", selected: value === undefined }, "—"),
        h("option", { value: "true", selected: value === true }, "true"),
        h("option", { value: "false", selected: value === false }, "false"));
    case "list":
      return h("textarea", { ...common, rows: 3, value: Array.isArray(value) ? value.join("\n") : "" });
    case "number":
    case "int":
      return h("input", { ...common, type: "text", inputmode: kind === "int" ? "numeric" : "decimal", value: value ?? "" });
    default:
      return h("input", { ...common, type: "text", value: value ?? "" });
  }
}

/** Reads the form back into a profile object; `local` collects type errors found here. */
function readForm(form, original, local) {
  const out = { ...original };
  for (const [field, kind] of FIELDS) {
    const el = form.querySelector(`[data-field="${field}"]`);
    const raw = el.value;
    delete out[field];
    if (kind === "list") {
      const items = raw.split("\n").map((s) => s.trim()).filter(Boolean);
      if (items.length) out[field] = items;
    } else if (kind === "bool") {
      if (raw !== "") out[field] = raw === "true";
    } else if (kind === "number" || kind === "int") {
      const s = raw.trim();
      if (s === "") continue;
      const n = Number(s.replace(",", "."));
      if (!Number.isFinite(n) || (kind === "int" && !Number.isInteger(n))) {
        local.push({ key: field, message: kind === "int" ? "must be a whole number" : "must be a number" });
        continue;
      }
      out[field] = n;
    } else if (raw !== "" || (original[field] !== undefined && kind === "long")) {
      // A long text emptied on purpose stays "" (built-in phrase); a short one is dropped.
      if (raw !== "" || original[field] === "") out[field] = raw;
    }
  }
  return out;
}

export function render(main, { name: wantedName }) {
  replace(main, h("h1", t("prof.title")), h("p.muted", "…"));
  let closed = false;
  let etag = null;
  let state = null;

  async function load() {
    try {
      const r = await api.profiles();
      if (closed) return;
      state = r.state;
      etag = r.etag;
      draw();
    } catch (e) {
      if (!closed && e.status !== 401) replace(main, h("h1", t("prof.title")), h("p.error", t("err.server", { status: e.status, msg: e.message })));
    }
  }

  function draw() {
    const names = Object.keys(state.profiles || {}).sort();
    if (names.length === 0) {
      replace(main, h("h1", t("prof.title")), h("p.muted", t("prof.none")), h("p.muted", h("code", state.file)));
      return;
    }
    const name = names.includes(wantedName) ? wantedName
      : names.includes(state.default_profile) ? state.default_profile : names[0];
    const original = state.profiles[name] || {};
    const listeners = new Map((state.listeners || []).map((l) => [l.profile, l.listen]));

    const side = h("nav.profile-list#profile-list", names.map((n) => h("a", {
      href: `#/profiles/${encodeURIComponent(n)}`, class: n === name ? "active" : "", dataset: { profile: n },
    }, n, n === state.default_profile ? h("span.muted", " ★") : null,
    listeners.get(n) ? h("span.muted.small", ` ${listeners.get(n)}`) : null)));

    const banner = h("div.banner#profile-banner", { role: "status", hidden: true });
    const errorsByField = new Map();
    const groups = GROUPS.map(([group, fields]) => h("fieldset.group", { dataset: { group } },
      h("legend", t(`prof.group.${group}`)),
      h("div.fields", fields.map(([field, kind, opts]) => {
        const err = h("p.field-error", { id: `err-${field}`, hidden: true, role: "alert" });
        errorsByField.set(field, err);
        const input = inputFor(field, kind, opts, original[field]);
        if (kind !== "select" && kind !== "bool") input.placeholder = t("prof.inherit");
        return h("div.field", { class: kind === "long" || kind === "list" ? "wide" : "" },
          h("label", { for: `pf-${field}` }, field, kind === "list" ? h("span.muted", ` (${t("prof.list_sep")})`) : null),
          input, err);
      }))));
    const otherErrors = h("ul.form-error#profile-errors", { hidden: true });
    const checkBtn = h("button#profile-check", { type: "button" }, t("prof.validate"));
    const saveBtn = h("button.primary#profile-save", { type: "submit" }, t("prof.save"));
    const form = h("form.profile-form#profile-form", { dataset: { profile: name }, novalidate: true },
      h("h2", name), otherErrors, groups, h("div.actions", banner, checkBtn, saveBtn));

    function showErrors(errors) {
      for (const el of errorsByField.values()) { el.hidden = true; el.textContent = ""; }
      for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
      const rest = [];
      for (const e of errors) {
        const field = FIELDS.some(([f]) => f === e.key) ? e.key : fieldOfKey(e.key, name);
        const el = field && errorsByField.get(field);
        if (el) {
          el.textContent = el.textContent ? `${el.textContent}; ${e.message}` : e.message;
          el.hidden = false;
          form.querySelector(`[data-field="${field}"]`).classList.add("invalid");
        } else {
          rest.push(e.key ? `${e.key}: ${e.message}` : e.message);
        }
      }
      replace(otherErrors, rest.map((m) => h("li", m)));
      otherErrors.hidden = rest.length === 0;
    }

    function say(kind, text, action) {
      banner.className = `banner ${kind}`;
      replace(banner, text, action || null);
      banner.hidden = false;
    }

    let checkSeq = 0;
    async function check({ announce }) {
      const mine = ++checkSeq;
      const local = [];
      const edited = readForm(form, original, local);
      if (local.length) {
        showErrors(local);
        if (announce) say("bad", t("prof.invalid"));
        return { valid: false, edited };
      }
      try {
        const v = await api.validateProfiles({ ...state.profiles, [name]: edited });
        if (closed || mine !== checkSeq) return { valid: false, edited, stale: true };
        showErrors(v.errors || []);
        if (announce) say(v.valid ? "ok" : "bad", v.valid ? t("prof.valid") : t("prof.invalid"));
        else if (v.valid) banner.hidden = true;
        return { valid: v.valid, edited };
      } catch (e) {
        if (e.status !== 401) say("bad", t("err.server", { status: e.status, msg: e.message }));
        return { valid: false, edited };
      }
    }

    form.addEventListener("input", debounce(() => check({ announce: false }), 400));
    checkBtn.addEventListener("click", () => check({ announce: true }));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      saveBtn.disabled = true;
      try {
        const { valid, edited } = await check({ announce: false });
        if (!valid) {
          say("bad", t("prof.invalid"));
          return;
        }
        const r = await api.saveProfile(name, edited, etag);
        state = r.state;
        etag = r.etag;
        Object.keys(original).forEach((k) => delete original[k]);
        Object.assign(original, state.profiles[name] || edited);
        say("ok", t("prof.saved"));
      } catch (e) {
        if (e.status === 422 && e.body && Array.isArray(e.body.errors)) {
          showErrors(e.body.errors);
          say("bad", t("prof.invalid"));
        } else if (e.status === 412) {
          say("bad", t("prof.conflict"), h("button.link#profile-reload", { type: "button", on: { click: load } }, t("prof.reload")));
        } else if (e.status !== 401) {
          say("bad", t("err.server", { status: e.status, msg: e.message }));
        }
      } finally {
        saveBtn.disabled = false;
      }
    });

    replace(main, h("h1", t("prof.title")),
      h("div.profiles-layout", side, h("section.card", form)),
      h("p.muted.small", h("code", state.file), ` · version ${state.version}`));
  }

  load();
  return () => { closed = true; };
}
