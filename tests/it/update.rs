//! OpenClaw updates on the real gateway: from one release of the npm registry to the next,
//! and to one that does not come up, which rolls itself back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::gateway::{configure_test_llm, gateway_port, gateway_token, wait_for_state};
use crate::harness::{
    Client, TestServer, eventually, gateway_options, one_gateway_at_a_time, openclaw_runtime_of,
    own_runtime,
};
use crate::llm::TestLlm;

const FROM: &str = "2026.9.5";

/// Waits until the update (or rollback) under way has ended; its outcome.
async fn update_ended(owner: &Client, to: &str) -> Value {
    let ended = eventually(Duration::from_mins(8), || async {
        let versions = owner.json("/api/gateway/versions").await;
        versions["updating"] == false && versions["last_update"]["to"] == to
    })
    .await;
    assert!(
        ended.is_some(),
        "the update to {to} did not end within 8 minutes"
    );
    owner.json("/api/gateway/versions").await["last_update"].clone()
}

/// A chat through the running gateway reaches the test LLM.
async fn chats(server: &TestServer, owner: &Client, llm: &TestLlm, key: &str) {
    let pid = owner.json("/api/gateway/status").await["pid"]
        .as_u64()
        .expect("pid");
    let token = gateway_token(pid);
    server.secret(&token);
    let mut rpc =
        clawhost::RpcClient::connect(gateway_port(server), &token, Duration::from_secs(30))
            .await
            .expect("rpc");
    let before = llm.seen().len();
    rpc.call(
        "chat.send",
        json!({"sessionKey": "main", "message": "still there?", "idempotencyKey": format!("update-{before}")}),
        Duration::from_secs(30),
    )
    .await
    .expect("chat.send");
    let bearer = format!("Bearer {key}");
    let reached = eventually(Duration::from_mins(1), || async {
        llm.seen()[before..].iter().any(|s| {
            s.path == "/v1/chat/completions" && s.authorization.as_deref() == Some(bearer.as_str())
        })
    })
    .await;
    assert!(reached.is_some(), "the chat never reached the test LLM");
    rpc.close().await;
}

