//! Test support for the models tests: a real HTTP/1.1 file server on 127.0.0.1:0 (hyper 1)
//! with Range support and fault injection, and a catalogue built from the shared fixtures.
#![allow(dead_code)]

use bytes::Bytes;
use enclave::models::catalogue::Catalogue;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;
use tokio::sync::{mpsc, Notify};

/// The shared real model files (`ENCLAVE_FIXTURES_DIR` or `ENCLAVE_FIXTURES`, else
/// `../shared/fixtures` beside the repository).
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("ENCLAVE_FIXTURES_DIR")
        .or_else(|| std::env::var_os("ENCLAVE_FIXTURES"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    assert!(
        dir.join("vad/silero_vad.onnx").is_file(),
        "fixtures not found in {} (set ENCLAVE_FIXTURES_DIR to the shared fixtures directory)",
        dir.display()
    );
    dir
}

/// Bytes of a fixture file, e.g. `vad/silero_vad.onnx`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

/// Lower-case hex sha256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// How the server answers one path.
#[derive(Clone)]
pub enum Behaviour {
    /// Serve the bytes, honouring `Range: bytes=N-`.
    Serve,
    /// First request: headers with the full length, `n` bytes, then the connection drops.
    /// Later requests: like `Serve`.
    CutFirstAfter(usize),
    /// Always 200 with the whole body, ignoring Range.
    IgnoreRange,
    /// 404.
    NotFound,
    /// 200 with `Content-Type: text/html` and a login page.
    HtmlPage,
    /// 200 with `Content-Type: application/octet-stream` but an HTML body.
    HtmlBody,
    /// Headers and `n` bytes, then nothing, forever.
    StallAfter(usize),
    /// 503 for the first `n` requests, then `Serve`.
    FailFirst(usize),
    /// Like `Serve`, but each request waits for `gate` to be notified before sending headers.
    Gated(Arc<Notify>),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request path.
    pub path: String,
    /// `Range` header, if any.
    pub range: Option<String>,
}

struct Route {
    data: Bytes,
    behaviour: Behaviour,
    hits: usize,
}

/// The test server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrivals: AsyncMutex<mpsc::UnboundedReceiver<String>>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0.
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (arrived_tx, arrived_rx) = mpsc::unbounded_channel();
        let (r, s) = (routes.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, s, tx) = (r.clone(), s.clone(), arrived_tx.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(req, r.clone(), s.clone(), tx.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        TestServer {
            base,
            routes,
            seen,
            arrivals: AsyncMutex::new(arrived_rx),
        }
    }

    /// Serves `data` at `path` with `behaviour`.
    pub fn route(&self, path: &str, data: Vec<u8>, behaviour: Behaviour) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Route {
                data: Bytes::from(data),
                behaviour,
                hits: 0,
            },
        );
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// Waits (up to 10 s) until a request arrives; returns its path.
    pub async fn next_arrival(&self) -> String {
        let mut rx = self.arrivals.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("no request reached the test server within 10 s")
            .expect("server stopped")
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(data: Bytes) -> Body {
    Full::new(data)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn response(status: u16, content_type: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

fn serve_range(data: &Bytes, range: Option<&str>) -> Response<Body> {
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    match start {
        Some(s) if s >= data.len() => Response::builder()
            .status(416)
            .header("content-range", format!("bytes */{}", data.len()))
            .body(full(Bytes::new()))
            .unwrap(),
        Some(s) => Response::builder()
            .status(206)
            .header("content-type", "application/octet-stream")
            .header(
                "content-range",
                format!("bytes {s}-{}/{}", data.len() - 1, data.len()),
            )
            .body(full(data.slice(s..)))
            .unwrap(),
        None => response(200, "application/octet-stream", full(data.clone())),
    }
}

/// A body that sends the whole length in its headers but only `n` bytes, then `tail`.
fn partial_body(data: &Bytes, n: usize, fail: bool) -> Response<Body> {
    let first = data.slice(..n.min(data.len()));
    let head = futures::stream::iter(vec![Ok::<_, std::io::Error>(Frame::data(first))]);
    let body: Body = if fail {
        // Pending once (hyper flushes what it has to the socket), then the body ends short
        // of its Content-Length: hyper closes the connection, the client sees an
        // incomplete message after receiving the first `n` bytes.
        let pause = futures::stream::once(tokio::task::yield_now())
            .filter_map(|()| async { None::<Result<Frame<Bytes>, std::io::Error>> });
        BodyExt::boxed(StreamBody::new(head.chain(pause)))
    } else {
        BodyExt::boxed(StreamBody::new(head.chain(futures::stream::pending())))
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/octet-stream")
        .header("content-length", data.len().to_string())
        .body(body)
        .unwrap()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: mpsc::UnboundedSender<String>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let range = req
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let _ = arrived.send(path.clone());
    let found = {
        let mut routes = routes.lock().unwrap();
        routes.get_mut(&path).map(|r| {
            r.hits += 1;
            (r.data.clone(), r.behaviour.clone(), r.hits)
        })
    };
    let Some((data, behaviour, hits)) = found else {
        return Ok(response(
            404,
            "text/plain",
            full(Bytes::from_static(b"no such file")),
        ));
    };
    let html = Bytes::from_static(b"<!DOCTYPE html>\n<html><body>Please log in</body></html>\n");
    Ok(match behaviour {
        Behaviour::Serve => serve_range(&data, range.as_deref()),
        Behaviour::CutFirstAfter(n) if hits == 1 => partial_body(&data, n, true),
        Behaviour::CutFirstAfter(_) => serve_range(&data, range.as_deref()),
        Behaviour::IgnoreRange => response(200, "application/octet-stream", full(data)),
        Behaviour::NotFound => response(404, "text/plain", full(Bytes::from_static(b"gone"))),
        Behaviour::HtmlPage => response(200, "text/html; charset=utf-8", full(html)),
        Behaviour::HtmlBody => response(200, "application/octet-stream", full(html)),
        Behaviour::StallAfter(n) => partial_body(&data, n, false),
        Behaviour::FailFirst(n) if hits <= n => {
            response(503, "text/plain", full(Bytes::from_static(b"busy")))
        }
        Behaviour::FailFirst(_) => serve_range(&data, range.as_deref()),
        Behaviour::Gated(gate) => {
            gate.notified().await;
            serve_range(&data, range.as_deref())
        }
    })
}

/// A catalogue of real fixture files (URLs on a fake origin; use the server as the mirror).
/// Models: `test.vad` (silero_vad.onnx), `test.llm` (stories260K.gguf), `test.voice`
/// (two files: the whisper test file as ".onnx" and a real Piper .onnx.json).
pub fn test_catalogue_text() -> String {
    let entry = |name: &str, kind: &str, files: &[(&str, &str)]| {
        let mut s = format!(
            "[[models]]\nname = \"{name}\"\nkind = \"{kind}\"\nlanguages = [\"en_US\"]\n\
             license = \"MIT\"\ndescription = \"fixture\"\n"
        );
        for (path, fixture_rel) in files {
            let data = fixture(fixture_rel);
            s.push_str(&format!(
                "[[models.files]]\npath = \"{path}\"\nurl = \"https://models.invalid/fx/{fixture_rel}\"\n\
                 size = {}\nsha256 = \"{}\"\n",
                data.len(),
                sha256_hex(&data)
            ));
        }
        s
    };
    let mut text = String::from(
        "version = 1\n[profiles.test]\ndescription = \"fixtures\"\n\
         models = [\"test.vad\", \"test.llm\", \"test.voice\"]\n",
    );
    text.push_str(&entry(
        "test.vad",
        "vad",
        &[("vad/test_silero.onnx", "vad/silero_vad.onnx")],
    ));
    text.push_str(&entry(
        "test.llm",
        "llm",
        &[("llm/stories260K.gguf", "llm/stories260K.gguf")],
    ));
    text.push_str(&entry(
        "test.voice",
        "tts",
        &[
            (
                "piper/en_US-test-medium.onnx",
                "whisper/for-tests-ggml-tiny.bin",
            ),
            (
                "piper/en_US-test-medium.onnx.json",
                "piper/en_US-lessac-medium.onnx.json",
            ),
        ],
    ));
    text
}

/// The test catalogue, parsed.
pub fn test_catalogue() -> Catalogue {
    Catalogue::parse("test catalogue", &test_catalogue_text()).unwrap()
}

/// Serves every file of the test catalogue with `Serve` at `/fx/<fixture path>`.
pub fn serve_all(server: &TestServer) {
    for rel in [
        "vad/silero_vad.onnx",
        "llm/stories260K.gguf",
        "whisper/for-tests-ggml-tiny.bin",
        "piper/en_US-lessac-medium.onnx.json",
    ] {
        server.route(&format!("/fx/{rel}"), fixture(rel), Behaviour::Serve);
    }
}
