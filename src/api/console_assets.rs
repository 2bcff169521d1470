//! The web console's static files (`console/` at the repository root), compiled into the
//! binary: no Node toolchain and no files to deploy. Framework-free HTML/CSS/JS modules that
//! run under the API's strict CSP (`default-src 'self'`: no inline script or style, no eval).
//!
//! `/` is the single page; everything else is under `/assets/`. Answers carry an ETag (a
//! hash of the bytes, computed at compile time) and `Cache-Control: no-cache`, so a browser
//! revalidates with `If-None-Match` and gets `304` until the binary changes.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One compiled-in file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path below `console/` (`index.html`, `js/app.js`, …).
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
    /// Strong ETag (quoted hex of a 64-bit FNV-1a of the bytes).
    pub etag: &'static str,
}

/// 64-bit FNV-1a, at compile time (the ETag of an asset).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// `"` + 16 hex digits + `"`.
const fn etag_bytes(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let h = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($path:literal, $ctype:literal) => {{
        const BYTES: &[u8] =
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path));
        const TAG: [u8; 18] = etag_bytes(BYTES);
        Asset {
            path: $path,
            content_type: $ctype,
            bytes: BYTES,
            etag: match std::str::from_utf8(&TAG) {
                Ok(s) => s,
                Err(_) => panic!("ETag is ASCII"),
            },
        }
    }};
}

/// Every file of `console/` (a test checks the directory holds no other).
pub static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/i18n.js", "text/javascript; charset=utf-8"),
    asset!("js/live_stream.js", "text/javascript; charset=utf-8"),
    asset!("js/calltable.js", "text/javascript; charset=utf-8"),
    asset!("js/sync.js", "text/javascript; charset=utf-8"),
    asset!("js/views/login.js", "text/javascript; charset=utf-8"),
    asset!("js/views/dashboard.js", "text/javascript; charset=utf-8"),
    asset!("js/views/calls.js", "text/javascript; charset=utf-8"),
    asset!("js/views/call.js", "text/javascript; charset=utf-8"),
    asset!("js/views/live.js", "text/javascript; charset=utf-8"),
    asset!("js/views/profiles.js", "text/javascript; charset=utf-8"),
    asset!("js/views/campaigns.js", "text/javascript; charset=utf-8"),
];

/// The asset at `path` (below `console/`), if compiled in.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// Routes serving the console (public: the API behind it needs a login): `/` and `/assets/…`.
pub fn console_routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/assets/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve(
        asset("index.html").expect("index.html is compiled in"),
        &headers,
    )
}

async fn favicon(headers: HeaderMap) -> Response {
    serve(
        asset("favicon.svg").expect("favicon.svg is compiled in"),
        &headers,
    )
}

async fn file(
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    match asset(&path) {
        Some(a) => serve(a, &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no console asset {path}"),
        )
            .into_response(),
    }
}

fn serve(a: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(a.etag);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag || t.trim() == "*"));
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        a.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn files(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, root, out);
            } else {
                out.insert(
                    p.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    #[test]
    fn every_console_file_is_compiled_in_and_nothing_else() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = BTreeSet::new();
        files(&root, &root, &mut on_disk);
        let compiled: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(
            on_disk, compiled,
            "console/ and ASSETS must list the same files"
        );
    }

    #[test]
    fn etags_differ_per_content_and_are_quoted_hex() {
        let tags: BTreeSet<&str> = ASSETS.iter().map(|a| a.etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
        for a in ASSETS {
            assert!(a.etag.len() == 18 && a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn pages_have_no_inline_script_or_style() {
        // The CSP (`default-src 'self'`) would block them: the page would silently break.
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".html")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            assert!(!text.contains("style="), "{}: inline style", a.path);
            assert!(!text.contains("<style"), "{}: <style>", a.path);
            for tag in text.split("<script").skip(1) {
                let head = &tag[..tag.find('>').unwrap()];
                assert!(head.contains("src="), "{}: inline <script>", a.path);
            }
            // Inline event handlers: ` onclick=`, ` onload=` …
            let inline_handler = text.match_indices(" on").any(|(i, _)| {
                let rest = &text[i + 3..];
                let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
                name_len > 0 && rest[name_len..].starts_with('=')
            });
            assert!(!inline_handler, "{}: inline event handler", a.path);
        }
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for banned in [
                "eval(",
                "new Function",
                "innerHTML",
                "setAttribute(\"style\"",
                "document.write",
            ] {
                assert!(!text.contains(banned), "{}: uses {banned}", a.path);
            }
        }
    }
}
