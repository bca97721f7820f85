//! Signing in through the replaced wrapper's session broker (`auth.session_exchange.url`),
//! against a small broker of the test's own (outside clawhost's reach, so simulated): the
//! session id picks its answer. Only the owner's verified email signs in; every other
//! answer, a broker too slow, too large or redirecting, is refused, never a 5xx.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::harness::{Client, Options, PASSWORD, TestServer, assert_problem};

const OWNER_EMAIL: &str = "owner@example.test";

pub struct TestBroker {
    pub url: String,
    /// Every session id asked for, in order.
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session_data(
    State(asked): State<Arc<Mutex<Vec<String>>>>,
    headers: HeaderMap,
) -> Response {
    let id = headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    asked.lock().expect("asked").push(id.clone());
    let session = |email: &str, verified: bool| {
        axum::Json(json!({"id": "u1", "email": email, "email_verified": verified, "name": "Owner", "session_token": "t"}))
            .into_response()
    };
    match id.as_str() {
        "owner-session" => session("Owner@Example.test", true),
        "other-session" => session("someone@example.test", true),
        "unverified-session" => session(OWNER_EMAIL, false),
        "slow-session" => {
            tokio::time::sleep(Duration::from_secs(8)).await;
            session(OWNER_EMAIL, true)
        }
        "huge-session" => {
            let padding = " ".repeat(10 * 1024 * 1024);
            let body = format!("{{\"email\":\"{OWNER_EMAIL}\",\"email_verified\":true{padding}}}");
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        "redirect-session" => (
            StatusCode::FOUND,
            [(header::LOCATION, "/session-data-elsewhere")],
        )
            .into_response(),
        "broken-session" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

impl TestBroker {
    pub async fn start() -> Self {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/session-data", get(session_data))
            .route(
                "/session-data-elsewhere",
                get(|| async { axum::Json(json!({"email": OWNER_EMAIL, "email_verified": true})) }),
            )
            .with_state(asked.clone());
        let (addr, task) = crate::harness::serve_on_loopback(app).await;
        Self {
            url: format!("http://{addr}/session-data"),
            asked,
            task,
        }
    }
}

pub fn server_with(broker: &TestBroker) -> TestServer {
    TestServer::start_with(Options {
        env: vec![(
            "CLAWHOST_AUTH_SESSION_EXCHANGE_URL".into(),
            broker.url.clone(),
        )],
        ..Options::default()
    })
}

/// The owner sets the email the broker must answer (the password in the request).
pub async fn set_email(owner: &Client) {
    let set = owner
        .put(
            "/api/auth/session-exchange/email",
            &json!({"email": OWNER_EMAIL, "password": PASSWORD}),
        )
        .await;
    assert_eq!(set.status(), 204);
}

async fn exchange(client: &Client, session_id: &str) -> reqwest::Response {
    client
        .http
        .post(client.url("/api/auth/session-exchange"))
        .header("x-session-id", session_id)
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn only_the_owners_verified_email_signs_in_through_the_broker() {
    let broker = TestBroker::start().await;
    let server = server_with(&broker);
    let owner = server.claimed().await;
    // No email set yet: even the owner's session signs nobody in.
    assert_problem(exchange(&server.client(), "owner-session").await, 403).await;
    // Review of issue 15: a fresh session alone does not set it (it adds a way in).
    let fresh_alone = owner
        .put(
            "/api/auth/session-exchange/email",
            &json!({"email": OWNER_EMAIL}),
        )
        .await;
    assert_problem(fresh_alone, 403).await;
    set_email(&owner).await;
    assert_eq!(
        owner.json("/api/auth/session-exchange").await,
        json!({"configured": true, "email": OWNER_EMAIL})
    );
    let settings = owner.page_text("/settings").await;
    assert!(settings.contains("Sign-in broker") && settings.contains(OWNER_EMAIL));

    // The owner's session, the id in X-Session-ID (or in the body): signed in, a new session,
    // but not a step-up.
    let browser = server.client();
    let signed_in = exchange(&browser, "owner-session").await;
    assert_eq!(signed_in.status(), 200);
    server.secret(&browser.session_token().expect("session"));
    assert_eq!(browser.get("/api/auth/me").await.status(), 200);
    let stale = browser.delete("/api/auth/session-exchange/email").await;
    let problem = assert_problem(stale, 403).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("reauthentication-required"))
    );
    let in_body = server.client();
    let answer = in_body
        .post(
            "/api/auth/session-exchange",
            &json!({"session_id": "owner-session"}),
        )
        .await;
    assert_eq!(answer.status(), 200);
    server.secret(&in_body.session_token().expect("session"));

    // Everyone else: the same 403, nobody signed in.
    let stranger = server.client();
    let mut said = Vec::new();
    for id in ["other-session", "unverified-session", "unknown-session"] {
        let problem = assert_problem(exchange(&stranger, id).await, 403).await;
        said.push(problem["detail"].clone());
    }
    assert!(said.windows(2).all(|w| w[0] == w[1]), "{said:?}");
    assert!(!said[0].as_str().unwrap_or_default().contains(OWNER_EMAIL));

    // A broker in trouble refuses the sign-in too, saying why, never a 5xx; its redirect is
    // not followed.
    for (id, why) in [
        ("broken-session", "500"),
        ("redirect-session", "redirect"),
        ("huge-session", "larger than"),
    ] {
        let problem = assert_problem(exchange(&stranger, id).await, 401).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| d.contains(why)),
            "{id}: {problem}"
        );
    }
    let asked_at = Instant::now();
    let problem = assert_problem(exchange(&stranger, "slow-session").await, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("within 5 s")),
        "{problem}"
    );
    assert!(
        asked_at.elapsed() < Duration::from_secs(8),
        "the broker was not waited for"
    );
    assert_eq!(stranger.session_token(), None);
    let asked = broker.asked.lock().expect("asked").clone();
    assert!(asked.iter().all(|id| id.ends_with("-session")), "{asked:?}");

    // What is not a session id never reaches the broker.
    let before = broker.asked.lock().expect("asked").len();
    for bad in [" ", &"x".repeat(600)] {
        let problem = assert_problem(exchange(&stranger, bad).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], "session_id");
    }
    let no_id = stranger
        .post("/api/auth/session-exchange", &json!({}))
        .await;
    assert_problem(no_id, 422).await;
    assert_eq!(broker.asked.lock().expect("asked").len(), before);

    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "login_exchange"), "{kinds:?}");
    let failures: Vec<Value> = owner
        .events()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "login_failed")
        .collect();
    assert!(failures.len() >= 4, "{failures:?}");
}

#[tokio::test]
async fn broker_sign_ins_meet_a_lockout_and_are_off_unless_configured() {
    let server = TestServer::start();
    server.claimed().await;
    assert_problem(exchange(&server.client(), "owner-session").await, 404).await;

    let broker = TestBroker::start().await;
    let server = server_with(&broker);
    let owner = server.claimed().await;
    set_email(&owner).await;
    let stranger = server.client();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(exchange(&stranger, "other-session").await.status().as_u16());
    }
    assert_eq!(&statuses[..11], &[403; 11], "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");
    // The locked address cannot get in with the right session either, for now.
    assert_problem(exchange(&stranger, "owner-session").await, 429).await;
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "lockout"), "{kinds:?}");
    // Forgotten, the email signs nobody in.
    assert_eq!(
        owner
            .delete("/api/auth/session-exchange/email")
            .await
            .status(),
        204
    );
    assert_problem(owner.delete("/api/auth/session-exchange/email").await, 404).await;
}
