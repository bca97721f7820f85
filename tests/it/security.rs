//! The request-security layer: CSRF, problem+json everywhere, headers, limits.

use serde_json::json;

use crate::harness::{Options, PASSWORD, TestServer, assert_problem, set_cookie_token};

#[tokio::test]
async fn state_changes_without_proof_of_origin_are_refused() {
    let server = TestServer::start();
    let code = server.claim_code();
    let bare = server.bare_client();
    let body = json!({"code": code, "password": PASSWORD});

    // No Origin, Referer or Sec-Fetch-Site: refused, and the claim did not happen.
    let response = bare
        .post(server.url("/api/auth/claim"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 403).await;
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("Origin")
    );

    let foreign = bare
        .post(server.url("/api/auth/claim"))
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_problem(foreign, 403).await;

    let cross_site = bare
        .post(server.url("/api/auth/claim"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", server.base.as_str())
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_problem(cross_site, 403).await;

    let foreign_referer = bare
        .post(server.url("/api/auth/claim"))
        .header("referer", "https://evil.example/page")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_problem(foreign_referer, 403).await;

    let instance: serde_json::Value = bare
        .get(server.url("/api/auth/instance"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(instance["locked"], false);

    // A same-origin Referer is proof enough.
    let response = bare
        .post(server.url("/api/auth/claim"))
        .header("referer", format!("{}/claim", server.base))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let token = set_cookie_token(&response).expect("session cookie");
    server.secret(&token);

    // Sec-Fetch-Site: same-origin is, too; DELETE is covered like POST.
    let response = bare
        .delete(server.url("/api/auth/sessions/0123"))
        .header("cookie", format!("clawhost_session={token}"))
        .send()
        .await
        .expect("send");
    assert_problem(response, 403).await;
    let response = bare
        .delete(server.url("/api/auth/sessions/0123"))
        .header("cookie", format!("clawhost_session={token}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("send");
    assert_problem(response, 404).await;
}

#[tokio::test]
async fn every_error_is_problem_json() {
    let server = TestServer::start_setting("CLAWHOST_HTTP_BODY_LIMIT", "4KiB");
    let client = server.client();
    assert_problem(client.get("/api/auth/me").await, 401).await;
    assert_problem(client.get("/api/nothing-here").await, 404).await;
    assert_problem(client.get("/api/auth/login").await, 405).await;
    assert_problem(
        client
            .post(
                "/api/auth/claim",
                &json!({"code": "x".repeat(8 * 1024), "password": PASSWORD}),
            )
            .await,
        413,
    )
    .await;
    assert_problem(
        client.post("/api/auth/claim", &json!({"code": 5})).await,
        422,
    )
    .await;
    let no_type = client
        .http
        .post(client.url("/api/auth/login"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_problem(no_type, 415).await;
    let broken = client
        .http
        .post(client.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_problem(broken, 400).await;
    assert_problem(
        server
            .bare_client()
            .post(server.url("/api/auth/logout"))
            .send()
            .await
            .expect("send"),
        403,
    )
    .await;

    let _owner = server.claimed().await;
    let mut saw_429 = false;
    for attempt in 0..30 {
        let response = client
            .post(
                "/api/auth/login",
                &json!({"password": format!("wrong {attempt} password")}),
            )
            .await;
        if response.status() == 429 {
            assert_problem(response, 429).await;
            saw_429 = true;
            break;
        }
    }
    assert!(saw_429);
}

const HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn assert_security_headers(response: &reqwest::Response, https: bool) {
    let headers = response.headers();
    for (name, value) in HEADERS {
        assert_eq!(
            headers.get(*name).and_then(|v| v.to_str().ok()),
            Some(*value),
            "{name}"
        );
    }
    let csp = headers["content-security-policy"].to_str().expect("csp");
    for directive in [
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "script-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(headers.contains_key("permissions-policy"));
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(headers.contains_key("strict-transport-security"), https);
}

#[tokio::test]
async fn security_headers_on_pages_and_api() {
    let server = TestServer::start();
    let client = server.client();
    assert_security_headers(&client.get("/claim").await, false);
    assert_security_headers(&client.get("/api/auth/instance").await, false);
    assert_security_headers(&client.get("/api/auth/me").await, false);

    let https = TestServer::start_with(Options {
        public_url: Some("https://claw.example.com".into()),
        ..Options::default()
    });
    let client = https.client();
    assert_security_headers(&client.get("/claim").await, true);
    assert_security_headers(&client.get("/api/auth/instance").await, true);
    let hsts = client.get("/healthz").await.headers()["strict-transport-security"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}

#[tokio::test]
async fn request_ids_are_ours() {
    let server = TestServer::start();
    let response = server
        .bare_client()
        .get(server.url("/healthz"))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .expect("send");
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_string();
    assert_eq!(id.len(), 16);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_setting("CLAWHOST_HTTP_HEADER_TIMEOUT", "1s");
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buffer = Vec::new();
    // The server must close the connection by itself; the test bounds its own wait.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut buffer),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection stayed open with incomplete headers"
    );
}

/// DNS rebinding (issue 11, defect 5): a page on another site whose name now resolves to this
/// server is same-origin with itself, so it passes the CSRF check; the Host it names is not
/// clawhost's, and that is answered 421 before any handler runs.
#[tokio::test]
async fn requests_naming_another_host_are_misdirected() {
    let server = TestServer::start();
    let port = server.addr.port();
    let rebound = format!("rebound.evil.example:{port}");
    let bare = server.bare_client();
    let code = server.claim_code();
    server.secret(&code);
    let claim = bare
        .post(server.url("/api/auth/claim"))
        .header("host", &rebound)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{rebound}"))
        .json(&json!({"code": code, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(claim, 421).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&server.base)),
        "{problem}"
    );
    for path in ["/api/auth/instance", "/api/status", "/healthz"] {
        let response = bare
            .get(server.url(path))
            .header("host", &rebound)
            .send()
            .await
            .expect("send");
        assert_problem(response, 421).await;
    }
    let page = bare
        .get(server.url("/login"))
        .header("host", &rebound)
        .header("accept", "text/html")
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 421);
    let html = page.text().await.expect("page");
    // Issue 12, defect 2: the page names the address used and links to the same page at the
    // public URL.
    assert!(html.contains("Wrong address"), "{html}");
    assert!(
        html.contains(&format!("You opened clawhost at {rebound}")),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"{}/login\"", server.base)),
        "{html}"
    );
    // Its stylesheet and script come from the same address; nothing else does.
    for (path, status) in [
        ("/static/app.css", 200),
        ("/static/app.js", 200),
        ("/static/../api/status", 421),
    ] {
        let asset = bare
            .get(server.url(path))
            .header("host", &rebound)
            .send()
            .await
            .expect("send");
        assert_eq!(asset.status(), status, "{path}");
    }

    // A request naming two hosts, one of them clawhost's, is refused too.
    let (absolute, _) = server.raw(&format!(
        "GET http://rebound.evil.example:{port}/api/auth/instance HTTP/1.1"
    ));
    assert_eq!(absolute, 421, "the request line names another host");
    let (twice, _) = server.raw(&format!(
        "GET /api/auth/instance HTTP/1.1\r\nHost: rebound.evil.example:{port}"
    ));
    assert_eq!(twice, 421, "two Host headers");

    // The claim did not happen; the right host still works, and so does a local probe.
    let instance: serde_json::Value = server
        .client()
        .get("/api/auth/instance")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(instance["locked"], false);
    let probe = bare
        .get(server.url("/healthz"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .expect("send");
    assert_eq!(probe.status(), 200);

    // A name the owner lists is served.
    let aliased = TestServer::start_setting("CLAWHOST_HTTP_ALLOWED_HOSTS", "claw.internal");
    let response = aliased
        .bare_client()
        .get(aliased.url("/api/auth/instance"))
        .header("host", "claw.internal")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

/// Issue 12, defect 1: over plain http at a network name every page says it is not private
/// (at https, or at this machine's own name, none does), forms name their origin (the
/// referrer policy no longer makes Chromium send `Origin: null`), and event streams ask a
/// proxy in front not to buffer them.
#[tokio::test]
async fn pages_over_plain_http_say_they_are_not_private() {
    let port = crate::harness::free_port();
    let lan = TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(format!("http://clawhost-lan.test:{port}")),
        ..Options::default()
    });
    assert!(
        lan.log().contains("is plain http on the network"),
        "{}",
        lan.log()
    );
    let owner = lan.claimed().await;
    for path in ["/", "/setup", "/settings", "/no-such-page"] {
        let page = owner.get_html(path).await;
        assert_eq!(page.headers()["referrer-policy"], "same-origin", "{path}");
        let html = page.text().await.expect("html");
        assert!(
            html.contains("This connection is not private."),
            "{path}: {html}"
        );
        assert!(!html.contains("<!--connection-notice-->"), "{path}");
    }
    let events = owner.get("/api/gateway/events").await;
    assert_eq!(events.headers()["x-accel-buffering"], "no");

    // At https, or at this machine's own name, nothing crosses the network in clear.
    for quiet in [
        TestServer::start_with(Options {
            public_url: Some("https://claw.example.com".into()),
            ..Options::default()
        }),
        TestServer::start(),
    ] {
        let page = quiet.client().get_html("/claim").await;
        let html = page.text().await.expect("html");
        assert!(!html.contains("not private"), "{html}");
    }
}
