//! The Control UI proxy, measured against the same real gateway directly and behind nginx,
//! in one run: HTTP throughput, latency and the proxy's own CPU per request on a Control UI
//! asset (wrk, CPU from `/proc/<pid>/stat` around each run; asked with `Cache-Control:
//! no-cache`, so clawhost forwards it like nginx does, and once more from clawhost's asset
//! cache), the Control UI's cold load in
//! Chromium, WebSocket RPC round trips (`health`), clawhost's memory idle and with 200 open
//! sockets; then the same cold load and CPU over https, clawhost (rustls, HTTP/2) against
//! nginx (OpenSSL, HTTP/2); and the egress proxy between the gateway and its provider
//! against a direct call (see `egress`). Every figure is the median of `ROUNDS` interleaved
//! rounds, with its spread.
//!
//! Run: `cargo bench --bench proxy` (needs `nginx`, `wrk`, `openssl` and Chromium with
//! e2e/node_modules, as scripts/test installs them, and the OpenClaw runtime, installed on
//! first use like the tests do). Results are ratios within this run; absolute numbers depend
//! on the machine.

// A measurement that cannot be taken ends the run with its reason; the run is one script,
// read top to bottom; counts become floating point only to be reported.
#![allow(
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::cast_precision_loss
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "proxy/egress.rs"]
mod egress;

const BIN: &str = env!("CARGO_BIN_EXE_clawhost");
const PASSWORD: &str = "benchmark password, long enough";
const WRK_SECONDS: &str = "10s";
const WRK_CONNECTIONS: &str = "32";
const RPC_ROUNDS: usize = 500;
const SOCKETS: usize = 200;
/// Interleaved rounds per measurement (wrk runs, cold loads).
const ROUNDS: usize = 3;
/// Cold loads per target in each round of the Chromium script.
const LOADS: usize = 7;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id().cast_signed()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

/// The session token a response sets.
fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(name, _)| name.ends_with("clawhost_session"))
        .map(|(_, v)| v.to_string())
        .expect("session cookie")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn runtime_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).expect("HOME");
    let dir = home.join(".cache/clawhost/runtime-2026.9.6");
    if !dir.join("current/runtime.json").is_file() {
        let status = Command::new(BIN)
            .args(["install-openclaw", "--runtime-dir"])
            .arg(&dir)
            .arg("--data-dir")
            .arg(std::env::temp_dir().join("clawhost-bench-install"))
            .status()
            .expect("install-openclaw");
        assert!(status.success(), "install-openclaw failed");
    }
    dir
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// The variable `name` of the gateway's environment.
fn gateway_env(pid: u64, name: &str) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let prefix = format!("{name}=");
    environ
        .split(|b| *b == 0)
        .filter_map(|e| std::str::from_utf8(e).ok())
        .find_map(|e| e.strip_prefix(prefix.as_str()))
        .expect("the variable")
        .to_string()
}

struct Wrk {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: f64,
}

fn millis(text: &str) -> f64 {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

/// Asks every cache on the way to go to the gateway, as a browser's hard reload does: the
/// proxying itself is measured, not clawhost's asset cache.
const PAST_CACHES: &str = "Cache-Control: no-cache";

fn wrk(url: &str, headers: &[String]) -> Wrk {
    let mut command = Command::new("wrk");
    command.args([
        "-t2",
        "-c",
        WRK_CONNECTIONS,
        "-d",
        WRK_SECONDS,
        "--latency",
        "-H",
        "Accept-Encoding: gzip",
    ]);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let non_2xx = text.lines().any(|l| l.contains("Non-2xx"));
    assert!(!non_2xx, "wrk saw errors for {url}:\n{text}");
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    Wrk {
        requests_per_sec: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
        requests,
    }
}

/// CPU time (user + system) the processes `pids` have used, in microseconds.
fn cpu_micros(pids: &[u32]) -> f64 {
    // Clock ticks: 100 per second on Linux (USER_HZ).
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            Some(ticks(11)? + ticks(12)?)
        })
        .sum::<f64>()
        * 10_000.0
}

/// `master` and the processes whose parent it is (nginx's worker).
fn with_children(master: u32) -> Vec<u32> {
    let mut pids = vec![master];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u32>()
                    .ok()
            });
        if parent == Some(master) {
            pids.push(pid);
        }
    }
    pids
}

