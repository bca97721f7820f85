//! Step-up authentication (issue 11, defect 2): the Control UI is third-party code on
//! clawhost's own origin, so script in it passes the same-origin check. What it cannot do is
//! give the owner's password: the sensitive actions need it given in this session within
//! `session.reauth_window` (here 1 s, so the tests can wait it out).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Client, Options, PASSWORD, TestServer, assert_problem, eventually};

fn short_window() -> Options {
    Options {
        env: vec![("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "1s".into())],
        ..Options::default()
    }
}

/// Waits until the password given at sign-in no longer counts: an invalid settings body is
/// 422 while it does, 403 once it does not (the check comes before the body, nothing saved).
async fn until_stale(owner: &Client) {
    let stale = eventually(Duration::from_secs(5), || async {
        owner
            .put("/api/gateway/settings", &json!({}))
            .await
            .status()
            == 403
    })
    .await;
    assert!(stale.is_some(), "the step-up window never ended");
}

fn is_step_up(problem: &Value) -> bool {
    problem["type"]
        .as_str()
        .is_some_and(|t| t.ends_with("reauthentication-required"))
}

#[tokio::test]
async fn sensitive_actions_need_the_password_given_recently() {
    let server = TestServer::start_with(short_window());
    let owner = server.claimed().await;
    // Right after signing in (which is giving the password) they work.
    let settings = json!({"provider": "openai-compatible", "api_key": "sk-test-step-up",
        "base_url": "http://127.0.0.1:9/v1", "model": "m"});
    server.secret("sk-test-step-up");
    assert_eq!(
        owner.put("/api/gateway/settings", &settings).await.status(),
        200
    );

    let other = server.login().await;
    let me: Value = other.json("/api/auth/me").await;
    let other_id = me["session"]["id"].as_str().expect("id").to_string();
    until_stale(&owner).await;

    let refused = [
        owner.put("/api/gateway/settings", &settings).await,
        owner.post_empty("/api/auth/sessions/revoke-others").await,
        owner
            .delete(&format!("/api/auth/sessions/{other_id}"))
            .await,
        owner.post_empty("/api/gateway/rotate-credential").await,
        owner.post_empty("/api/gateway/runtime/install").await,
        owner
            .post("/api/channels/whatsapp/link", &json!({"relink": true}))
            .await,
        owner.post_empty("/api/usage/pause").await,
        owner.post_empty("/api/usage/resume").await,
        owner.post_empty("/api/devices/pending/r1/approve").await,
        owner.post_empty("/api/devices/pending/r1/reject").await,
        owner.delete("/api/devices/d1").await,
        owner.post_empty("/api/devices/nodes/r1/approve").await,
        owner.post_empty("/api/devices/nodes/r1/reject").await,
        owner.post_empty("/api/devices/setup-code").await,
        owner
            .post_empty("/api/channels/pairing/telegram/r1/approve")
            .await,
        owner
            .post_empty("/api/channels/pairing/telegram/r1/deny")
            .await,
        owner
            .put(
                "/api/channels/telegram",
                &json!({"bot_token": "123456789:AAnever-checked-while-stale"}),
            )
            .await,
        owner.delete("/api/channels/telegram").await,
        owner
            .put(
                "/api/channels/discord",
                &json!({"token": "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhXyZa.never-checked-while-stale-0123456789"}),
            )
            .await,
        owner.delete("/api/channels/discord").await,
        owner
            .put(
                "/api/channels/slack",
                &json!({"bot_token": "xoxb-1-2-never-checked-while-stale", "app_token": "xapp-1-A1-2-never-checked"}),
            )
            .await,
        owner.delete("/api/channels/slack").await,
    ];
    for response in refused {
        let problem = assert_problem(response, 403).await;
        assert!(is_step_up(&problem), "{problem}");
    }
    assert_eq!(
        other.get("/api/auth/me").await.status(),
        200,
        "nothing was revoked"
    );
    assert_eq!(owner.json("/api/usage").await["paused"], false);
    // Devices are the running gateway's to report; none runs here.
    assert_problem(owner.get("/api/devices").await, 409).await;
    assert_problem(owner.get("/api/channels/pairing").await, 409).await;
    let page = owner.page_text("/devices").await;
    assert!(page.contains("The gateway is not running"), "{page}");
    let live = owner.get("/api/devices/events").await;
    crate::gateway::read_events(live, Duration::from_secs(5), |name, devices| {
        name == "devices" && devices.is_null()
    })
    .await;
    for form in [
        "/devices/pending/r1/approve",
        "/devices/pending/r1/reject",
        "/devices/paired/d1/remove",
        "/devices/nodes/r1/approve",
        "/devices/nodes/r1/reject",
        "/devices/setup-code",
        "/devices/messages/telegram/r1/approve",
        "/devices/messages/telegram/r1/deny",
        "/channels/telegram/remove",
        "/channels/discord/remove",
        "/channels/slack/remove",
    ] {
        let asked = owner.post_form(form, &[]).await;
        assert_eq!(asked.status(), 403, "{form}");
        let page = asked.text().await.expect("page");
        assert!(page.contains("reauth_password"), "{form}: {page}");
    }

    // A wrong password is a field error (and counts for the lockouts), the right one opens
    // the window again.
    let wrong = owner
        .post(
            "/api/auth/reauthenticate",
            &json!({"password": "not it, not at all"}),
        )
        .await;
    let problem = assert_problem(wrong, 422).await;
    assert_eq!(problem["errors"][0]["field"], "password");
    let right = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(right.status(), 204);
    assert_eq!(
        owner.put("/api/gateway/settings", &settings).await.status(),
        200
    );
    let revoked = owner
        .delete(&format!("/api/auth/sessions/{other_id}"))
        .await;
    assert_eq!(revoked.status(), 204);

    // Signing oneself out never needs it.
    until_stale(&owner).await;
    let me: Value = owner.json("/api/auth/me").await;
    let own = me["session"]["id"].as_str().expect("id");
    assert_eq!(
        owner
            .delete(&format!("/api/auth/sessions/{own}"))
            .await
            .status(),
        204
    );
    let events = server
        .login()
        .await
        .json("/api/auth/events?limit=200")
        .await;
    assert!(
        events["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "reauthenticated"),
        "{events}"
    );
}

/// The saved key is sent only where it went before: moving the endpoint to another host
/// needs the key again, so a session alone cannot send it to a server of its choosing.
#[tokio::test]
async fn moving_the_endpoint_needs_the_key_again() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    server.secret("sk-test-exfiltration");
    let saved = owner
        .put(
            "/api/gateway/settings",
            &json!({"provider": "openai-compatible", "api_key": "sk-test-exfiltration",
                "base_url": "http://127.0.0.1:9/v1", "model": "m"}),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let moved = owner
        .put(
            "/api/gateway/settings",
            &json!({"provider": "openai-compatible", "base_url": "https://collector.example/v1",
                "model": "m"}),
        )
        .await;
    let problem = assert_problem(moved, 422).await;
    assert_eq!(problem["errors"][0]["field"], "api_key", "{problem}");
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(
        settings["base_url"], "http://127.0.0.1:9/v1",
        "nothing changed"
    );
}

/// Without JavaScript: a stale session's form is answered with a page asking for the
/// password that posts the same fields on; a wrong password asks again, the right one
/// carries the action out.
#[tokio::test]
async fn pages_ask_for_the_password_and_carry_on() {
    let server = TestServer::start_with(short_window());
    let owner = server.claimed().await;
    let other = server.login().await;
    until_stale(&owner).await;

    let form = [
        ("provider", "openai-compatible"),
        ("api_key", "sk-test-typed-once"),
        ("base_url", "http://127.0.0.1:9/v1"),
        ("model", "typed-model"),
    ];
    server.secret("sk-test-typed-once");
    let asked = owner.post_form("/setup/provider", &form).await;
    assert_eq!(asked.status(), 403);
    let page = asked.text().await.expect("page");
    assert!(page.contains("Confirm it"), "{page}");
    assert!(page.contains("action=\"/setup/provider\""), "{page}");
    for (_, value) in form {
        assert!(page.contains(&format!("value=\"{value}\"")), "{value} kept");
    }
    assert!(owner.json("/api/gateway/settings").await["provider"].is_null());

    let mut again: Vec<(&str, &str)> = form.to_vec();
    again.push(("reauth_password", "not my password at all"));
    let wrong = owner.post_form("/setup/provider", &again).await;
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .expect("page")
            .contains("not the password")
    );

    again.pop();
    again.push(("reauth_password", PASSWORD));
    let done = owner.post_form("/setup/provider", &again).await;
    assert_eq!(done.status(), 303);
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(settings["model"], "typed-model");
    assert_eq!(settings["key"]["last4"], "once");

    // A form without fields of its own, the same way.
    until_stale(&owner).await;
    let asked = owner.post_form("/sessions/revoke-others", &[]).await;
    assert_eq!(asked.status(), 403);
    assert_eq!(other.get("/api/auth/me").await.status(), 200);
    let done = owner
        .post_form("/sessions/revoke-others", &[("reauth_password", PASSWORD)])
        .await;
    assert_eq!(done.status(), 303);
    let revoked = eventually(Duration::from_secs(1), || async {
        other.get("/api/auth/me").await.status() == 401
    })
    .await;
    assert!(revoked.is_some());
}
