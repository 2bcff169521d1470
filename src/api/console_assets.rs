//! The web console's static assets. PLACEHOLDER: the console itself (h7) replaces this file
//! with the compiled-in assets of `console/`; the API only mounts [`console_routes`] at `/`.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

/// Routes serving the console's assets (public: the API behind them needs a login).
pub fn console_routes() -> Router {
    Router::new().route("/", get(index))
}

async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Enclave</title></head>\
         <body><h1>Enclave agent</h1><p>The web console is not built into this binary yet; \
         the HTTP API is at <code>/api/</code> (see api/openapi.yaml).</p></body></html>",
    )
}