/// One wrk run, with the CPU the proxy (`pids`, none for the gateway itself) spent on each
/// request in it, in microseconds.
fn wrk_with_cpu(url: &str, headers: &[String], pids: &[u32]) -> (Wrk, f64) {
    let before = cpu_micros(pids);
    let run = wrk(url, headers);
    let per_request = (cpu_micros(pids) - before) / run.requests;
    (run, per_request)
}

/// The median and the spread (lowest, highest) of `values`.
fn median(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    } else {
        sorted[mid]
    };
    (median, sorted[0], sorted[sorted.len() - 1])
}

fn shown((median, low, high): (f64, f64, f64), digits: usize) -> String {
    format!("{median:.digits$} ({low:.digits$}–{high:.digits$})")
}

/// A cold-load target for e2e/cold-load.mjs.
fn target(name: &str, url: &str, cookie: Option<(&str, &str)>) -> Value {
    let mut target = json!({"name": name, "url": url});
    if let Some((name, value)) = cookie {
        target["cookie"] = json!({"name": name, "value": value});
    }
    target
}

/// Cold loads of one target: the times in milliseconds, and the protocol the page came over.
struct Loads {
    times: std::collections::BTreeMap<String, Vec<f64>>,
    protocols: std::collections::BTreeMap<String, String>,
}

/// The Control UI's cold load for each target: `ROUNDS × LOADS` loads each, interleaved.
fn cold_loads(targets: &[Value]) -> Loads {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/cold-load.mjs");
    let output = Command::new("node")
        .arg(script)
        .env(
            "CLAWHOST_BENCH_TARGETS",
            Value::from(targets.to_vec()).to_string(),
        )
        .env("CLAWHOST_BENCH_ROUNDS", (ROUNDS * LOADS).to_string())
        .output()
        .expect("node (and Chromium, e2e/node_modules: scripts/test installs them)");
    assert!(output.status.success(), "cold-load.mjs: {output:?}");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("cold-load.mjs prints JSON");
    Loads {
        times: serde_json::from_value(printed["times"].clone()).expect("times"),
        protocols: serde_json::from_value(printed["protocols"].clone()).expect("protocols"),
    }
}

/// A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem).
fn certificate(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req");
}

async fn socket(url: &str, origin: &str, cookie: Option<&str>) -> Socket {
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("origin"));
    if let Some(cookie) = cookie {
        request.headers_mut().insert(
            "cookie",
            format!("clawhost_session={cookie}")
                .parse()
                .expect("cookie"),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .expect("socket")
        .0
}

async fn next_res(socket: &mut Socket, id: &str) -> Value {
    loop {
        if let Message::Text(text) = socket.next().await.expect("open").expect("frame") {
            let frame: Value = serde_json::from_str(text.as_str()).expect("json");
            if frame["type"] == "res" && frame["id"] == id {
                return frame;
            }
            if frame["event"] == "connect.challenge" && id == "challenge" {
                return frame;
            }
        }
    }
}

async fn handshake(socket: &mut Socket, token: Option<&str>) {
    next_res(socket, "challenge").await;
    let mut params = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "gateway-client", "version": "bench", "platform": "linux", "mode": "backend"},
        "role": "operator", "scopes": ["operator.read"], "caps": [],
    });
    if let Some(token) = token {
        params["auth"] = json!({"token": token});
    }
    let connect = json!({"type": "req", "id": "connect", "method": "connect", "params": params});
    socket
        .send(Message::text(connect.to_string()))
        .await
        .expect("send");
    let hello = next_res(socket, "connect").await;
    assert_eq!(hello["ok"], true, "{hello}");
}

