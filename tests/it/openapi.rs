//! The JSON API against its own OpenAPI document, fuzzed by schemathesis (PyPI) with the
//! owner's session: no request may get a 5xx and every response must match the document.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::TestServer;

/// Fixed so that a failure can be replayed with the same requests.
const SEED: &str = "20261127";

/// Test cases per operation.
const MAX_EXAMPLES: &str = "100";

/// A hung request or run fails the test instead of stalling the suite. The run takes about
/// 75 s alone on two cores, and over 170 s beside the rest of the suite under load: the bound
/// is for a hang, not a speed.
const REQUEST_TIMEOUT: &str = "10";
const RUN_TIMEOUT: Duration = Duration::from_mins(7);

/// Left out: these end the session the run uses, do slow real work (installs, a gateway, the
/// WhatsApp plugin), call out to wherever the saved provider URL points (or a Telegram Bot API
/// URL the run makes up, or Discord and Slack themselves), or answer a file's bytes, which no schema describes (a backup's
/// download; `backup::` tests it).
const EXCLUDED: &[&str] = &[
    "POST /api/auth/logout",
    "POST /api/auth/sessions/revoke-others",
    "DELETE /api/auth/sessions/{id}",
    "POST /api/auth/password",
    "POST /api/gateway/runtime/install",
    "POST /api/gateway/update",
    "POST /api/gateway/rollback",
    "POST /api/gateway/start",
    "POST /api/gateway/restart",
    "POST /api/gateway/rotate-credential",
    "POST /api/gateway/settings/test",
    "PUT /api/channels/telegram",
    "PUT /api/channels/discord",
    "PUT /api/channels/slack",
    "POST /api/channels/whatsapp/link",
    "GET /api/backups/{id}/download",
    // Nothing to vary but the session (no parameter, no body): the fuzzing varies the cookie
    // alone, sees mostly 401s and takes the session for unused (a 404 "not set up here" with
    // it). `step_up::`, `telegram::`, `token_channels::` and `devices::` check these.
    "DELETE /api/channels/telegram",
    "DELETE /api/channels/discord",
    "DELETE /api/channels/slack",
    "POST /api/devices/setup-code",
];

/// Server-sent event streams never end, so a request to one would only time out. Any other
/// operation the document says answers `text/event-stream` is left out too.
const STREAMS: &[&str] = &[
    "GET /api/gateway/events",
    "GET /api/gateway/logs/stream",
    "GET /api/channels/whatsapp/link/events",
];

/// The run's settings besides its arguments; the session's section is added to it.
const CONFIG: &str = r#"[cache]
enabled = false

[generation]
database = "none"

# A run that never got past the sign-in, or left part of the document unchecked, fails.
[warnings]
fail-on = ["missing_auth", "unused_openapi_auth", "missing_deserializer", "method_not_allowed", "unmatched_filter", "base_url_mismatch"]

# A schema-valid request may still get a 422 (a cursor this server never issued, a password
# too weak, a key of the wrong shape for its provider); a 400 or 415 means the document
# describes the request wrongly.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

# The session is given: no signing up of its own.
[auth]
auto-signup = false

"#;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn schemathesis() -> PathBuf {
    crate::harness::pypi_tool("SCHEMATHESIS_BIN", "venv", "schemathesis")
}

/// `{id}`, `{session_id}`, … compare equal: the document names path parameters as it likes.
fn shape(operation: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in operation.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push_str("{}");
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every operation in the document as schemathesis names it (`METHOD /path`), and whether it
/// answers with an event stream.
fn operations(doc: &Value) -> Vec<(String, bool)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let streams = operation["responses"]
                .as_object()
                .into_iter()
                .flat_map(|responses| responses.values())
                .filter_map(|response| response["content"].as_object())
                .any(|content| content.contains_key("text/event-stream"));
            out.push((format!("{} {path}", method.to_uppercase()), streams));
        }
    }
    out
}

/// The document's cookie security scheme for the session: given through it, schemathesis knows
/// the cookie is the credential and leaves it out where it tests for 401s.
fn session_scheme(doc: &Value) -> Option<String> {
    doc["components"]["securitySchemes"]
        .as_object()?
        .iter()
        .find(|(_, scheme)| {
            scheme["type"] == "apiKey"
                && scheme["in"] == "cookie"
                && scheme["name"] == "clawhost_session"
        })
        .map(|(name, _)| name.clone())
}

#[tokio::test]
async fn schemathesis_finds_no_server_errors() {
    let bin = schemathesis();
    let server = TestServer::start();
    let owner = server.claimed().await;
    let token = owner.session_token().expect("session cookie");
    let doc = owner.json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not an OpenAPI 3 document: {doc}"
    );

    let listed: Vec<String> = EXCLUDED.iter().chain(STREAMS).map(|o| shape(o)).collect();
    let mut excluded = Vec::new();
    for (name, streams) in operations(&doc) {
        if streams || listed.contains(&shape(&name)) {
            excluded.push(name);
        }
    }

    // The run's config, and whatever schemathesis and Hypothesis write, stay out of the clone;
    // the session reaches schemathesis through the environment, never a file or its arguments.
    let scratch = tempfile::tempdir().expect("temp dir");
    let scheme = session_scheme(&doc).expect("the document declares the session cookie");
    let config =
        format!("{CONFIG}[auth.openapi.\"{scheme}\"]\napi_key = \"${{OPENAPI_TEST_SESSION}}\"\n");
    let config_file = scratch.path().join("schemathesis.toml");
    std::fs::write(&config_file, &config).expect("write config");

    let mut args: Vec<String> = vec![
        "--no-color".into(),
        "--config-file".into(),
        config_file.display().to_string(),
        "run".into(),
        server.url("/api/openapi.json"),
        "--url".into(),
        server.base.clone(),
        // Unsafe methods need proof of the public origin (API.md, "Sessions and CSRF").
        "--header".into(),
        format!("Origin: {}", server.origin),
        "--checks".into(),
        "all".into(),
        "--phases".into(),
        "examples,coverage,fuzzing,stateful".into(),
        "--max-examples".into(),
        MAX_EXAMPLES.into(),
        "--seed".into(),
        SEED.into(),
        // One worker: the requests, and so the server's state, come in the same order each run.
        "--workers".into(),
        "1".into(),
        "--request-timeout".into(),
        REQUEST_TIMEOUT.into(),
    ];
    for name in &excluded {
        args.push("--exclude-name".into());
        args.push(name.clone());
    }

    let started = Instant::now();
    let child = tokio::process::Command::new(&bin)
        .args(&args)
        .current_dir(scratch.path())
        .env("OPENAPI_TEST_SESSION", &token)
        .env(
            "HYPOTHESIS_STORAGE_DIRECTORY",
            scratch.path().join("hypothesis"),
        )
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run schemathesis");
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_TIMEOUT:?}"))
        .expect("wait for schemathesis");
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Quoted as a shell needs it, to rerun by hand (with OPENAPI_TEST_SESSION set).
    let command: Vec<String> = std::iter::once(bin.display().to_string())
        .chain(args.iter().map(|arg| {
            if arg.contains([' ', '{', '}']) {
                format!("'{arg}'")
            } else {
                arg.clone()
            }
        }))
        .collect();
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{}\nwith {}:\n{config}\n{printed}",
        output.status,
        command.join(" "),
        config_file.display()
    );
    let summary = printed
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_default()
        .trim();
    eprintln!("schemathesis: {summary} in {:.1?}", started.elapsed());
}
