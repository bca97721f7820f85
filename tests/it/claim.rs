//! Claiming the instance: one owner, exactly once, only with the claim code.

use serde_json::{Value, json};

use crate::harness::{Options, PASSWORD, TestServer, assert_problem, last_line};

#[tokio::test]
async fn claim_with_cli_code_signs_in_and_locks_the_instance() {
    let server = TestServer::start();
    let client = server.client();
    let instance: Value = client.json("/api/auth/instance").await;
    assert_eq!(instance, json!({"locked": false}));

    let code = server.claim_code();
    let response = server.claim_with(&client, &code).await;
    assert_eq!(response.status(), 201);
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("text")
        .to_string();
    assert!(cookie.starts_with("clawhost_session="), "{cookie}");

    let me = client.get("/api/auth/me").await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert!(
        me["owner"]["created_at"]
            .as_str()
            .expect("created_at")
            .ends_with('Z')
    );
    assert_eq!(me["session"]["id"].as_str().expect("id").len(), 32);

    let instance: Value = client.json("/api/auth/instance").await;
    assert_eq!(instance, json!({"locked": true}));

    let again = server
        .client()
        .post(
            "/api/auth/claim",
            &json!({"code": code, "password": PASSWORD}),
        )
        .await;
    let body = assert_problem(again, 409).await;
    assert!(body["detail"].as_str().expect("detail").contains("owner"));
}

#[tokio::test]
async fn fifty_concurrent_claims_make_exactly_one_owner() {
    let server = TestServer::start();
    let code = server.claim_code();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = server.client();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let status = client
                .post(
                    "/api/auth/claim",
                    &json!({"code": code, "password": PASSWORD}),
                )
                .await
                .status()
                .as_u16();
            (status, client.session_token())
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, token) = task.await.expect("task");
        if let Some(token) = token {
            server.secret(&token);
        }
        statuses.push(status);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [201, 403, 409].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn wrong_code_and_weak_password_are_refused_without_consuming_the_code() {
    let server = TestServer::start();
    let client = server.client();
    let code = server.claim_code();

    let wrong = client
        .post(
            "/api/auth/claim",
            &json!({"code": "0000-0000-0000-0000-0000-0000-0000", "password": PASSWORD}),
        )
        .await;
    assert_problem(wrong, 403).await;

    let garbage = client
        .post(
            "/api/auth/claim",
            &json!({"code": "not a code", "password": PASSWORD}),
        )
        .await;
    assert_problem(garbage, 403).await;

    let weak = client
        .post(
            "/api/auth/claim",
            &json!({"code": code, "password": "short"}),
        )
        .await;
    let body = assert_problem(weak, 422).await;
    assert_eq!(body["errors"][0]["field"], "password");

    // Case, spaces and dashes do not matter.
    let typed = code.to_lowercase().replace('-', " ");
    let response = server.claim_with(&client, &typed).await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_new_code_invalidates_the_old_one() {
    let server = TestServer::start();
    let old = server.claim_code();
    let new = server.claim_code();
    assert_ne!(old, new);
    let client = server.client();
    let response = server.claim_with(&client, &old).await;
    assert_problem(response, 403).await;
    let response = server.claim_with(&client, &new).await;
    assert_eq!(response.status(), 201);
}

/// At a terminal (a person starting clawhost by hand).
#[tokio::test]
async fn first_start_prints_the_code_on_stdout_and_never_in_the_log() {
    let server = TestServer::start_with(Options {
        terminal: true,
        ..Options::default()
    });
    let client = server.client();
    // The start-up code works, and appears only on stdout.
    let code = crate::harness::eventually(std::time::Duration::from_secs(5), || {
        let printed = server.stdout();
        async move { !printed.is_empty() }
    })
    .await
    .map(|_| last_line(server.stdout().as_bytes()))
    .expect("a claim code on stdout");
    server.secret(&code);
    let log = server.log();
    assert!(
        log.contains(&format!(
            "Open {}/claim and enter the claim code printed by 'clawhost claim-code'",
            server.base
        )),
        "{log}"
    );
    let response = server.claim_with(&client, &code).await;
    assert_eq!(response.status(), 201);

    // Restarting a claimed instance prints no code.
    let data = server.into_data();
    let restarted = TestServer::start_in(
        data,
        Options {
            terminal: true,
            ..Options::default()
        },
    );
    assert!(restarted.stdout().is_empty(), "{}", restarted.stdout());
    let instance: Value = restarted
        .client()
        .get("/api/auth/instance")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(instance, json!({"locked": true}));
}

#[tokio::test]
async fn claim_code_refuses_once_claimed() {
    let server = TestServer::start();
    let _owner = server.claimed().await;
    let output = server.cli(&["claim-code"]);
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("owner reset"), "{message}");
}

/// Under a service manager stdout is a journal that keeps what it is given: no code goes
/// there (issue 11, defect 10). The log says how to get one, and `clawhost claim-code` gives
/// one that works.
#[tokio::test]
async fn without_a_terminal_no_code_is_printed() {
    let server = TestServer::start();
    let log = crate::harness::eventually(std::time::Duration::from_secs(5), || {
        let log = server.log();
        async move { log.contains("/claim and enter the claim code printed by") }
    })
    .await;
    assert!(log.is_some(), "{}", server.log());
    assert_eq!(server.stdout(), "", "nothing on stdout");
    let code = server.claim_code();
    let response = server.claim_with(&server.client(), &code).await;
    assert_eq!(response.status(), 201);
}
