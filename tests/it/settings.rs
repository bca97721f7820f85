//! Provider settings: field errors that help, sealed keys, and nothing secret in answers.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::harness::{Options, TestServer, assert_problem, files_under};

async fn put(owner: &crate::harness::Client, body: Value) -> reqwest::Response {
    owner.put("/api/gateway/settings", &body).await
}

async fn field_errors(response: reqwest::Response) -> Vec<(String, String)> {
    let body = assert_problem(response, 422).await;
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").to_string(),
                e["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn providers_are_listed_with_their_needs() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let providers = owner.json("/api/gateway/providers").await;
    let ids: Vec<&str> = providers["providers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "anthropic",
            "openai",
            "openrouter",
            "openai-compatible",
            "ollama"
        ]
    );
    let ollama = &providers["providers"][4];
    assert_eq!(ollama["needs_key"], false);
    assert_eq!(ollama["needs_base_url"], true);
    assert!(ollama["default_model"].is_string());
    assert_problem(server.client().get("/api/gateway/providers").await, 401).await;
}

#[tokio::test]
async fn bad_settings_get_field_errors_and_change_nothing() {
    let server = TestServer::start();
    let owner = server.claimed().await;

    let errors = field_errors(put(&owner, json!({"provider": "skynet"})).await).await;
    assert_eq!(errors[0].0, "provider");

    let errors = field_errors(
        put(
            &owner,
            json!({"provider": "anthropic", "api_key": "sk-or-v1-0123456789abcdefghij"}),
        )
        .await,
    )
    .await;
    assert_eq!(errors[0].0, "api_key");
    assert!(errors[0].1.contains("sk-ant-"), "{errors:?}");

    let errors = field_errors(put(&owner, json!({"provider": "anthropic"})).await).await;
    assert_eq!(errors[0].0, "api_key");

    let errors = field_errors(
        put(
            &owner,
            json!({"provider": "openai-compatible", "api_key": "has space", "model": "bad model"}),
        )
        .await,
    )
    .await;
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert!(
        fields.contains(&"base_url") && fields.contains(&"api_key") && fields.contains(&"model"),
        "{errors:?}"
    );

    let errors = field_errors(
        put(
            &owner,
            json!({"provider": "ollama", "base_url": "http://127.0.0.1:11434/v1"}),
        )
        .await,
    )
    .await;
    assert_eq!(errors[0].0, "base_url");

    let response = put(&owner, json!({"provider": "anthropic", "extra": 1})).await;
    assert_problem(response, 422).await;

    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(settings["provider"], Value::Null, "nothing was saved");
}

#[tokio::test]
async fn keys_are_sealed_kept_and_never_returned() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let key = "sk-ant-api03-secret-0123456789abcdef";
    server.secret(key);

    let response = put(&owner, json!({"provider": "anthropic", "api_key": key})).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(!body.contains(key));
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(settings["model"], "claude-opus-5");
    assert_eq!(settings["key"], json!({"set": true, "last4": "cdef"}));

    // Changing the model keeps the key; switching provider needs a new one.
    let response = put(
        &owner,
        json!({"provider": "anthropic", "model": "claude-opus-5-5"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        owner.json("/api/gateway/settings").await["key"]["last4"],
        "cdef"
    );
    let errors = field_errors(put(&owner, json!({"provider": "openai"})).await).await;
    assert_eq!(errors[0].0, "api_key");

    let ollama = put(&owner, json!({"provider": "ollama"})).await;
    assert_eq!(ollama.status(), 200);
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(settings["base_url"], "http://127.0.0.1:11434");
    assert_eq!(settings["key"]["set"], false);

    let data = server.data_dir();
    let secret_key = data.join("secret.key");
    assert_eq!(
        std::fs::metadata(&secret_key)
            .expect("secret.key")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    for file in files_under(&data) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "key in {}",
            file.display()
        );
    }

    let events = owner.json("/api/auth/events").await;
    assert!(events.to_string().contains("gateway_settings_changed"));
}

#[tokio::test]
async fn a_missing_runtime_is_a_clear_conflict() {
    let server = TestServer::start_with(Options {
        env: vec![(
            "CLAWHOST_RUNTIME_DIR".into(),
            "/nonexistent/clawhost-runtime".into(),
        )],
        ..Options::default()
    });
    let owner = server.claimed().await;
    let runtime = owner.json("/api/gateway/runtime").await;
    assert_eq!(runtime["installed"], false);
    let body = assert_problem(owner.post_empty("/api/gateway/start").await, 409).await;
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("install-openclaw"),
        "{body}"
    );
    assert_problem(
        owner.post_empty("/api/gateway/rotate-credential").await,
        409,
    )
    .await;
    let status = owner.json("/api/gateway/status").await;
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["control_url"], "/openclaw/");
}

#[tokio::test]
async fn a_failed_install_leaves_the_previous_runtime() {
    let runtime = tempfile::tempdir().expect("runtime");
    let current = runtime.path().join("current");
    std::fs::create_dir_all(&current).expect("current");
    std::fs::write(
        current.join("runtime.json"),
        r#"{"openclaw_version":"1.0.0","node_version":"24.0.0"}"#,
    )
    .expect("manifest");
    std::fs::write(current.join("marker"), "previous").expect("marker");

    let server = TestServer::start_with(Options {
        env: vec![(
            "CLAWHOST_RUNTIME_DIR".into(),
            runtime.path().display().to_string(),
        )],
        ..Options::default()
    });
    let owner = server.claimed().await;
    let events = owner.get("/api/gateway/events").await;
    let response = owner
        .post(
            "/api/gateway/runtime/install",
            &json!({"version": "0.0.0-does-not-exist"}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let seen =
        crate::gateway::read_events(events, std::time::Duration::from_mins(5), |name, data| {
            name == "progress"
                && (data["phase"] == "install_failed" || data["phase"] == "installed")
        })
        .await;
    let last = &seen.last().expect("event").1;
    assert_eq!(last["phase"], "install_failed", "{seen:?}");
    // Issue 12, defect 5: the failure in words, npm's text beside it, kept in the status
    // until dismissed; the progress said steps, not npm's lines.
    assert!(
        last["detail"]
            .as_str()
            .expect("detail")
            .contains("no such OpenClaw version"),
        "{last}"
    );
    for (_, progress) in &seen {
        let detail = progress["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.starts_with("npm "),
            "a raw npm line as progress: {detail}"
        );
    }
    let failure = owner.json("/api/gateway/status").await["install_failure"].clone();
    assert!(
        failure["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("openclaw@0.0.0-does-not-exist"),
        "{failure}"
    );
    let page = owner.get("/setup").await.text().await.expect("html");
    assert!(
        page.contains("The install failed.") && page.contains("Try again"),
        "{page}"
    );
    assert_eq!(
        owner.delete("/api/gateway/runtime/failure").await.status(),
        204
    );
    assert!(owner.json("/api/gateway/status").await["install_failure"].is_null());
    assert_eq!(
        std::fs::read_to_string(current.join("marker")).expect("marker"),
        "previous"
    );
    let leftovers: Vec<_> = std::fs::read_dir(runtime.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["current"], "staging directories are cleaned up");
    let status = owner.json("/api/gateway/status").await;
    assert_eq!(status["state"], "stopped");

    let bad = owner
        .post(
            "/api/gateway/runtime/install",
            &json!({"version": "--registry=http://evil"}),
        )
        .await;
    assert_problem(bad, 422).await;
}
