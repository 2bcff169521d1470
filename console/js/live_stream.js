// The live event stream (server-sent events): call started, turn committed, call ended.
// EventSource reconnects by itself; the cookie session authenticates it (same origin).

import * as api from "./api.js";

/**
 * Opens the stream; `handlers` = { snapshot(LiveSnapshot), lagged(), started(ev), turn(ev), ended(ev), state("open"|"error") }.
 * Returns a function that closes it.
 */
export function subscribe(handlers) {
  const es = new EventSource(api.liveUrl(), { withCredentials: true });
  const on = (type, fn) => {
    if (!fn) return;
    es.addEventListener(type, (msg) => {
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch {
        return;
      }
      fn(data);
    });
  };
  on("snapshot", handlers.snapshot);
  on("lagged", handlers.lagged);
  on("call_started", handlers.started);
  on("turn", handlers.turn);
  on("call_ended", handlers.ended);
  es.addEventListener("open", () => handlers.state && handlers.state("open"));
  es.addEventListener("error", () => handlers.state && handlers.state("error"));
  return () => es.close();
}