#[tokio::test]
async fn an_update_switches_versions_and_a_failing_one_rolls_itself_back() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let key = "sk-update-provider-key-77";
    let runtime = own_runtime(&openclaw_runtime_of(FROM));
    let mut options = gateway_options();
    options
        .env
        .retain(|(name, _)| name != "CLAWHOST_RUNTIME_DIR");
    options.env.push((
        "CLAWHOST_RUNTIME_DIR".into(),
        runtime.path().display().to_string(),
    ));
    let server = TestServer::start_with(options);
    server.secret(key);
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, key).await;
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    wait_for_state(&owner, "running").await;
    let versions = owner.json("/api/gateway/versions").await;
    assert_eq!(versions["installed"], FROM);
    assert_eq!(versions["pinned"], clawhost::OPENCLAW_VERSION);
    assert_eq!(versions["previous"], Value::Null);
    let offered = eventually(Duration::from_mins(1), || async {
        owner.json("/api/gateway/versions").await["available"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == clawhost::OPENCLAW_VERSION))
    })
    .await;
    assert!(
        offered.is_some(),
        "{}",
        owner.json("/api/gateway/versions").await
    );
    let dashboard = owner.page_text("/").await;
    assert!(dashboard.contains("Update to"), "{dashboard}");

    // A version that is no release changes nothing.
    let refused = owner
        .post("/api/gateway/update", &json!({"version": "2026.99.99"}))
        .await;
    assert_eq!(refused.status(), 202);
    let outcome = update_ended(&owner, "2026.99.99").await;
    assert_eq!(outcome["result"], "refused", "{outcome}");
    assert_eq!(owner.json("/api/gateway/versions").await["installed"], FROM);
    wait_for_state(&owner, "running").await;

    // FROM → the pinned release: installed beside, checked, backed up, switched, healthy.
    let to = clawhost::OPENCLAW_VERSION;
    let started = owner
        .post("/api/gateway/update", &json!({"version": to}))
        .await;
    assert_eq!(started.status(), 202);
    let outcome = update_ended(&owner, to).await;
    assert_eq!(outcome["result"], "updated", "{outcome}");
    // The new version's doctor looked at the configuration and the state before the switch
    // and probed the plugins after it; what it advised is in the outcome.
    assert!(outcome["advice"].is_array(), "{outcome}");
    let log = owner.json("/api/gateway/logs?tail=2000").await.to_string();
    for step in ["openclaw doctor --lint", "openclaw doctor --post-upgrade"] {
        assert!(log.contains(step), "no step {step}: {log}");
    }
    let versions = owner.json("/api/gateway/versions").await;
    assert_eq!(versions["installed"], to);
    assert_eq!(versions["previous"], FROM);
    let status = wait_for_state(&owner, "running").await;
    assert_eq!(status["openclaw_version"], to);
    chats(&server, &owner, &llm, key).await;
    let backups = owner.json("/api/backups").await;
    assert_eq!(
        backups["backups"].as_array().map(Vec::len),
        Some(1),
        "{backups}"
    );
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "openclaw_updated"), "{kinds:?}");

    // Back to FROM by hand, and forward again.
    assert_eq!(
        owner.post_empty("/api/gateway/rollback").await.status(),
        202
    );
    let outcome = update_ended(&owner, FROM).await;
    assert_eq!(outcome["result"], "switched_back", "{outcome}");
    let status = wait_for_state(&owner, "running").await;
    assert_eq!(status["openclaw_version"], FROM);
    assert_eq!(
        owner.post_empty("/api/gateway/rollback").await.status(),
        202
    );
    update_ended(&owner, to).await;
    wait_for_state(&owner, "running").await;

    // An older release that cannot run on the state the newer one left: it does not come up,
    // and the update rolls itself back.
    let old = "2026.7.35";
    let started = owner
        .post("/api/gateway/update", &json!({"version": old}))
        .await;
    assert_eq!(started.status(), 202);
    let outcome = update_ended(&owner, old).await;
    assert_eq!(outcome["result"], "rolled_back", "{outcome}");
    let status = wait_for_state(&owner, "running").await;
    assert_eq!(status["openclaw_version"], to);
    assert_eq!(owner.json("/api/gateway/versions").await["installed"], to);
    chats(&server, &owner, &llm, key).await;
    let kinds = owner.event_kinds().await;
    assert!(
        kinds.iter().any(|k| k == "openclaw_rolled_back"),
        "{kinds:?}"
    );
    let dashboard = owner.page_text("/").await;
    assert!(dashboard.contains("Rolled back"), "{dashboard}");
}

/// `clawhost update-openclaw` from the shell: a release name, clawhost stopped, and only for
/// a runtime clawhost installed.
#[tokio::test]
async fn the_command_line_update_needs_a_release_and_clawhost_stopped() {
    let server = TestServer::start();
    let _owner = server.claimed().await;
    let text = |output: std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let running = server.cli(&["update-openclaw", clawhost::OPENCLAW_VERSION]);
    assert!(!running.status.success());
    assert!(text(running).contains("clawhost is running"));
    let data = server.into_data();
    let dir = data.path().join("data");
    let bad = crate::harness::clawhost()
        .args(["update-openclaw", "latest; rm -rf /", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(text(bad).contains("version"));
    let theirs = crate::harness::clawhost()
        .args(["update-openclaw", clawhost::OPENCLAW_VERSION, "--data-dir"])
        .arg(&dir)
        .env("CLAWHOST_GATEWAY_COMMAND", "/bin/true")
        .output()
        .expect("run");
    assert!(!theirs.status.success());
    assert!(text(theirs).contains("gateway.command"));
}
