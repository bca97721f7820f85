//! Starts the real `clawhost` binary on port 0 with a temporary data directory, collects its
//! output, and, when the test ends, stops it and checks that no secret the test used ever
//! reached its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_clawhost");
pub const PASSWORD: &str = "correct horse battery staple";

/// How long the server may take to print that it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Options {
    pub env: Vec<(String, String)>,
    /// stdout is a pseudo-terminal, as for a person who starts clawhost by hand (otherwise a
    /// pipe, as under a service manager).
    pub terminal: bool,
    pub public_url: Option<String>,
    /// Defaults to `127.0.0.1:0`.
    pub listen: Option<String>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub origin: String,
    data: TempDir,
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    secrets: Mutex<Vec<String>>,
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<String>>,
    tx: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            let mut all = into.lock().expect("log buffer");
            all.push_str(&line);
            all.push('\n');
        }
    });
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// Starts with one setting given in the environment, e.g.
    /// `("CLAWHOST_SESSION_IDLE_TIMEOUT", "1s")`.
    pub fn start_setting(name: &str, value: &str) -> Self {
        Self::start_with(Options {
            env: vec![(name.into(), value.into())],
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        Self::start_in(data, options)
    }

    /// Starts on an existing data directory (e.g. to restart on the same state).
    pub fn start_in(data: TempDir, options: Options) -> Self {
        let mut command = Command::new(BIN);
        isolate(&mut command);
        command
            .arg("serve")
            .arg("--listen")
            .arg(options.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .arg("--allow-root")
            .env("HOME", data.path())
            .env("CLAWHOST_LOG_FORMAT", "json")
            .env("CLAWHOST_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let terminal = options.terminal.then(|| {
            let (reader, stdout) = terminal();
            command.stdout(stdout);
            reader
        });
        if terminal.is_none() {
            command.stdout(Stdio::piped());
        }
        if let Some(url) = &options.public_url {
            command.arg("--public-url").arg(url);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn clawhost");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        match terminal {
            Some(reader) => collect(reader, stdout.clone(), None),
            None => collect(child.stdout.take().expect("stdout"), stdout.clone(), None),
        }
        // The parent's copy of the terminal's other end goes, so reading ends with the child.
        drop(command);
        collect(
            child.stderr.take().expect("stderr"),
            stderr.clone(),
            Some(tx),
        );

        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!(
                    "clawhost did not start listening:\n{}",
                    stderr.lock().expect("log")
                );
            };
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if event["message"] == "listening" {
                break event["addr"]
                    .as_str()
                    .expect("addr field")
                    .parse::<SocketAddr>()
                    .expect("socket address");
            }
        };
        let base = format!("http://{addr}");
        let origin = options.public_url.clone().unwrap_or_else(|| base.clone());
        Self {
            addr,
            base,
            origin,
            data,
            child: Some(child),
            stdout,
            stderr,
            secrets: Mutex::new(vec![PASSWORD.to_string()]),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Registers a value that must never appear in the server's log.
    pub fn secret(&self, value: &str) {
        self.secrets
            .lock()
            .expect("secrets")
            .push(value.to_string());
    }

    pub fn log(&self) -> String {
        self.stderr.lock().expect("log").clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }

    /// The `Host` a browser at the public URL sends (as a reverse proxy passes it on).
    fn host_header(&self) -> HeaderMap {
        let authority = self.origin.split_once("://").map_or("", |(_, a)| a);
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(authority).expect("host"));
        headers
    }

    /// A browser-like client: cookie jar, no redirects, and an Origin on every request.
    pub fn client(&self) -> Client {
        let jar = Arc::new(Jar::default());
        let mut headers = self.host_header();
        headers.insert(
            "origin",
            HeaderValue::from_str(&self.origin).expect("origin"),
        );
        let http = http_builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("client");
        Client {
            http,
            jar,
            base: self.base.clone(),
        }
    }

    /// A browser-like client over https at `name` (resolved to this server, and the origin
    /// it sends), trusting the root in `root_pem`, or any certificate when there is none.
    pub fn https_client(&self, name: &str, root_pem: Option<&[u8]>) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let jar = Arc::new(Jar::default());
        let base = format!("https://{name}:{}", self.addr.port());
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_str(&base).expect("origin"));
        let builder = reqwest::Client::builder()
            .resolve(name, self.addr)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            // Each request on a new connection: the certificate it shows is the one served now.
            .pool_max_idle_per_host(0)
            .tls_info(true);
        let builder = match root_pem {
            Some(pem) => {
                builder.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("root"))
            }
            None => builder.tls_danger_accept_invalid_certs(true),
        };
        Client {
            http: builder.build().expect("client"),
            jar,
            base,
        }
    }

    /// A client that sends no Origin, Referer or Sec-Fetch-Site of its own.
    pub fn bare_client(&self) -> reqwest::Client {
        http_builder()
            .default_headers(self.host_header())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Runs a CLI command against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        isolate(&mut command);
        let output = command
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("HOME", self.data.path())
            .output()
            .expect("run clawhost");
        let printed = String::from_utf8_lossy(&output.stderr);
        assert!(!printed.contains("panicked"), "the CLI panicked: {printed}");
        output
    }

    /// A fresh claim code from `clawhost claim-code` (its last stdout line).
    pub fn claim_code(&self) -> String {
        let output = self.cli(&["claim-code"]);
        assert!(output.status.success(), "claim-code failed: {output:?}");
        let code = last_line(&output.stdout);
        self.secret(&code);
        code
    }

    /// Claims the instance with [`PASSWORD`] and returns the signed-in client.
    pub async fn claimed(&self) -> Client {
        let client = self.client();
        let code = self.claim_code();
        let response = client
            .post(
                "/api/auth/claim",
                &json!({"code": code, "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), 201, "claim failed");
        self.secret(&client.session_token().expect("session cookie"));
        client
    }

    /// Claims with `code` and [`PASSWORD`]; any session it opens is registered as a secret.
    pub async fn claim_with(&self, client: &Client, code: &str) -> reqwest::Response {
        let response = client
            .post(
                "/api/auth/claim",
                &json!({"code": code, "password": PASSWORD}),
            )
            .await;
        if let Some(token) = set_cookie_token(&response) {
            self.secret(&token);
        }
        response
    }

    /// Signs in a new client with [`PASSWORD`].
    pub async fn login(&self) -> Client {
        let client = self.client();
        let response = client
            .post("/api/auth/login", &json!({"password": PASSWORD}))
            .await;
        assert_eq!(response.status(), 200, "login failed");
        self.secret(&client.session_token().expect("session cookie"));
        client
    }

    /// Sends `head` (request line and headers, `Host` and `Connection: close` added) as raw
    /// bytes, untouched by any client library, and returns the response's status and text.
    pub fn raw(&self, head: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let authority = self.origin.split_once("://").map_or("", |(_, a)| a);
        let request = format!("{head}\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = kill(
            Pid::from_raw(i32::try_from(child.id()).expect("pid")),
            Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().expect("wait");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL (no cleanup at all) and hands back its data directory.
    pub fn kill_hard(mut self) -> TempDir {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
        self.check_log();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("temp dir"))
    }

    /// Stops the server and hands back its data directory for a restart.
    pub fn into_data(mut self) -> TempDir {
        self.stop();
        self.check_log();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("temp dir"))
    }

    fn check_log(&self) {
        let log = self.log();
        for secret in self.secrets.lock().expect("secrets").iter() {
            assert!(
                !log.contains(secret.as_str()),
                "a secret reached the server log: {secret:?}"
            );
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        if thread::panicking() {
            // The server's side of the story, for whoever reads the failure.
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- last lines of the clawhost log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        } else {
            self.check_log();
        }
    }
}

/// The OpenClaw runtime shared by every test that runs a gateway: installed once per machine
/// with `clawhost install-openclaw` into a cache outside the clone.
pub fn openclaw_runtime() -> PathBuf {
    static RUNTIME: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("OPENCLAW_TEST_RUNTIME_DIR") {
                let dir = PathBuf::from(dir);
                install_runtime(&dir, clawhost::OPENCLAW_VERSION);
                return dir;
            }
            openclaw_runtime_of(clawhost::OPENCLAW_VERSION)
        })
        .clone()
}

/// The runtime of another OpenClaw release (an update's starting point), cached likewise.
pub fn openclaw_runtime_of(version: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = home.join(format!(".cache/clawhost/runtime-{version}"));
    install_runtime(&dir, version);
    dir
}

fn install_runtime(dir: &Path, version: &str) {
    if dir.join("current/runtime.json").is_file() {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(BIN);
    isolate(&mut command);
    let output = command
        .arg("install-openclaw")
        .arg("--version")
        .arg(version)
        .arg("--runtime-dir")
        .arg(dir)
        .arg("--data-dir")
        .arg(scratch.path())
        .output()
        .expect("run install-openclaw");
    assert!(
        output.status.success(),
        "install-openclaw {version} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A runtime directory of a test's own holding `from`'s runtime as `current`, its files hard
/// links (no copy of 800 MB; an update renames, never writes, what it replaces).
pub fn own_runtime(from: &Path) -> TempDir {
    let own = tempfile::tempdir().expect("temp dir");
    let source = from.join("current");
    let mut pending = vec![source.clone()];
    while let Some(dir) = pending.pop() {
        let target = own
            .path()
            .join("current")
            .join(dir.strip_prefix(&source).expect("inside"));
        std::fs::create_dir_all(&target).expect("mkdir");
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let entry = entry.expect("entry");
            let kind = entry.file_type().expect("type");
            let to = target.join(entry.file_name());
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(entry.path()).expect("link"), &to)
                    .expect("symlink");
            } else {
                std::fs::hard_link(entry.path(), &to).expect("hard link");
            }
        }
    }
    own
}

/// Tests that start a real gateway run one at a time: each takes a core and a gigabyte.
pub async fn one_gateway_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Settings for a server that runs a real gateway on any free port.
pub fn gateway_options() -> Options {
    let runtime = openclaw_runtime();
    Options {
        env: vec![
            ("CLAWHOST_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("CLAWHOST_GATEWAY_PORT".into(), "0".into()),
            ("CLAWHOST_GATEWAY_STOP_TIMEOUT".into(), "30s".into()),
        ],
        ..Options::default()
    }
}

/// `clawhost` with the test isolation below applied.
pub fn clawhost() -> Command {
    let mut command = Command::new(BIN);
    isolate(&mut command);
    command
}

/// Keeps the machine's environment (npm needs its proxy and CA settings) but drops every
/// `CLAWHOST_*` setting a developer may have exported, and shares the npm download cache.
fn isolate(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLAWHOST_") {
            command.env_remove(name);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        command.env("npm_config_cache", PathBuf::from(home).join(".npm"));
    }
}

/// reqwest as clawhost builds it: rustls with the ring provider (installed once).
/// Idle pooled connections are dropped before the server's header timeout (10 s) would close
/// them under the client, as browsers do.
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(3))
}

