// The console shell: session check, navigation, hash routing. Each view module exports
// `render(main, params)` and may return a cleanup function (closes streams, stops timers)
// that runs when the operator navigates away.

import { h, replace } from "./dom.js";
import { t, language, setLanguage } from "./i18n.js";
import * as api from "./api.js";
import * as loginView from "./views/login.js";
import * as dashboardView from "./views/dashboard.js";
import * as callsView from "./views/calls.js";
import * as callView from "./views/call.js";
import * as liveView from "./views/live.js";
import * as profilesView from "./views/profiles.js";
import * as campaignsView from "./views/campaigns.js";

const ROUTES = [
  { re: /^\/?$/, view: dashboardView, nav: "dashboard" },
  { re: /^\/dashboard$/, view: dashboardView, nav: "dashboard" },
  { re: /^\/calls$/, view: callsView, nav: "calls" },
  { re: /^\/calls\/([\w-]+)$/, view: callView, nav: "calls", keys: ["uuid"] },
  { re: /^\/live$/, view: liveView, nav: "live" },
  { re: /^\/live\/([\w-]+)$/, view: liveView, nav: "live", keys: ["uuid"] },
  { re: /^\/profiles$/, view: profilesView, nav: "profiles" },
  { re: /^\/profiles\/([^/]+)$/, view: profilesView, nav: "profiles", keys: ["name"] },
  { re: /^\/campaigns$/, view: campaignsView, nav: "campaigns" },
  { re: /^\/campaigns\/([^/]+)$/, view: campaignsView, nav: "campaigns", keys: ["id"] },
];

const app = document.getElementById("app");
let cleanup = null;
let signedIn = false;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

function navItem(key, href, current) {
  return h("a.nav-item", { href, class: current === key ? "active" : "", "data-nav": key },
    t(`nav.${key}`));
}

function shell(current) {
  const main = h("main#main", { tabindex: "-1" });
  const langBtn = h("button.link#lang-toggle", {
    type: "button",
    on: { click: () => { setLanguage(language() === "ru" ? "en" : "ru"); route(); } },
  }, t("lang.toggle"));
  const logoutBtn = h("button.link#logout", {
    type: "button",
    on: {
      click: async () => {
        await api.logout().catch(() => {});
        signedIn = false;
        showLogin();
      },
    },
  }, t("nav.logout"));
  const header = h("header.topbar",
    h("a.brand", { href: "#/" }, h("span.logo", "E"), t("app.title")),
    h("nav.nav",
      navItem("dashboard", "#/", current),
      navItem("calls", "#/calls", current),
      navItem("live", "#/live", current),
      navItem("profiles", "#/profiles", current),
      navItem("campaigns", "#/campaigns", current)),
    h("div.spacer"),
    langBtn,
    logoutBtn);
  replace(app, header, main);
  return main;
}

function runCleanup() {
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
}

function showLogin() {
  runCleanup();
  app.classList.remove("booting");
  replace(app);
  const box = h("div.login-page");
  app.appendChild(box);
  loginView.render(box, {
    onSuccess: () => {
      signedIn = true;
      route();
    },
    onLanguage: () => showLogin(),
  });
}

function route() {
  if (!signedIn) {
    showLogin();
    return;
  }
  runCleanup();
  app.classList.remove("booting");
  const { path, query } = parseHash();
  const match = ROUTES.find((r) => r.re.test(path)) || ROUTES[0];
  const m = match.re.exec(path) || [];
  const params = { query };
  (match.keys || []).forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
  const main = shell(match.nav);
  document.title = `${t(`nav.${match.nav}`)} · ${t("app.title")}`;
  try {
    const c = match.view.render(main, params);
    cleanup = typeof c === "function" ? c : null;
  } catch (e) {
    console.error(e);
    replace(main, h("p.error", String(e)));
  }
}

api.setUnauthorizedHandler(() => {
  signedIn = false;
  showLogin();
});

window.addEventListener("hashchange", route);

async function boot() {
  try {
    await api.session();
    signedIn = true;
  } catch {
    signedIn = false;
  }
  route();
}

boot();
