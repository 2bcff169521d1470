//! A real PostgreSQL server for one test: `initdb` into a temp dir, `pg_ctl start` on a free
//! loopback port (password auth, scram-sha-256), stopped on drop. Runs the server as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
//!
//! Test-only server settings: `fsync=off` (the data dir is thrown away; PostgreSQL's own
//! durability is not what these tests check).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The password of the test superuser `enclave`.
pub const PASSWORD: &str = "s3cret-pg-pass";

/// A running PostgreSQL; stopped (immediate) and deleted on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    run_as: Option<String>,
    next_db: AtomicU32,
}

fn find_bin() -> PathBuf {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| PathBuf::from(&p));
            return real.parent().unwrap().to_path_buf();
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin). \
             Install it with: sudo apt-get install -y postgresql   (or: bash scripts/setup.sh --deps)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Initialises and starts a server; panics with the install command if PostgreSQL is missing.
    pub fn start() -> PgServer {
        Self::start_with(None)
    }

    /// A server that also speaks TLS, with a certificate for 127.0.0.1 signed by a CA made
    /// here; returns the CA's PEM file (what `records.postgres_ca_file` names).
    pub fn start_tls() -> (PgServer, PathBuf) {
        let certs = tempfile::tempdir().unwrap().keep();
        let ca = make_test_pki(&certs);
        (Self::start_with(Some(&certs)), ca)
    }

    fn start_with(tls: Option<&Path>) -> PgServer {
        let bin = find_bin();
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let run_as = root.then(|| "postgres".to_string());
        if root {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "running as root: the `postgres` user is needed to run PostgreSQL \
                 (sudo apt-get install -y postgresql creates it)"
            );
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if root {
            let _ = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&pwfile)
                .status();
        }
        let mut server = PgServer {
            dir,
            bin,
            port: 0,
            run_as,
            next_db: AtomicU32::new(0),
        };
        let data = server.data_dir();
        server.run_ok(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "enclave",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        // A port taken between probing and binding makes pg_ctl fail: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
                server.dir.path().display()
            );
            if let Some(certs) = tls {
                let (cert, key) = server.install_server_cert(certs);
                opts.push_str(&format!(
                    " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    cert.display(),
                    key.display()
                ));
            }
            let log = server.dir.path().join("server.log");
            let out = server.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "120",
                    "-o",
                    &opts,
                    "start",
                ],
            );
            if out.status.success() {
                server.port = port;
                return server;
            }
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed:\n{last}");
    }

    /// Copies the server certificate and key next to the data directory, owned by the server's
    /// user with the key private (PostgreSQL refuses a key others can read).
    fn install_server_cert(&self, certs: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        );
        std::fs::copy(certs.join("server.pem"), &cert).unwrap();
        std::fs::copy(certs.join("server.key"), &key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some(user) = &self.run_as {
            for f in [&cert, &key] {
                let ok = Command::new("chown")
                    .arg(format!("{user}:{user}"))
                    .arg(f)
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                assert!(ok, "chown {}", f.display());
            }
        }
        (cert, key)
    }

    /// The data directory (`initdb -D`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Scratch space next to the server (recordings of tests).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    fn run_ok(&self, tool: &str, args: &[&str]) {
        let out = self.run(tool, args);
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// URL of database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://enclave:{PASSWORD}@127.0.0.1:{}/{db}?connect_timeout=10",
            self.port
        )
    }

    /// Creates a new empty database and returns its URL.
    pub fn create_db(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{n}_{}", std::process::id());
        let admin = self.url("postgres");
        let sql = format!("CREATE DATABASE {name}");
        off_runtime(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
            c.batch_execute(&sql).unwrap();
        });
        self.url(&name)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }
}

/// Runs `f` on a fresh thread (the blocking `postgres` client must not run on a runtime thread).
pub fn off_runtime<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(f).join().unwrap()
}

/// One integer from `sql` on `url`.
pub fn scalar(url: &str, sql: &str) -> i64 {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = c.query_one(sql.as_str(), &[]).unwrap();
        row.try_get::<_, i64>(0)
            .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// Runs `sql` on `url`.
pub fn execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&sql).unwrap();
    })
}

/// Holds `LOCK TABLE turns` in an open transaction until the returned closure runs.
pub fn lock_turns(url: &str) -> Box<dyn FnOnce() + Send> {
    let url = url.to_string();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE turns IN EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    Box::new(move || {
        let _ = release_tx.send(());
        holder.join().unwrap();
    })
}

/// A CA and a server certificate for IP 127.0.0.1 signed by it, made with the `openssl` CLI in
/// `dir` (ca.pem, server.pem, server.key); returns ca.pem.
pub fn make_test_pki(dir: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}); install it: sudo apt-get install -y openssl")
            });
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Enclave test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    dir.join("ca.pem")
}
