// The sign-in page: one secret (the console password or an API token). The server answers
// with an HttpOnly session cookie and the CSRF token the other calls carry.

import { h, replace } from "../dom.js";
import { t, language, setLanguage } from "../i18n.js";
import * as api from "../api.js";

export function render(root, { onSuccess, onLanguage }) {
  const secret = h("input#login-secret", {
    type: "password", name: "password", autocomplete: "current-password", required: true,
    autofocus: true,
  });
  const error = h("p.form-error#login-error", { role: "alert", hidden: true });
  const submit = h("button.primary#login-submit", { type: "submit" }, t("login.submit"));
  const form = h("form.login-card#login-form", {
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        try {
          await api.login(secret.value);
          onSuccess();
        } catch (e) {
          error.textContent = e.status === 401 || e.status === 403 ? t("login.failed")
            : e.status === 429 ? t("login.locked")
            : e.status === 0 ? t("err.network", { msg: e.message })
            : t("err.server", { status: e.status, msg: e.message });
          error.hidden = false;
          secret.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
  },
  h("div.login-brand", h("span.logo", "E"), h("h1", t("login.title"))),
  h("label", { for: "login-secret" }, t("login.password")),
  secret,
  error,
  submit,
  h("p.hint", t("login.hint")),
  h("button.link", {
    type: "button",
    on: { click: () => { setLanguage(language() === "ru" ? "en" : "ru"); onLanguage(); } },
  }, t("lang.toggle")));
  replace(root, form);
  secret.focus();
}
