//! Discord and Slack set up through clawhost, on the real gateway with OpenClaw's own
//! plugins: a small Discord REST API and Slack Web API for the tests (the providers are
//! outside our reach) take only the real tokens and record who called with which, so the
//! tests see clawhost's checks and the gateway's own calls, made with the tokens clawhost
//! gave it through its environment (never through its files).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use serde_json::{Value, json};

use crate::harness::{Client, PASSWORD, assert_problem, eventually};

pub const DISCORD_TOKEN: &str =
    "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhXyZa.clawhost-discord-test-token-0123456789";
/// A bot whose application lacks the Message Content intent.
pub const DISCORD_TOKEN_NO_INTENT: &str =
    "MTA5ODc2NTQzMjEwOTg3NjU0NA.GhXyZb.clawhost-discord-no-intent-0123456789";
pub const SLACK_BOT_TOKEN: &str = "xoxb-1234567890-0987654321-clawhostSlackBotTest";
pub const SLACK_APP_TOKEN: &str = "xapp-1-A0123456789-1234567890-clawhostslackapptest";
/// A person's token, which `auth.test` accepts without a `bot_id`.
const SLACK_USER_TOKEN_AS_BOT: &str = "xoxb-1234567890-0987654321-actuallyAPersonsToken";

/// One call: the API (`discord`/`slack`), the method or path, the token, and whether it came
/// from clawhost (its user agent) or from the gateway.
#[derive(Debug, Clone)]
pub struct Call {
    pub api: String,
    pub method: String,
    pub token: String,
    pub from_clawhost: bool,
}

pub struct FakeChats {
    pub discord_api: String,
    pub slack_api: String,
    calls: Arc<Mutex<Vec<Call>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeChats {
    pub async fn start() -> Self {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/discord/api/v10/{*path}", any(discord))
            .route("/slack/api/{method}", any(slack))
            .with_state(calls.clone());
        let (addr, task) = crate::harness::serve_on_loopback(app).await;
        Self {
            discord_api: format!("http://{addr}/discord/api/v10"),
            slack_api: format!("http://{addr}/slack/api/"),
            calls,
            task,
        }
    }

    /// clawhost's settings that point both channels here.
    pub fn env(&self) -> [(String, String); 2] {
        [
            (
                "CLAWHOST_CHANNELS_DISCORD_API_URL".into(),
                self.discord_api.clone(),
            ),
            (
                "CLAWHOST_CHANNELS_SLACK_API_URL".into(),
                self.slack_api.clone(),
            ),
        ]
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls").clone()
    }

    /// Whether the gateway called `method` of `api` with `token`.
    pub fn gateway_called(&self, api: &str, method: &str, token: &str) -> bool {
        self.calls()
            .iter()
            .any(|c| c.api == api && c.method == method && c.token == token && !c.from_clawhost)
    }
}

impl Drop for FakeChats {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(calls: &Mutex<Vec<Call>>, api: &str, method: &str, token: &str, headers: &HeaderMap) {
    let from_clawhost = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with("clawhost/"));
    calls.lock().expect("calls").push(Call {
        api: api.into(),
        method: method.into(),
        token: token.into(),
        from_clawhost,
    });
}

fn bearer<'a>(headers: &'a HeaderMap, scheme: &str) -> &'a str {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(scheme))
        .unwrap_or_default()
}

async fn discord(
    State(calls): State<Arc<Mutex<Vec<Call>>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, axum::Json<Value>) {
    let token = bearer(&headers, "Bot ");
    record(&calls, "discord", &path, token, &headers);
    let (id, flags) = match token {
        DISCORD_TOKEN => ("1098765432109876543", (1 << 18) | (1 << 15)),
        DISCORD_TOKEN_NO_INTENT => ("1098765432109876544", 1 << 15),
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "401: Unauthorized", "code": 0})),
            );
        }
    };
    let body = match path.as_str() {
        "users/@me" => json!({"id": id, "username": "clawhost_test_bot", "bot": true}),
        "oauth2/applications/@me" => json!({"id": id, "name": "clawhost test", "flags": flags}),
        // The gateway's socket is not served here: the channel runs, trying to connect.
        _ => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"message": "not served by the test API"})),
            );
        }
    };
    (StatusCode::OK, axum::Json(body))
}

