//! Prometheus metrics (`metrics.enabled`): on the main listener only with the bearer token of
//! `metrics.token_file`, or on an address of their own without one; off by default; labels
//! from closed sets, so random paths never grow the series; the text passes `promtool check
//! metrics` (Debian's `prometheus` package, which scripts/test installs). With the real
//! gateway, Control UI sockets through the proxy and a chat move the series
//! (`scraped_while_the_gateway_runs`, called from `proxy::control_ui_through_the_proxy`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Options, PASSWORD, TestServer, assert_problem, clawhost, refusal};

pub const TOKEN: &str = "metrics-token-for-the-tests-0123456789abcdef";

/// The settings that serve `/metrics` on the main listener, with the token in a file under
/// `dir`.
pub fn with_token(dir: &Path) -> Vec<(String, String)> {
    let file = dir.join("metrics.token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("token file");
    vec![
        ("CLAWHOST_METRICS_ENABLED".into(), "true".into()),
        (
            "CLAWHOST_METRICS_TOKEN_FILE".into(),
            file.display().to_string(),
        ),
    ]
}

/// A scrape with `authorization` as it is given.
async fn scrape_as(server: &TestServer, authorization: Option<&str>) -> reqwest::Response {
    let mut request = server.bare_client().get(server.url("/metrics"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("scrape")
}

/// The metrics' text, scraped with the token.
pub async fn scrape(server: &TestServer) -> String {
    let response = scrape_as(server, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text")
}

/// The value of the series `name{labels}` exactly (`name` alone without labels).
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn promtool() -> PathBuf {
    let path = std::env::var_os("PROMTOOL")
        .map_or_else(|| PathBuf::from("/usr/bin/promtool"), PathBuf::from);
    assert!(
        path.is_file(),
        "promtool is not at {}: install Debian's prometheus package (scripts/test does), or set PROMTOOL",
        path.display()
    );
    path
}

/// `promtool check metrics` on `text`: no problem found.
pub fn promtool_passes(text: &str) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_scrape_needs_its_token_and_stays_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with(Options {
        env: with_token(dir.path()),
        ..Options::default()
    });
    server.secret(TOKEN);

    for refused in [
        None,
        Some("Bearer not-the-token-at-all-0123456789"),
        Some(&format!("Basic {TOKEN}")[..]),
        Some(&format!("Bearer {TOKEN}x")[..]),
    ] {
        let response = scrape_as(&server, refused).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"clawhost metrics\""
        );
        assert_problem(response, 401).await;
    }

    // A claim, a failed sign-in, and a thousand requests for paths that do not exist.
    let owner = server.claimed().await;
    let stranger = server.client();
    let failed = stranger
        .post(
            "/api/auth/login",
            &json!({"password": format!("{PASSWORD}-wrong")}),
        )
        .await;
    assert_eq!(failed.status(), 401);
    let anyone = server.bare_client();
    for n in 0..1000 {
        let path = format!("/no/such/{n}/{}", n * 7919 % 10_007);
        let response = anyone.get(server.url(&path)).send().await.expect("get");
        assert_eq!(response.status(), 404);
    }
    drop(owner);

    let text = scrape(&server).await;
    assert!(!text.contains("/no/such/"), "a path became a label");
    let requests = text
        .lines()
        .filter(|l| l.starts_with("clawhost_http_requests_total{"))
        .count();
    assert!(requests <= 12, "{requests} request series:\n{text}");
    assert!(
        value(
            &text,
            r#"clawhost_http_requests_total{route="unmatched",class="4xx"}"#
        )
        .is_some_and(|n| n >= 1000.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"clawhost_http_requests_total{route="/api/auth/claim",class="2xx"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            r#"clawhost_http_request_duration_seconds_count{route="/api/auth/login"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    for (series, at_least) in [
        (r#"clawhost_security_events_total{kind="claim"}"#, 1.0),
        (
            r#"clawhost_security_events_total{kind="login_failed"}"#,
            1.0,
        ),
        (r#"clawhost_gateway_state{state="stopped"}"#, 1.0),
        ("clawhost_resident_memory_bytes", 1_000_000.0),
    ] {
        assert!(
            value(&text, series).is_some_and(|n| n >= at_least),
            "{series} in\n{text}"
        );
    }
    assert_eq!(
        value(&text, r#"clawhost_gateway_state{state="running"}"#),
        Some(0.0)
    );
    promtool_passes(&text);
}

#[tokio::test]
async fn metrics_have_an_address_of_their_own_or_a_token() {
    // Off by default.
    let plain = TestServer::start();
    assert_problem(
        plain
            .bare_client()
            .get(plain.url("/metrics"))
            .send()
            .await
            .expect("get"),
        404,
    )
    .await;
    drop(plain);

    // On an address of their own: no token there, and none of them on the main listener.
    let server = TestServer::start_with(Options {
        env: vec![
            ("CLAWHOST_METRICS_ENABLED".into(), "true".into()),
            ("CLAWHOST_METRICS_LISTEN".into(), "127.0.0.1:0".into()),
        ],
        ..Options::default()
    });
    let addr = server
        .log()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["message"] == "serving metrics")
        .and_then(|event| event["addr"].as_str().map(str::to_owned))
        .expect("the metrics' address in the log");
    let side = server.bare_client();
    let text = side
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(text.status(), 200);
    let text = text.text().await.expect("text");
    assert!(text.contains("clawhost_gateway_state{"), "{text}");
    let other = side
        .get(format!("http://{addr}/api/auth/me"))
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), 404);
    assert_problem(
        server
            .bare_client()
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("get"),
        404,
    )
    .await;
    drop(server);

    // On the main listener without a token, or with a short one: clawhost says so and stops.
    let dir = tempfile::tempdir().expect("dir");
    let message = refusal(
        clawhost()
            .args([
                "serve",
                "--allow-root",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .env("CLAWHOST_METRICS_ENABLED", "true"),
    );
    assert!(message.contains("metrics.token_file"), "{message}");
    let short = dir.path().join("short.token");
    std::fs::write(&short, "too-short").expect("write");
    let message = refusal(
        clawhost()
            .args([
                "serve",
                "--allow-root",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .env("CLAWHOST_METRICS_ENABLED", "true")
            .env("CLAWHOST_METRICS_TOKEN_FILE", &short),
    );
    assert!(message.contains("16 characters"), "{message}");
}

/// With the gateway running, sockets through the proxy (one still open) and a chat just
/// run: the gateway's series, the proxy's and the LLM's move.
pub async fn scraped_while_the_gateway_runs(server: &TestServer) {
    // The egress proxy writes what it counted within a second.
    let counted = crate::harness::eventually(std::time::Duration::from_secs(15), || async {
        value(&scrape(server).await, "clawhost_llm_requests_total").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(counted.is_some(), "{}", scrape(server).await);
    let text = scrape(server).await;
    for (series, at_least) in [
        (r#"clawhost_gateway_state{state="running"}"#, 1.0),
        ("clawhost_gateway_uptime_seconds", 0.001),
        ("clawhost_gateway_resident_memory_bytes", 50_000_000.0),
        (r#"clawhost_open_streams{kind="control_ui"}"#, 1.0),
        (
            r#"clawhost_proxied_bytes_total{direction="from_gateway"}"#,
            1000.0,
        ),
        (
            r#"clawhost_proxied_bytes_total{direction="to_gateway"}"#,
            100.0,
        ),
        ("clawhost_llm_requests_total", 1.0),
        (r#"clawhost_llm_tokens_total{kind="input"}"#, 1.0),
        (
            &format!(
                r#"clawhost_openclaw_info{{version="{}"}}"#,
                clawhost::OPENCLAW_VERSION
            ),
            1.0,
        ),
    ] {
        assert!(
            value(&text, series).is_some_and(|n| n >= at_least),
            "{series} in\n{text}"
        );
    }
    assert!(
        value(
            &text,
            r#"clawhost_http_requests_total{route="/openclaw/{*rest}",class="2xx"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    promtool_passes(&text);
}
