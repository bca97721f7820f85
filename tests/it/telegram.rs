//! A small Telegram Bot API for the tests, at the `apiRoot` OpenClaw's Telegram channel is
//! given: `getMe` names a bot, `getUpdates` hands out what a test queued (people writing to
//! the bot), `sendMessage` and every other method are recorded and answered `ok`.
//!
//! The shapes are those OpenClaw 2026.9.6 sends and needs (observed on the real gateway):
//! `GET /bot<token>/getMe`, every other method a JSON `POST`, `getUpdates` answered at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::any;
use serde_json::{Value, json};

use crate::harness::{Client, PASSWORD, eventually};

pub const BOT_TOKEN: &str = "123456789:AAtest-bot-token-for-clawhost-tests";
pub const BOT_USERNAME: &str = "clawhost_test_bot";

#[derive(Default)]
struct Bot {
    /// Updates not yet confirmed by an `offset` past them.
    updates: Vec<Value>,
    next_update: i64,
    next_message: i64,
    /// Every call but `getUpdates`: method and body.
    calls: Vec<(String, Value)>,
    polled: bool,
}

pub struct FakeTelegram {
    pub api_root: String,
    bot: Arc<Mutex<Bot>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let bot = Arc::new(Mutex::new(Bot {
            next_update: 500_000_001,
            ..Bot::default()
        }));
        let app = Router::new()
            .route("/{bot}/{method}", any(method))
            .with_state(bot.clone());
        let (addr, task) = crate::harness::serve_on_loopback(app).await;
        Self {
            api_root: format!("http://{addr}"),
            bot,
            task,
        }
    }

    /// A person the bot has never seen writes to it in private.
    pub fn dm_from(&self, user_id: i64, username: &str, text: &str) {
        let mut bot = self.bot.lock().expect("bot");
        bot.next_update += 1;
        bot.next_message += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let update = json!({"update_id": bot.next_update, "message": {
            "message_id": bot.next_message, "date": now,
            "chat": {"id": user_id, "type": "private", "first_name": username},
            "from": {"id": user_id, "is_bot": false, "first_name": username, "username": username},
            "text": text,
        }});
        bot.updates.push(update);
    }

    /// The texts the bot sent to `chat` (OpenClaw sends the id as a number or a string).
    pub fn sent_to(&self, chat: i64) -> Vec<String> {
        self.bot
            .lock()
            .expect("bot")
            .calls
            .iter()
            .filter(|(method, body)| {
                method == "sendMessage"
                    && (body["chat_id"] == chat
                        || body["chat_id"].as_str() == Some(chat.to_string().as_str()))
            })
            .filter_map(|(_, body)| body["text"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the gateway asked for updates (its channel runs), with the real token.
    pub fn polled(&self) -> bool {
        self.bot.lock().expect("bot").polled
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn method(
    State(bot): State<Arc<Mutex<Bot>>>,
    Path((token, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    if token != format!("bot{BOT_TOKEN}") {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut bot = bot.lock().expect("bot");
    let result = match method.as_str() {
        "getUpdates" => {
            bot.polled = true;
            let offset = body["offset"].as_i64().unwrap_or(0);
            bot.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            return (
                axum::http::StatusCode::OK,
                axum::Json(json!({"ok": true, "result": bot.updates})),
            );
        }
        "getMe" => json!({"id": 123_456_789, "is_bot": true, "first_name": "Test bot",
                          "username": BOT_USERNAME}),
        "sendMessage" => {
            bot.next_message += 1;
            json!({"message_id": bot.next_message, "date": 0,
                   "chat": {"id": body["chat_id"], "type": "private"},
                   "from": {"id": 123_456_789, "is_bot": true, "first_name": "Test bot"},
                   "text": body["text"]})
        }
        _ => json!(true),
    };
    bot.calls.push((method, body));
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({"ok": true, "result": result})),
    )
}

/// Telegram set up through clawhost, and DM pairing, on the real gateway (called from the
/// gateway's lifecycle test): the bot token is checked with Telegram, kept sealed and never
/// given to the gateway, which reaches Telegram through the egress proxy with a virtual token
/// (the fake Telegram takes only the real one); strangers who write to the bot each get a code
/// and wait until the owner lets them in or turns them away through clawhost, one at a time.
pub async fn strangers_wait_for_the_owner(owner: &Client, data_dir: &std::path::Path) {
    let telegram = FakeTelegram::start().await;
    let nobody = owner.json("/api/channels/pairing").await;
    assert_eq!(nobody["requests"], json!([]), "{nobody}");
    assert_eq!(
        owner.json("/api/channels/telegram").await["telegram"],
        Value::Null
    );

    // Checked before anything is kept: a token of the wrong shape, one Telegram refuses.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let set =
        |token: &str| json!({"bot_token": token, "api_root": format!("{}/", telegram.api_root)});
    for (token, words) in [
        ("not a token", "not a bot token"),
        (
            "123456789:AArefused-by-telegram-for-this-test",
            "Telegram refused",
        ),
    ] {
        let refused = owner.put("/api/channels/telegram", &set(token)).await;
        let problem = crate::harness::assert_problem(refused, 422).await;
        assert_eq!(problem["errors"][0]["field"], "bot_token", "{problem}");
        assert!(problem.to_string().contains(words), "{problem}");
    }
    assert_eq!(
        owner.json("/api/channels/telegram").await["telegram"],
        Value::Null
    );

    // Set up: the running gateway takes it at once, through the egress proxy.
    let done = owner.put("/api/channels/telegram", &set(BOT_TOKEN)).await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.expect("json");
    assert_eq!(done["bot"], format!("@{BOT_USERNAME}"), "{done}");
    assert_eq!(done["applied"], true, "{done}");
    assert!(!done.to_string().contains(BOT_TOKEN), "{done}");
    let polled = eventually(Duration::from_mins(1), || async { telegram.polled() }).await;
    assert!(polled.is_some(), "the gateway never polled Telegram");
    let config_file = data_dir.join("openclaw").join("openclaw.json");
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_file).expect("config")).expect("json");
    let section = &config["channels"]["telegram"];
    assert!(
        section["apiRoot"].as_str().is_some_and(
            |root| root.starts_with("http://127.0.0.1:") && root.ends_with("/telegram")
        ),
        "{section}"
    );
    assert!(
        section["botToken"]
            .as_str()
            .is_some_and(|token| token.starts_with("123456789:clawhost-")),
        "{section}"
    );
    crate::gateway::assert_not_in_files(data_dir, &[BOT_TOKEN]);
    // The page shows the bot and the channel's health from the gateway, never the token; a
    // token Telegram refuses changes nothing.
    // Polling counts as running; OpenClaw may or may not call it connected before a message.
    let healthy = eventually(Duration::from_secs(30), || async {
        let page = owner.page_text("/channels/telegram").await;
        page.contains(r#"data-field="telegram-health">connected<"#)
            || page.contains(r#"data-field="telegram-health">running, not connected yet<"#)
    })
    .await;
    assert!(
        healthy.is_some(),
        "{}",
        owner.page_text("/channels/telegram").await
    );
    let page = owner.page_text("/channels/telegram").await;
    assert!(
        page.contains(&format!("@{BOT_USERNAME}")) && !page.contains(BOT_TOKEN),
        "{page}"
    );
    let refused = owner
        .post_form(
            "/channels/telegram",
            &[
                ("bot_token", "123456789:AArefused-by-telegram-for-this-test"),
                ("api_root", telegram.api_root.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.expect("page");
    assert!(page.contains("Telegram refused the token"), "{page}");
    assert_eq!(
        owner.json("/api/channels/telegram").await["telegram"]["bot"],
        format!("@{BOT_USERNAME}")
    );

    // A stranger writes; the bot answers with a pairing code, and the owner sees who asks.
    let alice = 987_654_321;
    telegram.dm_from(alice, "alice_test", "hello");
    let coded = eventually(Duration::from_secs(30), || async {
        telegram
            .sent_to(alice)
            .iter()
            .any(|text| text.contains("Pairing code"))
    })
    .await;
    assert!(coded.is_some(), "no pairing code for the stranger");
    let request = waiting(owner, "987654321").await;
    assert_eq!(request["channel"], "telegram", "{request}");
    assert_eq!(request["sender"], "@alice_test", "{request}");
    assert!(request["expires_at"].is_string(), "{request}");

    // Let in (a fresh step-up): the channel tells her.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let id = request["request_id"].as_str().expect("id");
    let approved = owner
        .post_empty(&format!("/api/channels/pairing/telegram/{id}/approve"))
        .await;
    assert_eq!(approved.status(), 200);
    let approved: Value = approved.json().await.expect("json");
    assert_eq!(approved["sender_id"], "987654321", "{approved}");
    assert_eq!(approved["notification"], "sent", "{approved}");
    assert!(
        telegram
            .sent_to(alice)
            .iter()
            .any(|text| text.contains("access approved")),
        "{:?}",
        telegram.sent_to(alice)
    );
    let again = owner
        .post_empty(&format!("/api/channels/pairing/telegram/{id}/approve"))
        .await;
    assert_eq!(again.status(), 404);

    // Another stranger, turned away from the page; nothing is sent to him.
    // Told while the owner watches: read every 5 s while a stream is open.
    let live = owner.get("/api/devices/events").await;
    let bob = 111_222_333;
    telegram.dm_from(bob, "bob_test", "let me in");
    crate::gateway::read_events(live, Duration::from_secs(20), |name, requests| {
        name == "dm_requests"
            && requests
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["sender_id"] == "111222333"))
    })
    .await;
    let dashboard = owner.page_text("/").await;
    assert!(
        dashboard.contains("1 person asks to message your assistant"),
        "{dashboard}"
    );
    let request = waiting(owner, "111222333").await;
    let page = owner.page_text("/devices").await;
    assert!(page.contains("@bob_test"), "{page}");
    let id = request["request_id"].as_str().expect("id");
    let turned = owner
        .post_form(&format!("/devices/messages/telegram/{id}/deny"), &[])
        .await;
    assert_eq!(turned.status(), 303);
    let left = owner.json("/api/channels/pairing").await;
    assert_eq!(left["requests"], json!([]), "{left}");
    assert_eq!(telegram.sent_to(bob).len(), 1, "only his pairing code");
    let kinds = owner.event_kinds().await;
    for kind in ["dm_access_approved", "dm_access_denied"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }

    // Removed: the token is forgotten and the section leaves the gateway's configuration.
    let removed = owner.delete("/api/channels/telegram").await;
    assert_eq!(removed.status(), 204);
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_file).expect("config")).expect("json");
    assert!(config["channels"].get("telegram").is_none(), "{config}");
    assert_eq!(
        owner.json("/api/channels/telegram").await["telegram"],
        Value::Null
    );
    assert_eq!(owner.delete("/api/channels/telegram").await.status(), 404);
    let kinds = owner.event_kinds().await;
    for kind in ["channel_set", "channel_removed"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

/// The request from `sender_id` once the gateway lists it.
async fn waiting(owner: &Client, sender_id: &str) -> Value {
    let find = |listed: &Value| {
        listed["requests"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["sender_id"] == sender_id).cloned())
    };
    let listed = eventually(Duration::from_secs(30), || async {
        find(&owner.json("/api/channels/pairing").await).is_some()
    })
    .await;
    assert!(listed.is_some(), "no request from {sender_id}");
    find(&owner.json("/api/channels/pairing").await).expect("the request")
}