/// A pseudo-terminal: what is written to the `Stdio` end is read from the `File`.
pub fn terminal() -> (std::fs::File, Stdio) {
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    (std::fs::File::from(pty.master), Stdio::from(pty.slave))
}

pub fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The session token a response sets, read from its `Set-Cookie`.
pub fn set_cookie_token(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next()?.split_once('='))
        .find(|(name, value)| name.ends_with("clawhost_session") && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// A browser-like client bound to one server.
pub struct Client {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// A form post, as a page's form sends it.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.http.post(self.url(path)).send().await.expect("POST")
    }

    /// A GET as a browser navigation (accepting HTML).
    pub async fn get_html(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("GET")
    }

    /// The newest security events (up to 200), oldest last.
    pub async fn events(&self) -> Vec<Value> {
        let events = self.json("/api/auth/events?limit=200").await;
        events["events"].as_array().expect("events").clone()
    }

    /// The kinds of the newest security events.
    pub async fn event_kinds(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .filter_map(|e| e["kind"].as_str().map(str::to_owned))
            .collect()
    }

    /// A page's text, as a browser navigation gets it.
    pub async fn page_text(&self, path: &str) -> String {
        self.get_html(path).await.text().await.expect("page")
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE")
    }

    /// The session token in this client's cookie jar.
    pub fn session_token(&self) -> Option<String> {
        let url = self.base.parse().expect("url");
        let cookies = self.jar.cookies(&url)?;
        cookies
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| name.ends_with("clawhost_session"))
            .map(|(_, value)| value.to_string())
    }
}