/// p50 and p99 of `health` round trips, in milliseconds.
async fn rpc_round_trips(mut socket: Socket) -> (f64, f64) {
    let mut times = Vec::with_capacity(RPC_ROUNDS);
    for round in 0..RPC_ROUNDS {
        let id = format!("h{round}");
        let started = Instant::now();
        socket
            .send(Message::text(
                json!({"type": "req", "id": id, "method": "health", "params": {}}).to_string(),
            ))
            .await
            .expect("send");
        next_res(&mut socket, &id).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    // The time at index (n - 1) × percent / 100 of the sorted times, rounded half up.
    let at = |percent: usize| times[((times.len() - 1) * percent + 50) / 100];
    (at(50), at(99))
}

fn start_nginx(dir: &Path, port: u16, gateway_port: u16, token: &str, tls: bool) -> Killed {
    let listen = if tls {
        format!(
            "listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {dir}/cert.pem;\n    ssl_certificate_key {dir}/key.pem;\n    ssl_protocols TLSv1.2 TLSv1.3;",
            dir = dir.display()
        )
    } else {
        format!("listen 127.0.0.1:{port};")
    };
    let conf = format!(
        r#"daemon off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream gateway {{ server 127.0.0.1:{gateway_port}; keepalive 64; }}
  server {{
    {listen}
    location /openclaw {{
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Host 127.0.0.1:{gateway_port};
      proxy_set_header Authorization "Bearer {token}";
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
    }}
  }}
}}
"#,
        dir = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx)");
    Killed(child)
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {port}");
}

