//! The egress proxy in-process, against a provider of the test's own: its limits and its
//! refusals, without a gateway (the lifecycle test runs it under the real one).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use super::{Egress, Route, start};
use crate::config::UsageLimits;
use crate::gateway::providers::ProbeAuth;
use crate::store::SharedStore;

/// A provider that answers every chat with 6 + 4 tokens, and keeps the keys it was given.
async fn provider() -> (String, Arc<Mutex<Vec<String>>>) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = keys.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: axum::http::HeaderMap| async move {
            let key = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            seen.lock().expect("keys").push(key);
            axum::Json(
                json!({"choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 4}}),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), keys)
}

/// Waits until `tokens` are counted (when the answer's body has gone through).
async fn counted(egress: &Egress, tokens: u64) {
    for _ in 0..200 {
        if egress.used().today >= tokens {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{tokens} tokens were never counted");
}

#[tokio::test]
async fn a_daily_limit_refuses_once_reached_and_only_the_virtual_key_opens() {
    let dir = tempfile::tempdir().expect("dir");
    let store: SharedStore =
        Arc::new(crate::store::sqlite::SqliteStore::open(&dir.path().join("c.db")).expect("store"));
    let limits = UsageLimits {
        daily: Some(15),
        monthly: None,
    };
    let egress = start(store.clone(), limits).await.expect("egress");
    let (upstream, keys) = provider().await;
    let route = Route::new(
        &upstream,
        ProbeAuth::Bearer,
        Some(zeroize::Zeroizing::new("sk-real".into())),
    );
    let virtual_key = route.virtual_key.to_string();
    egress.set_route(Some(route));
    let http = reqwest::Client::new();
    let chat = |key: &str| {
        http.post(format!("{}/chat/completions", egress.base_url()))
            .bearer_auth(key)
            .json(&json!({"model": "m", "messages": []}))
            .send()
    };

    assert_eq!(chat("sk-real").await.expect("chat").status(), 401);
    for used in [10, 20] {
        let answer = chat(&virtual_key).await.expect("chat");
        assert_eq!(answer.status(), 200);
        counted(&egress, used).await;
    }
    assert_eq!(*keys.lock().expect("keys"), vec!["Bearer sk-real"; 2]);

    let refused = chat(&virtual_key).await.expect("chat");
    assert_eq!(refused.status(), 429);
    assert!(
        refused.headers().get("retry-after").is_none(),
        "OpenClaw would wait it out"
    );
    let words: Value = refused.json().await.expect("json");
    assert!(
        words["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("clawhost: daily limit reached (15 tokens)")),
        "{words}"
    );
    assert_eq!(
        keys.lock().expect("keys").len(),
        2,
        "the provider never saw it"
    );
    // Written to the store together.
    egress.write_counts().await;
    let rows = store.usage("2000-01-01", "9999-12-31").expect("usage");
    assert_eq!(
        (
            rows[0].requests,
            rows[0].input_tokens,
            rows[0].output_tokens
        ),
        (2, 12, 8)
    );

    // A gateway that is not started by clawhost has no route: nothing goes through.
    egress.set_route(None);
    assert_eq!(chat(&virtual_key).await.expect("chat").status(), 503);
    egress.shut_down().await;
}

/// One raw HTTP/1.1 request to `addr`, as written; the status code of the answer.
async fn raw_status(addr: &str, request: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[tokio::test]
async fn nothing_but_the_providers_base_is_reachable() {
    let dir = tempfile::tempdir().expect("dir");
    let store: SharedStore =
        Arc::new(crate::store::sqlite::SqliteStore::open(&dir.path().join("c.db")).expect("store"));
    let egress = start(store, UsageLimits::default()).await.expect("egress");
    let (upstream, keys) = provider().await;
    let route = Route::new(
        &upstream,
        ProbeAuth::Bearer,
        Some(zeroize::Zeroizing::new("sk-first".into())),
    );
    let authorization = format!("Authorization: Bearer {}\r\n", route.virtual_key.as_str());
    egress.set_route(Some(route));
    let addr = egress.base_url();
    let addr = addr
        .trim_start_matches("http://")
        .trim_end_matches(super::proxy::PREFIX);
    let post = |target: &str, host: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\n{authorization}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
    };
    for target in [
        "/upstream/../v1/chat/completions",
        "/upstream/%2e%2e/admin",
        "/upstream/..%2fadmin",
        "/other/chat/completions",
    ] {
        assert_eq!(
            raw_status(addr, &post(target, "127.0.0.1")).await,
            404,
            "{target}"
        );
    }
    assert!(keys.lock().expect("keys").is_empty());
    // A request that names another host still goes to the provider, and only there.
    let elsewhere = post(
        "http://collector.example/upstream/chat/completions",
        "collector.example",
    );
    assert_eq!(raw_status(addr, &elsewhere).await, 200);
    assert_eq!(*keys.lock().expect("keys"), ["Bearer sk-first"]);

    // A new key for this provider serves the next request, with the same virtual key; one
    // for another provider waits for the next start.
    egress.rekey("http://elsewhere.example/v1", ProbeAuth::Bearer, "sk-other");
    egress.rekey(&upstream, ProbeAuth::Bearer, "sk-rotated");
    let again = post("/upstream/chat/completions", "127.0.0.1");
    assert_eq!(raw_status(addr, &again).await, 200);
    assert_eq!(
        *keys.lock().expect("keys"),
        ["Bearer sk-first", "Bearer sk-rotated"]
    );
    egress.shut_down().await;
}

/// Telegram's requests go to its API with the real token in the path, only for the virtual
/// token, never out of the Bot API's paths; a refusal never quotes the real token.
#[tokio::test]
async fn telegram_gets_the_real_token_for_the_virtual_one() {
    let dir = tempfile::tempdir().expect("dir");
    let store: SharedStore =
        Arc::new(crate::store::sqlite::SqliteStore::open(&dir.path().join("c.db")).expect("store"));
    let egress = start(store, UsageLimits::default()).await.expect("egress");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let paths = seen.clone();
    let app = Router::new().fallback(move |uri: axum::http::Uri, body: String| async move {
        paths.lock().expect("paths").push(format!("{uri} {body}"));
        axum::Json(json!({"ok": true, "result": true}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let root = egress.telegram_root();
    let call = |token: &str, rest: &str| {
        http.post(format!("{root}/bot{token}/{rest}"))
            .body("{\"chat_id\":1}")
            .send()
    };
    let refused = call("42:anything", "getMe").await.expect("call");
    assert_eq!(refused.status(), 404, "not set up");

    let virtual_token = egress
        .set_telegram(Some(super::telegram::TelegramRoute::new(
            &api,
            zeroize::Zeroizing::new("42:real-secret".into()),
        )))
        .expect("virtual token");
    assert!(virtual_token.starts_with("42:clawhost-"));
    let sent = call(&virtual_token, "sendMessage?x=1").await.expect("call");
    assert_eq!(sent.status(), 200);
    let file = http
        .get(format!(
            "{root}/file/bot{}/photos/a.jpg",
            virtual_token.as_str()
        ))
        .send()
        .await
        .expect("file");
    assert_eq!(file.status(), 200);
    assert_eq!(
        *seen.lock().expect("paths"),
        [
            "/bot42:real-secret/sendMessage?x=1 {\"chat_id\":1}",
            "/file/bot42:real-secret/photos/a.jpg "
        ]
    );

    for (token, rest) in [
        ("42:real-secret", "getMe"),
        ("42:clawhost-wrong", "getMe"),
        (virtual_token.as_str(), "%2e%2e/x"),
        (virtual_token.as_str(), "..%2fx"),
    ] {
        let refused = call(token, rest).await.expect("call");
        assert!(refused.status().is_client_error(), "{token} {rest}");
        let body = refused.text().await.expect("body");
        assert!(!body.contains("real-secret"), "{body}");
    }
    assert_eq!(
        seen.lock().expect("paths").len(),
        2,
        "nothing more reached Telegram"
    );

    // Down: the refusal names the cause, not the URL with the token.
    let token = egress
        .set_telegram(Some(super::telegram::TelegramRoute::new(
            "http://127.0.0.1:9",
            zeroize::Zeroizing::new("42:real-secret".into()),
        )))
        .expect("virtual token");
    let down = call(&token, "getMe").await.expect("call");
    assert_eq!(down.status(), 502);
    let body = down.text().await.expect("body");
    assert!(!body.contains("real-secret"), "{body}");
}
