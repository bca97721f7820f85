//! The Control UI behind clawhost, HTTP and WebSocket, against the real gateway.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::gateway::{configure_test_llm, gateway_port, gateway_token, wait_for_state};
use crate::harness::{TestServer, assert_problem, gateway_options, one_gateway_at_a_time};
use crate::llm::TestLlm;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(
    server: &TestServer,
    cookie: Option<&str>,
    origin: &str,
) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/openclaw", server.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("origin"));
    if let Some(token) = cookie {
        request.headers_mut().insert(
            "cookie",
            format!("clawhost_session={token}").parse().expect("cookie"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("unexpected socket error: {error}"),
    }
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_mins(1), socket.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("json frame");
        }
    }
}

/// Waits for the close frame; returns its code and how long it took.
async fn closed_with(socket: &mut Socket, within: Duration) -> (u16, Duration) {
    let start = Instant::now();
    loop {
        let next = tokio::time::timeout(within, socket.next())
            .await
            .expect("closed in time");
        match next {
            Some(Ok(Message::Close(frame))) => {
                return (frame.map_or(1005, |f| u16::from(f.code)), start.elapsed());
            }
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// Connects as the Control UI's handshake would, but without any credential of its own:
/// `hello-ok` proves the proxy added it.
async fn handshake(socket: &mut Socket) -> Value {
    let challenge = next_json(socket).await;
    assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
    let connect = json!({
        "type": "req", "id": "c1", "method": "connect",
        "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "gateway-client", "version": "test", "platform": "linux", "mode": "backend"},
            "role": "operator", "scopes": ["operator.read"], "caps": [], "locale": "en-US", "userAgent": "test",
        }
    });
    socket
        .send(Message::text(connect.to_string()))
        .await
        .expect("send");
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == "res" && frame["id"] == "c1" {
            return frame;
        }
    }
}

async fn connected(server: &TestServer, token: &str) -> Socket {
    let mut socket = open_socket(server, Some(token), &server.base)
        .await
        .expect("upgrade");
    let hello = handshake(&mut socket).await;
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["type"], "hello-ok");
    socket
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// TCP connections on loopback to or from `port` other than its listener, in any state
/// (TIME_WAIT included: a closed connection stays counted for a minute).
fn tcp_connections_with(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(3) == Some(&"0A");
            !listening && (fields[1].ends_with(&port) || fields[2].ends_with(&port))
        })
        .count()
}

fn never_contains(haystack: &str, secret: &str, what: &str) {
    assert!(!haystack.contains(secret), "the gateway token is in {what}");
}

/// Paths OpenClaw would resolve to its operator API, outside the Control UI.
const DOTTED: &[&str] = &[
    "/openclaw/../tools/invoke",
    "/openclaw/%2e%2e/tools/invoke",
    "/openclaw/.%2E/tools/invoke",
    "/openclaw/..%2ftools/invoke",
    "/openclaw/..%5Ctools/invoke",
    "/openclaw/..\\tools/invoke",
    "/openclaw/./../tools/invoke",
    "/openclaw/x%00/../../tools/invoke",
];

fn dotted_post(path: &str, server: &TestServer, token: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nCookie: clawhost_session={token}\r\nOrigin: {}\r\nContent-Length: 0",
        server.origin
    )
}

/// Issue 11, defect 4: with the owner's session, a path with dot-segments (plain, encoded,
/// behind a backslash) is refused by clawhost itself (400), before the gateway is asked;
/// before the fix it was forwarded as it came.
#[tokio::test]
async fn paths_that_leave_the_control_ui_are_refused() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let token = owner.session_token().expect("token");
    for path in DOTTED {
        let (status, text) = server.raw(&dotted_post(path, &server, &token));
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains("application/problem+json"), "{text}");
    }
    let (status, _) = server.raw(&format!(
        "GET /openclaw/assets/app.js HTTP/1.1\r\nCookie: clawhost_session={token}"
    ));
    assert_eq!(status, 503, "a plain path goes on to the (stopped) gateway");
}

