//! Sessions: listing, revoking, expiry, and revocation reaching a running server within a
//! second, also from the CLI in another process.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    Client, Options, PASSWORD, TestServer, assert_problem, eventually, files_under, last_line,
};

const ONE_SECOND: Duration = Duration::from_secs(1);

async fn signed_out(client: &Client) -> bool {
    client.get("/api/auth/me").await.status() == 401
}

#[tokio::test]
async fn revoke_others_ends_them_within_a_second() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let others = [server.login().await, server.login().await];
    for other in &others {
        assert_eq!(other.get("/api/auth/me").await.status(), 200);
    }
    let response = owner.post_empty("/api/auth/sessions/revoke-others").await;
    assert_eq!(response.status(), 204);
    for other in &others {
        let took = eventually(ONE_SECOND, || signed_out(other)).await;
        assert!(took.is_some(), "another session still works after 1 s");
    }
    assert_eq!(owner.get("/api/auth/me").await.status(), 200);
    let sessions: Value = owner.json("/api/auth/sessions").await;
    assert_eq!(sessions["sessions"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn revoke_one_and_log_out() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let other = server.login().await;
    let me: Value = other.json("/api/auth/me").await;
    let id = me["session"]["id"].as_str().expect("id").to_string();

    let response = owner.delete(&format!("/api/auth/sessions/{id}")).await;
    assert_eq!(response.status(), 204);
    assert!(
        eventually(ONE_SECOND, || signed_out(&other))
            .await
            .is_some()
    );
    let again = owner.delete(&format!("/api/auth/sessions/{id}")).await;
    assert_problem(again, 404).await;

    let response = owner.post_empty("/api/auth/logout").await;
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_problem(owner.get("/api/auth/me").await, 401).await;
}

#[tokio::test]
async fn password_change_ends_other_sessions_and_takes_effect() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let other = server.login().await;
    let new_password = "an entirely different passphrase";
    server.secret(new_password);

    let wrong = owner
        .post(
            "/api/auth/password",
            &json!({"current_password": "not it at all!", "new_password": new_password}),
        )
        .await;
    let body = assert_problem(wrong, 422).await;
    assert_eq!(body["errors"][0]["field"], "current_password");

    let weak = owner
        .post(
            "/api/auth/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    let body = assert_problem(weak, 422).await;
    assert_eq!(body["errors"][0]["field"], "new_password");

    let response = owner
        .post(
            "/api/auth/password",
            &json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert!(
        eventually(ONE_SECOND, || signed_out(&other))
            .await
            .is_some()
    );
    assert_eq!(owner.get("/api/auth/me").await.status(), 200);

    let client = server.client();
    let old = client
        .post("/api/auth/login", &json!({"password": PASSWORD}))
        .await;
    assert_problem(old, 401).await;
    let new = client
        .post("/api/auth/login", &json!({"password": new_password}))
        .await;
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn owner_reset_from_the_cli_ends_sessions_within_a_second() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let other = server.login().await;

    let output = server.cli(&["owner", "reset"]);
    assert!(output.status.success(), "{output:?}");
    let code = last_line(&output.stdout);
    server.secret(&code);

    for client in [&owner, &other] {
        let took = eventually(ONE_SECOND, || signed_out(client)).await;
        assert!(
            took.is_some(),
            "a session survived the owner reset for over 1 s"
        );
    }
    let instance: Value = owner.json("/api/auth/instance").await;
    assert_eq!(instance, json!({"locked": false}));

    // The printed code claims the instance again.
    let client = server.client();
    let response = server.claim_with(&client, &code).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn the_session_token_is_stored_only_as_a_hash() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let other = server.login().await;
    // Touch the sessions so every write path has run.
    assert_eq!(owner.get("/api/auth/sessions").await.status(), 200);
    assert_eq!(other.get("/api/auth/me").await.status(), 200);
    let tokens = [
        owner.session_token().expect("token"),
        other.session_token().expect("token"),
    ];
    let files = files_under(&server.data_dir());
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        for token in &tokens {
            let found = bytes
                .windows(token.len())
                .any(|window| window == token.as_bytes());
            assert!(!found, "a session token is in {}", file.display());
        }
        let found = bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in {}", file.display());
    }
}

#[tokio::test]
async fn cookie_attributes_follow_the_public_url() {
    let server = TestServer::start();
    let client = server.client();
    let code = server.claim_code();
    let response = server.claim_with(&client, &code).await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_string();
    for part in ["clawhost_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");

    let https = TestServer::start_with(Options {
        public_url: Some("https://claw.example.com".into()),
        ..Options::default()
    });
    let client = https.client();
    let code = https.claim_code();
    let response = https.claim_with(&client, &code).await;
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(cookie.starts_with("__Host-clawhost_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let server = TestServer::start_setting("CLAWHOST_SESSION_IDLE_TIMEOUT", "1s");
    let owner = server.claimed().await;
    assert_eq!(owner.get("/api/auth/me").await.status(), 200);
    // Idle means no requests at all, so wait without polling, then check once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_problem(owner.get("/api/auth/me").await, 401).await;
}

#[tokio::test]
async fn security_events_page_by_cursor() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let client = server.client();
    for attempt in 0..4 {
        let response = client
            .post(
                "/api/auth/login",
                &json!({"password": format!("wrong password {attempt}")}),
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let _other = server.login().await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/auth/events?limit=2&cursor={c}"),
            None => "/api/auth/events?limit=2".to_string(),
        };
        let page: Value = owner.json(&path).await;
        for event in page["events"].as_array().expect("events") {
            assert!(event["at"].as_str().expect("at").ends_with('Z'));
            // Events from the CLI have no client address; the rest come from this test.
            if event["kind"] != "claim_code_issued" {
                assert_eq!(event["ip"], "127.0.0.1", "{event}");
            }
            seen.push((
                event["id"]
                    .as_str()
                    .expect("id")
                    .parse::<i64>()
                    .expect("number"),
                event["kind"].as_str().expect("kind").to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert!(
        seen.windows(2).all(|pair| pair[0].0 > pair[1].0),
        "{seen:?}"
    );
    let kinds: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"login_ok"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "login_failed").count(), 4);
    assert!(kinds.contains(&"claim"), "{kinds:?}");

    assert_problem(owner.get("/api/auth/events?limit=0").await, 422).await;
    assert_problem(owner.get("/api/auth/events?limit=201").await, 422).await;
    assert_problem(owner.get("/api/auth/events?cursor=abc").await, 422).await;
    assert_problem(server.client().get("/api/auth/events").await, 401).await;
}

/// The event streams a session can open.
const STREAMS: [&str; 3] = [
    "/api/gateway/events",
    "/api/gateway/logs/stream",
    "/api/channels/whatsapp/link/events",
];

/// Opens `path` as `client` and reads it to its end, in the background; the task's result is
/// when it ended.
async fn follow(client: &Client, path: &str) -> tokio::task::JoinHandle<std::time::Instant> {
    let mut response = client.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    tokio::spawn(async move {
        while let Ok(Some(_)) = response.chunk().await {}
        std::time::Instant::now()
    })
}

/// Waits for every stream to end; each must end within a second of `since`.
async fn all_end_within_a_second(
    streams: Vec<tokio::task::JoinHandle<std::time::Instant>>,
    since: std::time::Instant,
    why: &str,
) {
    for stream in streams {
        let ended = tokio::time::timeout(Duration::from_secs(3), stream)
            .await
            .unwrap_or_else(|_| panic!("a stream outlived its session ({why})"))
            .expect("task");
        let after = ended.saturating_duration_since(since);
        assert!(after <= ONE_SECOND, "a stream ended {after:?} after {why}");
    }
}

/// Issue 11, defect 3: every event stream ends within a second of its session's end, by a
/// revocation, a sign-out or `clawhost owner reset`; a session holds at most eight.
#[tokio::test]
async fn event_streams_end_with_their_session() {
    let server = TestServer::start();
    let owner = server.claimed().await;

    let revoked = server.login().await;
    let me: Value = revoked.json("/api/auth/me").await;
    let id = me["session"]["id"].as_str().expect("id").to_string();
    let mut streams = Vec::new();
    for path in STREAMS {
        streams.push(follow(&revoked, path).await);
    }
    let response = owner
        .http
        .delete(owner.url(&format!("/api/auth/sessions/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 204);
    all_end_within_a_second(streams, std::time::Instant::now(), "its revocation").await;

    let leaving = server.login().await;
    let streams = vec![follow(&leaving, STREAMS[0]).await];
    assert_eq!(leaving.post_empty("/api/auth/logout").await.status(), 204);
    all_end_within_a_second(streams, std::time::Instant::now(), "its sign-out").await;

    // Eight at a time: a ninth (a browser reconnecting while its dead connection still
    // holds a slot) ends the oldest instead of being refused.
    let many = server.login().await;
    let oldest = follow(&many, STREAMS[1]).await;
    let mut open = Vec::new();
    for _ in 0..7 {
        open.push(follow(&many, STREAMS[1]).await);
    }
    let ninth = std::time::Instant::now();
    open.push(follow(&many, STREAMS[1]).await);
    all_end_within_a_second(vec![oldest], ninth, "a ninth stream").await;

    // `owner reset` runs in another process; the server learns of it by polling the store.
    open.push(follow(&owner, STREAMS[2]).await);
    let reset = server.cli(&["owner", "reset"]);
    assert!(reset.status.success(), "{reset:?}");
    server.secret(&last_line(&reset.stdout));
    all_end_within_a_second(open, std::time::Instant::now(), "owner reset").await;
}

/// A stream left open is not use of its session: the session still expires when idle, and
/// the stream ends with it (review of issue 11).
#[tokio::test]
async fn an_open_stream_does_not_keep_its_session_alive() {
    let server = TestServer::start_setting("CLAWHOST_SESSION_IDLE_TIMEOUT", "2s");
    let owner = server.claimed().await;
    let opened = std::time::Instant::now();
    let stream = follow(&owner, STREAMS[0]).await;
    let ended = tokio::time::timeout(Duration::from_secs(6), stream)
        .await
        .expect("the stream ended with the idle session")
        .expect("task");
    assert!(ended.duration_since(opened) >= Duration::from_millis(1500));
    assert_eq!(owner.get("/api/auth/me").await.status(), 401);
}
