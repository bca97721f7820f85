//! Channel state: WhatsApp's link read from fixture credential files with the gateway
//! stopped (never followed through a symlink, never fatal); linking WhatsApp through the
//! real gateway (plugin install, then the QR or the plugin's own error: this machine cannot
//! reach WhatsApp) and the channel health the gateway then reports; on the same gateway,
//! Discord and Slack set up through clawhost (see [`crate::token_channels`]).

use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::{configure_test_llm, read_events, wait_for_state};
use crate::harness::{TestServer, assert_problem, gateway_options, one_gateway_at_a_time};
use crate::llm::TestLlm;
use crate::token_channels::{
    DISCORD_TOKEN, DISCORD_TOKEN_NO_INTENT, FakeChats, SLACK_APP_TOKEN, SLACK_BOT_TOKEN,
};

/// npm fetches the ~60 MB plugin; then the gateway asks WhatsApp for a QR.
const LINK_FLOW: Duration = Duration::from_mins(10);

#[tokio::test]
async fn whatsapp_link_state_from_files() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let account = server
        .data_dir()
        .join("openclaw/credentials/whatsapp/default");
    let creds = account.join("creds.json");

    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(
        link,
        json!({"linked": false, "phone": null, "source": "files"})
    );

    std::fs::create_dir_all(&account).expect("dir");
    std::fs::write(
        &creds,
        r#"{"me":{"id":"15557654321:12@s.whatsapp.net"},"registered":false}"#,
    )
    .expect("write");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(
        link,
        json!({"linked": true, "phone": "+1•••••4321", "source": "files"})
    );
    assert!(
        std::fs::read_to_string(&creds)
            .expect("read")
            .contains("\"registered\":false"),
        "clawhost never rewrites the file"
    );

    std::fs::write(&creds, "x").expect("write");
    assert_eq!(owner.json("/api/channels/whatsapp").await["linked"], false);

    std::fs::write(&creds, "{ not json").expect("write");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(link["linked"], false);
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("not valid JSON")
    );

    std::fs::remove_file(&creds).expect("remove");
    std::fs::create_dir(&creds).expect("dir in its place");
    let link = owner.json("/api/channels/whatsapp").await;
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("not a regular file")
    );
    std::fs::remove_dir(&creds).expect("remove");

    let elsewhere = server.data_dir().join("elsewhere.json");
    std::fs::write(&elsewhere, r#"{"me":{"id":"15550000000@s.whatsapp.net"}}"#).expect("write");
    std::os::unix::fs::symlink(&elsewhere, &creds).expect("symlink");
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(link["linked"], false);
    assert!(
        link["problem"]
            .as_str()
            .expect("problem")
            .contains("symlink")
    );

    assert_eq!(owner.json("/api/channels").await, json!({"channels": []}));
    assert_problem(server.client().get("/api/channels/whatsapp").await, 401).await;
}

#[tokio::test]
async fn whatsapp_links_through_the_real_gateway() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let chats = FakeChats::start().await;
    let mut options = gateway_options();
    options.env.extend(chats.env());
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-whatsapp").await;
    server.secret("sk-test-whatsapp");
    for token in [
        DISCORD_TOKEN,
        DISCORD_TOKEN_NO_INTENT,
        SLACK_BOT_TOKEN,
        SLACK_APP_TOKEN,
    ] {
        server.secret(token);
    }
    // Discord set up while the gateway is stopped: it starts with it.
    crate::token_channels::checked_before_kept(&owner, &chats).await;

    // Linking needs the running gateway; before any flow the stream says idle.
    let refused = assert_problem(owner.post_empty("/api/channels/whatsapp/link").await, 409).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Start the gateway")
    );
    let idle = read_events(
        owner.get("/api/channels/whatsapp/link/events").await,
        Duration::from_secs(10),
        |_, _| true,
    )
    .await;
    assert_eq!(idle, [("idle".to_string(), json!({}))]);
    assert_problem(
        server
            .client()
            .post_empty("/api/channels/whatsapp/link")
            .await,
        401,
    )
    .await;
    let unknown = owner
        .post("/api/channels/whatsapp/link", &json!({"relink": "yes"}))
        .await;
    assert_problem(unknown, 422).await;

    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    wait_for_state(&owner, "running").await;
    // A gateway without the WhatsApp plugin lists no WhatsApp channel.
    let before = owner.json("/api/channels").await;
    assert!(
        !channel_ids(&before).contains(&"whatsapp".to_string()),
        "{before}"
    );

    let events = owner.get("/api/channels/whatsapp/link/events").await;
    // A second press joins the running flow instead of starting another.
    for _ in 0..2 {
        let pressed = owner.post_empty("/api/channels/whatsapp/link").await;
        assert_eq!(pressed.status(), 202);
    }
    let seen = read_events(events, LINK_FLOW, |name, _| {
        matches!(name, "qr" | "linked" | "failed")
    })
    .await;
    let (last, data) = seen.last().expect("events");
    assert!(
        seen.iter().any(|(name, data)| name == "progress"
            && data["phase"] == "plugin"
            && data["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("@openclaw/whatsapp@2026.9.6")),
        "{seen:?}"
    );
    match last.as_str() {
        "qr" => assert!(
            data["data_url"]
                .as_str()
                .unwrap_or_default()
                .starts_with("data:image/png;base64,"),
            "{data}"
        ),
        "failed" => {
            // The plugin's own reason (no WhatsApp servers here), not an install failure.
            let detail = data["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("WhatsApp login"), "{seen:?}");
            assert!(!detail.contains("Installing"), "{seen:?}");
            let page = owner.get_html("/channels/whatsapp").await;
            assert_eq!(page.status(), 200);
            let html = page.text().await.expect("html");
            assert!(html.contains("WhatsApp is not linked."), "{html}");
            assert!(html.contains("Try again"), "{html}");
        }
        other => panic!("unexpected end {other}: {seen:?}"),
    }
    let log = owner.json("/api/gateway/logs?tail=2000").await;
    let installs = log["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|line| {
            line["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("WhatsApp: Installing the WhatsApp plugin (")
        })
        .count();
    assert_eq!(installs, 1, "{log}");

    // With the plugin installed the gateway lists WhatsApp as not linked, with its fix.
    let channels = owner.json("/api/channels").await;
    let whatsapp = channels["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["id"] == "whatsapp")
        .unwrap_or_else(|| panic!("no whatsapp in {channels}"))
        .clone();
    assert_eq!(whatsapp["configured"], true, "{whatsapp}");
    assert_eq!(whatsapp["linked"], false, "{whatsapp}");
    assert_eq!(whatsapp["issues"][0]["kind"], "auth", "{whatsapp}");
    assert!(
        whatsapp["issues"][0]["gateway_fix"]
            .as_str()
            .unwrap_or_default()
            .contains("openclaw channels login"),
        "{whatsapp}"
    );
    assert!(
        whatsapp["issues"][0]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("Link WhatsApp"),
        "the gateway's CLI hint is said as clawhost's action: {whatsapp}"
    );
    let link = owner.json("/api/channels/whatsapp").await;
    assert_eq!(
        link,
        json!({"linked": false, "phone": null, "source": "gateway"})
    );

    crate::token_channels::given_to_the_gateway(&owner, &chats, &server.data_dir()).await;

    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
    assert_eq!(
        owner.json("/api/channels/whatsapp").await["source"],
        "files"
    );
}

fn channel_ids(list: &Value) -> Vec<String> {
    list["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}