#[tokio::test]
async fn control_ui_through_the_proxy() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let mut options = gateway_options();
    let metrics_dir = tempfile::tempdir().expect("dir");
    options
        .env
        .extend(crate::metrics::with_token(metrics_dir.path()));
    options
        .env
        .push(("CLAWHOST_PROXY_WS_IDLE_TIMEOUT".into(), "4s".into()));
    options
        .env
        .push(("CLAWHOST_PROXY_WS_MAX_MESSAGE".into(), "256KiB".into()));
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    let owner_token = owner.session_token().expect("token");

    // Gateway stopped: 503, with a way back to the dashboard.
    let stopped = owner.get_html("/openclaw/").await;
    assert_eq!(stopped.status(), 503);
    assert!(stopped.text().await.expect("html").contains("href=\"/\""));

    configure_test_llm(&owner, &llm, "sk-test-proxy").await;
    server.secret("sk-test-proxy");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    let token = gateway_token(status["pid"].as_u64().expect("pid"));
    server.secret(&token);

    // Channel health comes from the running gateway.
    let channels = owner.json("/api/channels").await;
    assert!(channels["channels"].is_array(), "{channels}");
    assert_eq!(
        owner.json("/api/channels/whatsapp").await["source"],
        "gateway"
    );

    // No session: pages go to the sign-in, everything else is 401.
    let anonymous = server.client();
    let page = anonymous.get_html("/openclaw/").await;
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=/openclaw/");
    assert_problem(anonymous.get("/openclaw/control-ui-config.json").await, 401).await;
    assert_eq!(
        open_socket(&server, None, &server.base).await.err(),
        Some(401)
    );
    assert_eq!(
        open_socket(&server, Some(&owner_token), "https://evil.example")
            .await
            .err(),
        Some(403)
    );

    // Paths that would resolve outside the Control UI never reach the running gateway.
    for path in DOTTED {
        let (status, text) = server.raw(&dotted_post(path, &server, &owner_token));
        assert_eq!(status, 400, "{path}: {text}");
    }

    // With the session: the gateway's own page, never cached, nothing secret in it.
    let page = owner.get_html("/openclaw/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    let headers = format!("{:?}", page.headers());
    let html = page.text().await.expect("html");
    assert!(
        html.contains("data-openclaw-control-ui-base-path=\"/openclaw\""),
        "{html}"
    );
    assert_ne!(
        csp,
        clawhost::CONTENT_SECURITY_POLICY,
        "the gateway's CSP passes through"
    );
    never_contains(&html, &token, "the page");
    never_contains(&headers, &token, "the headers");

    // An asset, compressed as the gateway serves it, bytes untouched.
    let asset = html
        .split('"')
        .find(|part| {
            part.starts_with("/openclaw/assets/")
                && std::path::Path::new(part)
                    .extension()
                    .is_some_and(|e| e == "js")
        })
        .expect("a script asset")
        .to_string();
    let script = owner
        .http
        .get(owner.url(&asset))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("asset");
    assert_eq!(script.status(), 200);
    let encoding = script
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().expect("text").to_string());
    let body = script.bytes().await.expect("bytes");
    assert!(!body.is_empty());
    if encoding.as_deref() == Some("gzip") {
        assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip bytes passed through");
    }

    // The second time the same asset comes from clawhost's cache (an `Age` header), the same
    // bytes in the same encoding; another encoding is another entry; never without a session,
    // never the HTML.
    let fetch_asset = |encoding: &'static str| {
        owner
            .http
            .get(owner.url(&asset))
            .header("accept-encoding", encoding)
            .send()
    };
    let again = fetch_asset("gzip").await.expect("asset");
    assert_eq!(again.status(), 200);
    assert!(again.headers().contains_key("age"), "{:?}", again.headers());
    assert_eq!(
        again
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().expect("text").to_string()),
        encoding
    );
    assert_eq!(again.bytes().await.expect("bytes"), body);
    let other = fetch_asset("identity").await.expect("asset");
    assert!(!other.headers().contains_key("age"), "a first answer");
    assert!(other.headers().get("content-encoding").is_none());
    assert!(
        fetch_asset("identity")
            .await
            .expect("asset")
            .headers()
            .contains_key("age")
    );
    let without_session = anonymous
        .http
        .get(anonymous.url(&asset))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("asset");
    assert_problem(without_session, 401).await;
    assert!(
        !owner
            .get_html("/openclaw/")
            .await
            .headers()
            .contains_key("age"),
        "HTML is never kept"
    );

    // One pooled upstream client (audit H5): twenty requests reuse its connection instead of
    // opening (and leaving in TIME_WAIT) one each.
    let port = gateway_port(&server);
    let before = tcp_connections_with(port);
    for _ in 0..20 {
        let config = owner.get("/openclaw/control-ui-config.json").await;
        assert_eq!(config.status(), 200);
        config.bytes().await.expect("body");
    }
    let opened = tcp_connections_with(port).saturating_sub(before);
    assert!(
        opened <= 2,
        "{opened} new connections to the gateway for 20 requests"
    );

    // The socket: authenticated by the proxy, never by the client.
    let mut socket = connected(&server, &owner_token).await;
    socket
        .send(Message::text(
            json!({"type": "req", "id": "h1", "method": "health", "params": {}}).to_string(),
        ))
        .await
        .expect("send");
    loop {
        let frame = next_json(&mut socket).await;
        never_contains(&frame.to_string(), &token, "a frame");
        if frame["id"] == "h1" {
            assert_eq!(frame["ok"], true, "{frame}");
            break;
        }
    }
    // A message over the limit closes with 1009.
    socket
        .send(Message::text("x".repeat(300 * 1024)))
        .await
        .expect("send");
    assert_eq!(
        closed_with(&mut socket, Duration::from_secs(10)).await.0,
        1009
    );

    // A first frame over 64 KiB closes with 1009 before anything reaches the gateway.
    let mut socket = open_socket(&server, Some(&owner_token), &server.base)
        .await
        .expect("upgrade");
    let challenge = next_json(&mut socket).await;
    assert_eq!(challenge["event"], "connect.challenge");
    socket
        .send(Message::text("y".repeat(65 * 1024)))
        .await
        .expect("send");
    assert_eq!(
        closed_with(&mut socket, Duration::from_secs(10)).await.0,
        1009
    );

    // An idle socket closes with 1001 after the (shortened) idle timeout.
    let mut socket = connected(&server, &owner_token).await;
    let (code, took) = closed_with(&mut socket, Duration::from_mins(1)).await;
    assert_eq!(code, 1001);
    assert!(took >= Duration::from_secs(2), "closed too early: {took:?}");

    // Revoking a session closes its sockets within a second.
    let other = server.login().await;
    let other_token = other.session_token().expect("token");
    let mut socket = connected(&server, &other_token).await;
    let me = other.json("/api/auth/me").await;
    let id = me["session"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        owner
            .delete(&format!("/api/auth/sessions/{id}"))
            .await
            .status(),
        204
    );
    let (code, took) = closed_with(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    assert!(took <= Duration::from_secs(1), "took {took:?}");

    // Sixteen sockets per session, no more.
    let mut sockets = Vec::new();
    for _ in 0..16 {
        sockets.push(
            open_socket(&server, Some(&owner_token), &server.base)
                .await
                .expect("upgrade"),
        );
    }
    assert_eq!(
        open_socket(&server, Some(&owner_token), &server.base)
            .await
            .err(),
        Some(429)
    );
    drop(sockets);

    // Two hundred sockets at once, over 13 sessions, each making RPC round trips: every answer
    // matches its request, and clawhost's memory stays bounded.
    let mut tokens = Vec::new();
    for _ in 0..13 {
        tokens.push(server.login().await.session_token().expect("token"));
    }
    // Measured after the sign-ins: argon2's working memory is not the proxy's doing.
    let rss_before = rss_bytes(server.pid());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut socket = connected(&server, &tokens[i % tokens.len()]).await;
        tasks.push(tokio::spawn(async move {
            for round in 0..3 {
                let id = format!("s{i}-{round}");
                socket
                    .send(Message::text(
                        json!({"type": "req", "id": id, "method": "health", "params": {}})
                            .to_string(),
                    ))
                    .await
                    .expect("send");
                loop {
                    let frame = next_json(&mut socket).await;
                    if frame["type"] == "res" {
                        assert_eq!(frame["id"], id.as_str(), "answers stay on their socket");
                        assert_eq!(frame["ok"], true);
                        break;
                    }
                }
            }
            socket
        }));
    }
    let mut open = Vec::new();
    for task in tasks {
        open.push(task.await.expect("socket task"));
    }
    let rss_with_sockets = rss_bytes(server.pid());
    eprintln!(
        "clawhost RSS: {} MiB before, {} MiB with {} open sockets",
        rss_before / (1 << 20),
        rss_with_sockets / (1 << 20),
        open.len()
    );
    assert!(
        rss_with_sockets < rss_before + 64 * (1 << 20),
        "200 sockets grew clawhost by {} MiB",
        (rss_with_sockets - rss_before) / (1 << 20)
    );
    drop(open);

    // With a Control UI socket open through the proxy and a chat run (the gateway's own RPC,
    // the LLM through the egress proxy), the metrics move.
    let mut rpc =
        clawhost::RpcClient::connect(gateway_port(&server), &token, Duration::from_secs(30))
            .await
            .expect("rpc");
    let run = crate::egress::chat_ends(&mut rpc, "hello, metrics", "metrics-chat").await;
    assert_eq!(run.last["state"], "final", "{:?}", run.said);
    rpc.close().await;
    let open_socket_now = connected(&server, &owner_token).await;
    crate::metrics::scraped_while_the_gateway_runs(&server).await;
    drop(open_socket_now);

    // Restarting the gateway closes the sockets with 1012 within a second.
    let mut socket = connected(&server, &owner_token).await;
    assert_eq!(owner.post_empty("/api/gateway/restart").await.status(), 202);
    let (code, took) = closed_with(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(code, 1012);
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    let status = wait_for_state(&owner, "running").await;
    server.secret(&gateway_token(status["pid"].as_u64().expect("pid")));
    // The restarted gateway's assets are asked for again.
    let fresh = fetch_asset("gzip").await.expect("asset");
    assert_eq!(fresh.status(), 200);
    assert!(
        !fresh.headers().contains_key("age"),
        "kept across a restart"
    );
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}