async fn slack(
    State(calls): State<Arc<Mutex<Vec<Call>>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
) -> axum::Json<Value> {
    let token = bearer(&headers, "Bearer ");
    record(&calls, "slack", &method, token, &headers);
    let refused = json!({"ok": false, "error": "invalid_auth"});
    axum::Json(match (method.as_str(), token) {
        ("auth.test", SLACK_BOT_TOKEN) => json!({
            "ok": true, "url": "https://clawhost-test.slack.com/", "team": "Clawhost Test",
            "user": "clawbot", "team_id": "T0123", "user_id": "U0456", "bot_id": "B0789",
        }),
        ("auth.test", SLACK_USER_TOKEN_AS_BOT) => json!({
            "ok": true, "team": "Clawhost Test", "user": "someone", "team_id": "T0123", "user_id": "U0999",
        }),
        // No Socket Mode server here: the channel runs, trying to connect.
        ("apps.connections.open", SLACK_APP_TOKEN) => {
            json!({"ok": true, "url": "ws://127.0.0.1:9/link/?ticket=test"})
        }
        _ => refused,
    })
}

async fn step_up(owner: &Client) {
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
}

/// With the gateway stopped: each token is checked before anything is kept (its form, the
/// channel's refusal, a person's token, a bot without the Message Content intent unless in
/// mention-only mode), then Discord is kept for the next start.
pub async fn checked_before_kept(owner: &Client, chats: &FakeChats) {
    assert_eq!(
        owner.json("/api/channels/discord").await["discord"],
        Value::Null
    );
    assert_eq!(
        owner.json("/api/channels/slack").await["slack"],
        Value::Null
    );
    step_up(owner).await;
    let refused = [
        (
            json!({"token": "1098765432109876543"}),
            "token",
            "application's ID",
        ),
        (json!({"token": "not a token"}), "token", "not a bot token"),
        (
            json!({"token": "MTA5ODc2NTQzMjEwOTg3NjU0NQ.GhXyZc.refused-by-the-test-discord-0123456789"}),
            "token",
            "Discord refused the token",
        ),
        (
            json!({"token": DISCORD_TOKEN_NO_INTENT}),
            "mention_only",
            "Message Content intent",
        ),
    ];
    for (body, field, words) in refused {
        let problem = assert_problem(owner.put("/api/channels/discord", &body).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert!(problem.to_string().contains(words), "{problem}");
        assert!(!problem.to_string().contains("MTA5ODc2"), "{problem}");
    }
    let slack_refused = [
        (
            json!({"bot_token": SLACK_APP_TOKEN, "app_token": SLACK_APP_TOKEN}),
            "bot_token",
            "second field",
        ),
        (
            json!({"bot_token": SLACK_USER_TOKEN_AS_BOT, "app_token": SLACK_APP_TOKEN}),
            "bot_token",
            "belongs to a person",
        ),
        (
            json!({"bot_token": SLACK_BOT_TOKEN, "app_token": "xapp-1-A0123456789-1234567890-refusedbytheslack"}),
            "app_token",
            "invalid_auth",
        ),
    ];
    for (body, field, words) in slack_refused {
        let problem = assert_problem(owner.put("/api/channels/slack", &body).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert!(problem.to_string().contains(words), "{problem}");
    }
    // Nothing was kept.
    assert_eq!(
        owner.json("/api/channels/discord").await["discord"],
        Value::Null
    );
    assert_eq!(
        owner.json("/api/channels/slack").await["slack"],
        Value::Null
    );

    // A bot without the intent is taken in mention-only mode; a stopped gateway takes it at
    // its next start.
    let kept = owner
        .put(
            "/api/channels/discord",
            &json!({"token": format!("Bot {DISCORD_TOKEN_NO_INTENT}"), "mention_only": true}),
        )
        .await;
    assert_eq!(kept.status(), 200);
    let kept: Value = kept.json().await.expect("json");
    assert_eq!(
        kept,
        json!({"bot": "@clawhost_test_bot", "last4": "6789", "mention_only": true, "restarting": false})
    );
    let page = owner.page_text("/channels/discord").await;
    assert!(
        page.contains("mention-only") && !page.contains(DISCORD_TOKEN_NO_INTENT),
        "{page}"
    );
    // Replaced by a bot with the intent.
    let kept = owner
        .put("/api/channels/discord", &json!({"token": DISCORD_TOKEN}))
        .await;
    assert_eq!(kept.status(), 200);
    let kept: Value = kept.json().await.expect("json");
    assert_eq!(kept["mention_only"], false, "{kept}");
    assert!(
        chats.calls().iter().all(|c| c.from_clawhost),
        "{:?}",
        chats.calls()
    );
}

/// With the gateway running (it started with Discord set up): OpenClaw's Discord plugin was
/// installed and its channel calls Discord with the real token; Slack set up now restarts
/// the gateway, which takes it the same way; removing Discord takes it off without a
/// restart; no token is ever in the gateway's files.
pub async fn given_to_the_gateway(owner: &Client, chats: &FakeChats, data_dir: &std::path::Path) {
    let running = eventually(Duration::from_mins(2), || async {
        chats.gateway_called("discord", "users/@me", DISCORD_TOKEN)
    })
    .await;
    assert!(
        running.is_some(),
        "the gateway never called Discord: {:?}",
        chats.calls()
    );
    let shown = eventually(Duration::from_mins(1), || lists(owner, &["discord"], &[])).await;
    assert!(shown.is_some(), "{:?}", listed(owner).await);
    let page = owner.page_text("/channels/discord").await;
    assert!(page.contains(r#"data-field="discord-health">"#), "{page}");

    let status = owner.json("/api/gateway/status").await;
    step_up(owner).await;
    let set = owner
        .put(
            "/api/channels/slack",
            &json!({"bot_token": SLACK_BOT_TOKEN, "app_token": SLACK_APP_TOKEN}),
        )
        .await;
    assert_eq!(set.status(), 200);
    let set: Value = set.json().await.expect("json");
    assert_eq!(
        set,
        json!({"bot": "@clawbot in Clawhost Test", "last4": "Test", "mention_only": false, "restarting": true})
    );
    let restarted = eventually(Duration::from_mins(4), || async {
        chats.gateway_called("slack", "apps.connections.open", SLACK_APP_TOKEN)
    })
    .await;
    assert!(
        restarted.is_some(),
        "the gateway never opened Slack's socket: {:?}",
        chats.calls()
    );
    let after = crate::gateway::wait_for_state(owner, "running").await;
    assert_ne!(after["pid"], status["pid"], "{after}");
    let shown = eventually(Duration::from_mins(2), || {
        lists(owner, &["discord", "slack"], &[])
    })
    .await;
    assert!(shown.is_some(), "{:?}", listed(owner).await);

    let config_file = data_dir.join("openclaw").join("openclaw.json");
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_file).expect("config")).expect("json");
    assert_eq!(
        config["channels"]["discord"]["token"],
        json!({"source": "env", "provider": "default", "id": "CLAWHOST_DISCORD_TOKEN"}),
        "{config}"
    );
    assert_eq!(
        config["channels"]["discord"]["intents"]["messageContent"],
        true
    );
    assert_eq!(
        config["channels"]["slack"]["appToken"],
        json!({"source": "env", "provider": "default", "id": "CLAWHOST_SLACK_APP_TOKEN"}),
        "{config}"
    );

    // Removed without a restart: the section goes, the gateway drops the channel.
    step_up(owner).await;
    assert_eq!(owner.delete("/api/channels/discord").await.status(), 204);
    assert_problem(owner.delete("/api/channels/discord").await, 404).await;
    let gone = eventually(Duration::from_mins(1), || {
        lists(owner, &["slack"], &["discord"])
    })
    .await;
    assert!(gone.is_some(), "{:?}", listed(owner).await);
    assert_eq!(owner.json("/api/gateway/status").await["pid"], after["pid"]);
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_file).expect("config")).expect("json");
    assert!(config["channels"].get("discord").is_none(), "{config}");
    assert!(config["channels"].get("slack").is_some(), "{config}");
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "channel_removed"), "{kinds:?}");
    crate::gateway::assert_not_in_files(
        data_dir,
        &[
            DISCORD_TOKEN,
            DISCORD_TOKEN_NO_INTENT,
            SLACK_BOT_TOKEN,
            SLACK_APP_TOKEN,
        ],
    );
}

/// The channels the running gateway lists as configured; `None` while it does not answer
/// (restarting). A channel whose plugin is installed is listed even when not configured.
async fn listed(owner: &Client) -> Option<Vec<String>> {
    let response = owner.get("/api/channels").await;
    if response.status() != 200 {
        return None;
    }
    let list: Value = response.json().await.ok()?;
    Some(
        list["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["configured"] == true)
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// Whether the running gateway has each of `wanted` configured and none of `gone`.
async fn lists(owner: &Client, wanted: &[&str], gone: &[&str]) -> bool {
    listed(owner).await.is_some_and(|ids| {
        wanted.iter().all(|w| ids.iter().any(|id| id == w))
            && gone.iter().all(|g| ids.iter().all(|id| id != g))
    })
}
