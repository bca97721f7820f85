//! The Control UI proxy, measured against the same real gateway directly and behind nginx,
//! in one run: HTTP throughput and latency on a Control UI asset (wrk), WebSocket RPC round
//! trips (`health`), and clawhost's memory idle and with 200 open sockets.
//!
//! Run: `cargo bench --bench proxy` (needs `nginx` and `wrk`: `apt-get install nginx wrk`,
//! and the OpenClaw runtime, installed on first use like the tests do). Results are ratios
//! within this run; absolute numbers depend on the machine.

// A measurement that cannot be taken ends the run with its reason; the run is one script,
// read top to bottom; counts become floating point only to be reported.
#![allow(
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::cast_precision_loss
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BIN: &str = env!("CARGO_BIN_EXE_clawhost");
const PASSWORD: &str = "benchmark password, long enough";
const WRK_SECONDS: &str = "10s";
const WRK_CONNECTIONS: &str = "32";
const RPC_ROUNDS: usize = 500;
const SOCKETS: usize = 200;

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
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.split_once('='))
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

fn gateway_token(pid: u64) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|e| std::str::from_utf8(e).ok())
        .find_map(|e| e.strip_prefix("OPENCLAW_GATEWAY_TOKEN="))
        .expect("token")
        .to_string()
}

struct Wrk {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
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

fn wrk(url: &str, cookie: Option<&str>) -> Wrk {
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
    if let Some(cookie) = cookie {
        command.args(["-H", &format!("Cookie: clawhost_session={cookie}")]);
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
    Wrk {
        requests_per_sec: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: millis(&field("50%")),
        p99_ms: millis(&field("99%")),
    }
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

fn start_nginx(dir: &Path, port: u16, gateway_port: u16, token: &str) -> Killed {
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
    listen 127.0.0.1:{port};
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

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().expect("temp dir");
    let runtime = runtime_dir();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = work.path().join("data");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--allow-root",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("CLAWHOST_RUNTIME_DIR", &runtime)
        .env("CLAWHOST_GATEWAY_PORT", "0")
        .env("CLAWHOST_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clawhost");
    let stdout = child.stdout.take().expect("stdout");
    let code = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .nth(1)
        .expect("claim code");
    let clawhost = Killed(child);
    wait_port(port).await;
    let fresh_rss = rss_bytes(clawhost.0.id());

    let http = reqwest::Client::builder()
        .cookie_store(false)
        .build()
        .expect("client");
    let claimed = http
        .post(format!("{base}/api/auth/claim"))
        .header("origin", &base)
        .json(&json!({"code": code, "password": PASSWORD}))
        .send()
        .await
        .expect("claim");
    let cookie = set_cookie(&claimed);
    let with_session = |request: reqwest::RequestBuilder| {
        request
            .header("origin", &base)
            .header("cookie", format!("clawhost_session={cookie}"))
    };
    with_session(http.put(format!("{base}/api/gateway/settings")))
        .json(&json!({"provider": "openai-compatible", "api_key": "sk-bench", "base_url": "http://127.0.0.1:9/v1", "model": "bench"}))
        .send()
        .await
        .expect("settings");
    with_session(http.post(format!("{base}/api/gateway/start")))
        .send()
        .await
        .expect("start");
    let wait_for = |wanted: &'static str| {
        let request = with_session(http.get(format!("{base}/api/gateway/status")));
        async move {
            loop {
                let status: Value = request
                    .try_clone()
                    .expect("clone")
                    .send()
                    .await
                    .expect("status")
                    .json()
                    .await
                    .expect("json");
                if status["state"] == wanted {
                    return status;
                }
                assert_ne!(status["state"], "needs_attention", "{status}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let status = wait_for("running").await;
    let token = gateway_token(status["pid"].as_u64().expect("pid"));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("openclaw/openclaw.json")).expect("config"),
    )
    .expect("json");
    let gateway_port =
        u16::try_from(config["gateway"]["port"].as_u64().expect("port")).expect("a port");
    let direct = format!("http://127.0.0.1:{gateway_port}");
    let nginx_port = free_port();
    let nginx_dir = work.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).expect("nginx dir");
    let _nginx = start_nginx(&nginx_dir, nginx_port, gateway_port, &token);
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
    let http_direct = wrk(&format!("{direct}{asset}"), None);
    let http_clawhost = wrk(&format!("{base}{asset}"), Some(&cookie));
    let http_nginx = wrk(&format!("{via_nginx}{asset}"), None);

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
        Some(&cookie),
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
    let mut cookies = vec![cookie.clone()];
    while cookies.len() < SOCKETS.div_ceil(16) {
        let response = http
            .post(format!("{base}/api/auth/login"))
            .header("origin", &base)
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .expect("login");
        cookies.push(set_cookie(&response));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before_sockets = rss_bytes(clawhost.0.id());
    let mut sockets = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let mut s = socket(
            &format!("ws://127.0.0.1:{port}/openclaw"),
            &base,
            Some(&cookies[i / 16]),
        )
        .await;
        handshake(&mut s, None).await;
        sockets.push(s);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sockets_rss = rss_bytes(clawhost.0.id());
    drop(sockets);

    let ratio = |a: f64, b: f64| a / b;
    println!();
    println!("| path | HTTP req/s | HTTP p50 ms | HTTP p99 ms | WS RPC p50 ms | WS RPC p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, h, w) in [
        ("direct", &http_direct, ws_direct),
        ("clawhost", &http_clawhost, ws_clawhost),
        ("nginx", &http_nginx, ws_nginx),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.3} | {:.3} |",
            h.requests_per_sec, h.p50_ms, h.p99_ms, w.0, w.1
        );
    }
    println!();
    println!(
        "clawhost/nginx HTTP throughput: {:.2}; clawhost/direct WS p50: {:.2}",
        ratio(http_clawhost.requests_per_sec, http_nginx.requests_per_sec),
        ratio(ws_clawhost.0, ws_direct.0)
    );
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "clawhost RSS: {:.1} MiB at start, {:.1} MiB idle with the gateway running, {:.1} MiB after {} more sign-ins, {:.1} MiB with {SOCKETS} open sockets",
        mib(fresh_rss),
        mib(idle_rss),
        mib(rss_before_sockets),
        cookies.len() - 1,
        mib(sockets_rss)
    );

    with_session(http.post(format!("{base}/api/gateway/stop")))
        .send()
        .await
        .expect("stop");
    wait_for("stopped").await;
    drop(clawhost);
}
