// Interface strings in English and Russian. The language follows the operator's choice
// (stored in localStorage), else the browser's; call content (transcripts, prompts) is shown
// as recorded, whatever the interface language.

const STRINGS = {
  en: {
    "app.title": "Enclave console",
    "nav.dashboard": "Dashboard",
    "nav.calls": "Calls",
    "nav.live": "Live",
    "nav.profiles": "Agent profiles",
    "nav.logout": "Sign out",
    "login.title": "Sign in to the Enclave console",
    "login.password": "Password",
    "login.token": "Access token",
    "login.submit": "Sign in",
    "login.failed": "Wrong password or token.",
    "login.locked": "Too many attempts; wait a minute and try again.",
    "login.hint": "The password or token is set in agent.toml ([api]).",
    "dash.live": "Live calls",
    "dash.today": "Calls today",
    "dash.agent": "Answered by the agent",
    "dash.handed": "Handed over",
    "dash.p50": "Turn latency p50",
    "dash.p95": "Turn latency p95",
    "dash.outcomes": "Outcomes today",
    "dash.none_live": "No call in progress.",
    "dash.recent": "Recent calls",
    "calls.search": "Search transcripts and summaries…",
    "calls.outcome_any": "any outcome",
    "calls.started": "Started",
    "calls.caller": "Caller",
    "calls.duration": "Duration",
    "calls.outcome": "Outcome",
    "calls.turns": "Turns",
    "calls.profile": "Agent",
    "calls.language": "Language",
    "calls.latency": "p50 latency",
    "calls.empty": "No calls match.",
    "calls.prev": "← Newer",
    "calls.next": "Older →",
    "calls.page": "Calls {from}–{to} of {total}",
    "calls.page_open": "Calls {from}–{to}",
    "call.back": "← All calls",
    "call.transcript": "Transcript",
    "call.no_recording": "No recording for this call.",
    "call.summary": "Summary",
    "call.details": "Details",
    "call.transfer": "Handed over to",
    "call.error": "Error",
    "call.models": "Models",
    "call.interrupted": "interrupted",
    "call.tool": "tool",
    "call.latency": "latency",
    "call.in_progress": "in progress",
    "call.watch_live": "Watch live",
    "role.caller": "Caller",
    "role.agent": "Agent",
    "role.tool": "Tool",
    "live.title": "Live calls",
    "live.waiting": "Waiting for calls…",
    "live.connected": "connected",
    "live.reconnecting": "reconnecting…",
    "live.ended": "Call ended: {outcome}",
    "live.open": "Open",
    "prof.title": "Agent profiles",
    "prof.validate": "Check",
    "prof.save": "Save",
    "prof.saved": "Saved. New calls use it; calls in progress keep the old one.",
    "prof.valid": "No problems found.",
    "prof.invalid": "Fix the marked fields.",
    "prof.conflict": "Someone else changed this profile; reload it before saving.",
    "prof.reload": "Reload",
    "prof.none": "No profiles configured.",
    "prof.list_sep": "one per line",
    "prof.inherit": "from agent.toml",
    "prof.group.persona": "Persona",
    "prof.group.phrases": "Phrases",
    "prof.group.handover": "Hand-over and tools",
    "prof.group.limits": "Timers, budgets, model",
    "err.network": "The agent did not answer: {msg}",
    "err.server": "The agent answered {status}: {msg}",
    "lang.toggle": "Русский",
    "outcome.completed": "completed",
    "outcome.transferred": "handed over",
    "outcome.caller_hangup": "caller hung up",
    "outcome.agent_hangup": "agent hung up",
    "outcome.error": "error",
    "outcome.timeout": "timeout",
    "outcome.shutdown": "shutdown",
    "outcome.protocol_error": "protocol error",
    "outcome.live": "live",
  },
  ru: {
    "app.title": "Консоль Enclave",
    "nav.dashboard": "Сводка",
    "nav.calls": "Звонки",
    "nav.live": "Сейчас",
    "nav.profiles": "Профили агентов",
    "nav.logout": "Выйти",
    "login.title": "Вход в консоль Enclave",
    "login.password": "Пароль",
    "login.token": "Токен доступа",
    "login.submit": "Войти",
    "login.failed": "Неверный пароль или токен.",
    "login.locked": "Слишком много попыток; подождите минуту.",
    "login.hint": "Пароль или токен задаются в agent.toml ([api]).",
    "dash.live": "Звонки сейчас",
    "dash.today": "Звонков сегодня",
    "dash.agent": "Обслужено агентом",
    "dash.handed": "Переведено на оператора",
    "dash.p50": "Задержка ответа p50",
    "dash.p95": "Задержка ответа p95",
    "dash.outcomes": "Итоги за сегодня",
    "dash.none_live": "Сейчас звонков нет.",
    "dash.recent": "Последние звонки",
    "calls.search": "Поиск по расшифровкам и итогам…",
    "calls.outcome_any": "любой итог",
    "calls.started": "Начало",
    "calls.caller": "Абонент",
    "calls.duration": "Длительность",
    "calls.outcome": "Итог",
    "calls.turns": "Реплик",
    "calls.profile": "Агент",
    "calls.language": "Язык",
    "calls.latency": "Задержка p50",
    "calls.empty": "Ничего не найдено.",
    "calls.prev": "← Новее",
    "calls.next": "Старше →",
    "calls.page": "Звонки {from}–{to} из {total}",
    "calls.page_open": "Звонки {from}–{to}",
    "call.back": "← Все звонки",
    "call.transcript": "Расшифровка",
    "call.no_recording": "Записи этого звонка нет.",
    "call.summary": "Итог разговора",
    "call.details": "Подробности",
    "call.transfer": "Переведён на",
    "call.error": "Ошибка",
    "call.models": "Модели",
    "call.interrupted": "перебит",
    "call.tool": "инструмент",
    "call.latency": "задержка",
    "call.in_progress": "идёт",
    "call.watch_live": "Смотреть вживую",
    "role.caller": "Абонент",
    "role.agent": "Агент",
    "role.tool": "Инструмент",
    "live.title": "Звонки сейчас",
    "live.waiting": "Ждём звонков…",
    "live.connected": "на связи",
    "live.reconnecting": "переподключение…",
    "live.ended": "Звонок завершён: {outcome}",
    "live.open": "Открыть",
    "prof.title": "Профили агентов",
    "prof.validate": "Проверить",
    "prof.save": "Сохранить",
    "prof.saved": "Сохранено. Новые звонки пойдут по нему; текущие — по старому.",
    "prof.valid": "Ошибок нет.",
    "prof.invalid": "Исправьте отмеченные поля.",
    "prof.conflict": "Профиль изменил кто-то другой; загрузите его заново.",
    "prof.reload": "Загрузить заново",
    "prof.none": "Профилей нет.",
    "prof.list_sep": "по одному в строке",
    "prof.inherit": "из agent.toml",
    "prof.group.persona": "Персона",
    "prof.group.phrases": "Фразы",
    "prof.group.handover": "Перевод и инструменты",
    "prof.group.limits": "Таймеры, бюджеты, модель",
    "err.network": "Агент не ответил: {msg}",
    "err.server": "Агент ответил {status}: {msg}",
    "lang.toggle": "English",
    "outcome.completed": "завершён",
    "outcome.transferred": "переведён",
    "outcome.caller_hangup": "абонент положил трубку",
    "outcome.agent_hangup": "агент завершил",
    "outcome.error": "ошибка",
    "outcome.timeout": "тайм-аут",
    "outcome.shutdown": "остановка",
    "outcome.protocol_error": "ошибка протокола",
    "outcome.live": "идёт",
  },
};

function initial() {
  const saved = localStorage.getItem("enclave.lang");
  if (saved && STRINGS[saved]) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("ru") ? "ru" : "en";
}

let lang = initial();

/** The interface language ("en" or "ru"). */
export function language() {
  return lang;
}

/** Switches the interface language and remembers it. */
export function setLanguage(l) {
  if (!STRINGS[l]) return;
  lang = l;
  localStorage.setItem("enclave.lang", l);
  document.documentElement.lang = l;
}

/** The string `key` in the current language with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
  return s;
}

/** The label of a call outcome (`null` = still running). */
export function outcome(o) {
  return t(`outcome.${o ?? "live"}`);
}

document.documentElement.lang = lang;