/// clawhost on `port` with its data in `data`, over https from `tls` (a directory with
/// cert.pem and key.pem) when given.
fn start_clawhost(data: &Path, runtime: &Path, port: u16, tls: Option<&Path>) -> Killed {
    let mut command = Command::new(BIN);
    command
        .args([
            "serve",
            "--allow-root",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .env("CLAWHOST_RUNTIME_DIR", runtime)
        .env("CLAWHOST_GATEWAY_PORT", "0")
        .env("CLAWHOST_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = tls {
        command
            .env("CLAWHOST_TLS_MODE", "files")
            .env("CLAWHOST_TLS_CERT_FILE", dir.join("cert.pem"))
            .env("CLAWHOST_TLS_KEY_FILE", dir.join("key.pem"));
    }
    Killed(command.spawn().expect("clawhost"))
}

/// A claim code from `clawhost claim-code` (its last line).
fn claim_code(data: &Path) -> String {
    let output = Command::new(BIN)
        .args(["claim-code", "--data-dir"])
        .arg(data)
        .output()
        .expect("claim-code");
    assert!(output.status.success(), "claim-code: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("a code")
        .to_string()
}

/// The gateway's port and token, once clawhost says it runs.
async fn running_gateway(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    data: &Path,
) -> (u16, String) {
    for attempt in 0..600 {
        let status: Option<Value> = match http
            .get(format!("{base}/api/gateway/status"))
            .header("cookie", cookie)
            .send()
            .await
        {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        if let Some(status) = &status {
            assert_ne!(status["state"], "needs_attention", "{status}");
        }
        if attempt % 40 == 39 {
            eprintln!("still waiting for the gateway at {base}: {status:?}");
        }
        if let Some(status) = status.filter(|s| s["state"] == "running") {
            let pid = status["pid"].as_u64().expect("pid");
            let token = gateway_env(pid, "OPENCLAW_GATEWAY_TOKEN");
            settled(u32::try_from(pid).expect("a pid")).await;
            let config: Value = serde_json::from_str(
                &std::fs::read_to_string(data.join("openclaw/openclaw.json")).expect("config"),
            )
            .expect("json");
            let port = config["gateway"]["port"].as_u64().expect("port");
            return (u16::try_from(port).expect("a port"), token);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the gateway did not come up at {base}");
}

/// One path wrk runs on.
struct WrkPath {
    name: &'static str,
    url: String,
    /// The session cookie, for clawhost.
    cookie: Option<String>,
    /// Whether clawhost's asset cache may answer.
    cached: bool,
    /// The proxy's processes, none for the gateway itself.
    pids: Vec<u32>,
}

impl WrkPath {
    fn new(name: &'static str, url: String, cookie: Option<&str>, pids: Vec<u32>) -> Self {
        Self {
            name,
            url,
            cookie: cookie.map(str::to_owned),
            cached: false,
            pids,
        }
    }

    fn cached(mut self) -> Self {
        self.cached = true;
        self
    }

    fn headers(&self) -> Vec<String> {
        let mut headers: Vec<String> = self.cookie.iter().map(|c| format!("Cookie: {c}")).collect();
        if !self.cached {
            headers.push(PAST_CACHES.to_string());
        }
        headers
    }
}

/// Waits until the gateway has finished starting up: a freshly started gateway keeps a core
/// busy for a minute or more, which would weigh on whichever path is measured first. Settled
/// means under a tenth of a core for three seconds in a row (two minutes at most).
async fn settled(pid: u32) {
    let mut quiet = 0;
    for _ in 0..120 {
        let before = cpu_micros(&[pid]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used = cpu_micros(&[pid]) - before;
        quiet = if used < 100_000.0 { quiet + 1 } else { 0 };
        if quiet == 3 {
            return;
        }
    }
    eprintln!("the gateway did not settle; measuring anyway");
}

/// `ROUNDS` interleaved wrk runs on each path.
fn wrk_rounds(paths: &[WrkPath]) -> Vec<(&'static str, Vec<Wrk>, Vec<f64>)> {
    let mut out: Vec<(&'static str, Vec<Wrk>, Vec<f64>)> = paths
        .iter()
        .map(|p| (p.name, Vec::new(), Vec::new()))
        .collect();
    for _ in 0..ROUNDS {
        for (i, path) in paths.iter().enumerate() {
            let (run, cpu) = wrk_with_cpu(&path.url, &path.headers(), &path.pids);
            out[i].1.push(run);
            out[i].2.push(cpu);
        }
    }
    out
}

fn print_wrk(title: &str, rows: &[(&'static str, Vec<Wrk>, Vec<f64>)]) {
    println!();
    println!("{title}");
    println!("| path | HTTP req/s | p50 ms | p99 ms | proxy CPU µs/request |");
    println!("|---|---:|---:|---:|---:|");
    for (name, runs, cpu) in rows {
        let of = |f: fn(&Wrk) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let cpu = if cpu.iter().all(|c| c.is_nan() || *c == 0.0) {
            "—".to_string()
        } else {
            shown(median(cpu), 1)
        };
        println!(
            "| {name} | {} | {} | {} | {cpu} |",
            shown(of(|w| w.requests_per_sec), 0),
            shown(of(|w| w.p50_ms), 2),
            shown(of(|w| w.p99_ms), 2),
        );
    }
}

fn cpu_of<'a>(rows: &'a [(&'static str, Vec<Wrk>, Vec<f64>)], name: &str) -> &'a [f64] {
    &rows.iter().find(|r| r.0 == name).expect("row").2
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let llm = egress::start_llm().await;
    let work = tempfile::tempdir().expect("temp dir");
    let runtime = runtime_dir();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = work.path().join("data");
    let clawhost = start_clawhost(&data, &runtime, port, None);
    wait_port(port).await;
    let code = claim_code(&data);
    let fresh_rss = rss_bytes(clawhost.0.id());

    let http = reqwest::Client::builder()
        .cookie_store(false)
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let claimed = http
        .post(format!("{base}/api/auth/claim"))
        .header("origin", &base)
        .json(&json!({"code": code, "password": PASSWORD}))
        .send()
        .await
        .expect("claim");
    let session = set_cookie(&claimed);
    let cookie = format!("clawhost_session={session}");
    let with_session = |request: reqwest::RequestBuilder| {
        request.header("origin", &base).header("cookie", &cookie)
    };
    let saved = with_session(http.put(format!("{base}/api/gateway/settings")))
        .json(&json!({"provider": "openai-compatible", "api_key": "sk-bench", "base_url": llm, "model": "bench"}))
        .send()
        .await
        .expect("settings");
    assert!(
        saved.status().is_success(),
        "settings: {}",
        saved.text().await.unwrap_or_default()
    );
    let started = with_session(http.post(format!("{base}/api/gateway/start")))
        .send()
        .await
        .expect("start");
    assert!(
        started.status().is_success(),
        "start: {}",
        started.text().await.unwrap_or_default()
    );
    let (gateway_port, token) = running_gateway(&http, &base, &cookie, &data).await;
    {
        let status: Value = with_session(http.get(format!("{base}/api/gateway/status")))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let pid = status["pid"].as_u64().expect("pid");
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("openclaw/openclaw.json")).expect("config"),
        )
        .expect("json");
        let through = config["models"]["providers"]["custom"]["baseUrl"]
            .as_str()
            .expect("the egress proxy");
        let virtual_key = gateway_env(pid, "CLAWHOST_EGRESS_KEY");
        egress::measure(&llm, through, &virtual_key, clawhost.0.id()).await;
    }
    // `cargo bench --bench proxy -- egress`: the egress proxy alone (no wrk, nginx or Chromium).
    if std::env::args().skip(1).any(|arg| arg == "egress") {
        return;
    }
    let direct = format!("http://127.0.0.1:{gateway_port}");
    let nginx_port = free_port();
    let nginx_dir = work.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).expect("nginx dir");
    let nginx = start_nginx(&nginx_dir, nginx_port, gateway_port, &token, false);
    wait_port(nginx_port).await;
    let via_nginx = format!("http://127.0.0.1:{nginx_port}");

    let html = with_session(http.get(format!("{base}/openclaw/")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let asset = html
        .split('"')
        .find(|p| {
            p.starts_with("/openclaw/assets/")
                && Path::new(p).extension().is_some_and(|e| e == "css")
        })
        .or_else(|| html.split('"').find(|p| p.starts_with("/openclaw/assets/")))
        .expect("an asset")
        .to_string();

    // Idle means idle: tokio retires blocking threads after 10 s without work, and the
    // allocator returns what they held (the password hash's working memory).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let idle_rss = rss_bytes(clawhost.0.id());

    println!("asset: {asset}");
    let plain = wrk_rounds(&[
        WrkPath::new("direct", format!("{direct}{asset}"), None, Vec::new()),
        WrkPath::new(
            "clawhost",
            format!("{base}{asset}"),
            Some(&cookie),
            vec![clawhost.0.id()],
        ),
        WrkPath::new(
            "clawhost, asset cache",
            format!("{base}{asset}"),
            Some(&cookie),
            vec![clawhost.0.id()],
        )
        .cached(),
        WrkPath::new(
            "nginx",
            format!("{via_nginx}{asset}"),
            None,
            with_children(nginx.0.id()),
        ),
    ]);
    let loads = cold_loads(&[
        target("direct", &format!("{direct}/openclaw/"), None),
        target(
            "clawhost",
            &format!("{base}/openclaw/"),
            Some(("clawhost_session", &session)),
        ),
        target("nginx", &format!("{via_nginx}/openclaw/"), None),
    ]);

    let mut direct_socket = socket(
        &format!("ws://127.0.0.1:{gateway_port}/openclaw"),
        &direct,
        None,
    )
    .await;
    handshake(&mut direct_socket, Some(&token)).await;
    let ws_direct = rpc_round_trips(direct_socket).await;
    let mut clawhost_socket = socket(
        &format!("ws://127.0.0.1:{port}/openclaw"),
        &base,
        Some(&session),
    )
    .await;
    handshake(&mut clawhost_socket, None).await;
    let ws_clawhost = rpc_round_trips(clawhost_socket).await;
    let mut nginx_socket = socket(
        &format!("ws://127.0.0.1:{nginx_port}/openclaw"),
        &direct,
        None,
    )
    .await;
    handshake(&mut nginx_socket, Some(&token)).await;
    let ws_nginx = rpc_round_trips(nginx_socket).await;

    // 200 sockets through clawhost, over 13 sessions (16 per session at most).
    let mut sessions = vec![session.clone()];
    while sessions.len() < SOCKETS.div_ceil(16) {
        let response = http
            .post(format!("{base}/api/auth/login"))
            .header("origin", &base)
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .expect("login");
        sessions.push(set_cookie(&response));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before_sockets = rss_bytes(clawhost.0.id());
    let mut sockets = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let mut s = socket(
            &format!("ws://127.0.0.1:{port}/openclaw"),
            &base,
            Some(&sessions[i / 16]),
        )
        .await;
        handshake(&mut s, None).await;
        sockets.push(s);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sockets_rss = rss_bytes(clawhost.0.id());
    drop(sockets);

    // The same over https: clawhost restarted on the same data with TLS (the gateway it
    // wanted running comes back), nginx with TLS and HTTP/2 in front of that gateway.
    drop(nginx);
    drop(clawhost);
    certificate(&nginx_dir);
    let tls_port = free_port();
    let tls_base = format!("https://127.0.0.1:{tls_port}");
    let tls_clawhost = start_clawhost(&data, &runtime, tls_port, Some(&nginx_dir));
    wait_port(tls_port).await;
    let tls_cookie = format!("__Host-clawhost_session={session}");
    let (gateway_port, token) = running_gateway(&http, &tls_base, &tls_cookie, &data).await;
    let nginx_tls_port = free_port();
    let nginx_tls = start_nginx(&nginx_dir, nginx_tls_port, gateway_port, &token, true);
    wait_port(nginx_tls_port).await;
    let tls_nginx = format!("https://127.0.0.1:{nginx_tls_port}");
    let secure = wrk_rounds(&[
        WrkPath::new(
            "clawhost https",
            format!("{tls_base}{asset}"),
            Some(&tls_cookie),
            vec![tls_clawhost.0.id()],
        ),
        WrkPath::new(
            "clawhost https, asset cache",
            format!("{tls_base}{asset}"),
            Some(&tls_cookie),
            vec![tls_clawhost.0.id()],
        )
        .cached(),
        WrkPath::new(
            "nginx https",
            format!("{tls_nginx}{asset}"),
            None,
            with_children(nginx_tls.0.id()),
        ),
    ]);
    let secure_loads = cold_loads(&[
        target(
            "clawhost https",
            &format!("{tls_base}/openclaw/"),
            Some(("__Host-clawhost_session", &session)),
        ),
        target("nginx https", &format!("{tls_nginx}/openclaw/"), None),
    ]);

    print_wrk(
        "Plain http (wrk over HTTP/1.1; `Cache-Control: no-cache` but on the asset cache's row):",
        &plain,
    );
    print_wrk("https (wrk over HTTP/1.1 with TLS; the same):", &secure);
    println!();
    println!("Control UI cold load in Chromium, ms (load event; a fresh context each time):");
    println!("| path | protocol | median (lowest–highest) |");
    println!("|---|---|---:|");
    for run in [&loads, &secure_loads] {
        for (name, times) in &run.times {
            let protocol = run.protocols.get(name).map_or("?", String::as_str);
            println!("| {name} | {protocol} | {} |", shown(median(times), 0));
        }
    }
    println!();
    println!("| WS `health` RPC | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    for (name, w) in [
        ("direct", ws_direct),
        ("clawhost", ws_clawhost),
        ("nginx", ws_nginx),
    ] {
        println!("| {name} | {:.3} | {:.3} |", w.0, w.1);
    }
    let load = |run: &Loads, name: &str| median(&run.times[name]).0;
    println!();
    println!("Ratios (medians):");
    println!(
        "- cold load clawhost / nginx: {:.2} over http, {:.2} over https",
        load(&loads, "clawhost") / load(&loads, "nginx"),
        load(&secure_loads, "clawhost https") / load(&secure_loads, "nginx https")
    );
    let cpu = |rows: &[(&'static str, Vec<Wrk>, Vec<f64>)], of: &str, to: &str| {
        median(cpu_of(rows, of)).0 / median(cpu_of(rows, to)).0
    };
    println!(
        "- proxy CPU per request clawhost / nginx: {:.2} over http, {:.2} over https (from the asset cache: {:.2}, {:.2})",
        cpu(&plain, "clawhost", "nginx"),
        cpu(&secure, "clawhost https", "nginx https"),
        cpu(&plain, "clawhost, asset cache", "nginx"),
        cpu(&secure, "clawhost https, asset cache", "nginx https"),
    );
    println!(
        "- WS p50 clawhost / direct: {:.2}",
        ws_clawhost.0 / ws_direct.0
    );
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "- clawhost RSS: {:.1} MiB at start, {:.1} MiB idle signed in with the gateway running, {:.1} MiB after {} more sign-ins, {:.1} MiB with {SOCKETS} open sockets",
        mib(fresh_rss),
        mib(idle_rss),
        mib(rss_before_sockets),
        sessions.len() - 1,
        mib(sockets_rss)
    );

    http.post(format!("{tls_base}/api/gateway/stop"))
        .header("origin", &tls_base)
        .header("cookie", &tls_cookie)
        .send()
        .await
        .expect("stop");
    drop(nginx_tls);
    drop(tls_clawhost);
}