/// A port nothing listens on now, for a server a test starts itself and names the port of.
///
/// Picked below the kernel's ephemeral range (32768 and up) and never twice in one run: a port
/// the OS handed out for `bind(0)` could be handed out again to another test's listener or
/// outbound connection before this test's server binds it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each run starts at its own offset, so two runs side by side rarely meet.
    static START: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        u16::try_from((nanos ^ std::process::id()) % u32::from(SPAN)).unwrap_or(0)
    });
    for _ in 0..SPAN {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) % SPAN;
        let port = FIRST + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

/// Polls `check` until it is true or `within` passes; returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts a response is RFC 9457 problem+json with the given status.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        content_type, "application/problem+json",
        "content type for {status}"
    );
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status, "status field: {body}");
    assert!(body["title"].is_string(), "title: {body}");
    assert!(body["type"].is_string(), "type: {body}");
    body
}

/// Every file under `dir`, recursively; a directory that goes while it is walked (a running
/// gateway's scratch space) is passed over.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let entries = match std::fs::read_dir(&next) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && next != dir => continue,
            Err(e) => panic!("read {}: {e}", next.display()),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A tool from PyPI that scripts/test installs into a virtualenv under ~/.cache/clawhost
/// (`venv`), or the one `env_var` names.
pub fn pypi_tool(env_var: &str, venv: &str, bin: &str) -> PathBuf {
    let path = match std::env::var_os(env_var) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME"))
            .join(".cache/clawhost")
            .join(venv)
            .join("bin")
            .join(bin),
    };
    assert!(
        path.is_file(),
        "{bin} is not at {}: run scripts/test, which installs it there (or set {env_var} to \
         one you installed)",
        path.display()
    );
    path
}

/// Serves `app` on a free loopback port for a test's simulated service (an LLM provider, a
/// sign-in broker): its address, and the task to abort when done.
pub async fn serve_on_loopback(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// Runs a command that must refuse to start and returns what it said on stderr. A command
/// that starts instead is stopped after a deadline, so the test fails rather than hangs.
pub fn refusal(command: &mut std::process::Command) -> String {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("it started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut message = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut message)
        .expect("stderr");
    assert!(!status.success(), "{message}");
    message
}
