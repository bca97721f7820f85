//! The Control UI in a real Chromium (Playwright's `playwright-core` driving Debian's
//! Chromium), through clawhost, against the real gateway and the test LLM.

use std::path::PathBuf;
use std::process::Command;

use crate::gateway::{configure_test_llm, gateway_token, wait_for_state};
use crate::harness::{Options, PASSWORD, TestServer, gateway_options, one_gateway_at_a_time};
use crate::llm::{REPLY, TestLlm};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let dir = repo().join("e2e/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn chat_in_chromium(host: &str) {
    let script = repo().join("e2e/control-ui.mjs");
    assert!(
        repo().join("e2e/node_modules/playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and e2e/node_modules: run scripts/test, which installs both"
    );
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let port = free_port();
    let public_url = format!("http://{host}:{port}");
    let mut options: Options = gateway_options();
    options.listen = Some(format!("127.0.0.1:{port}"));
    options.public_url = Some(public_url.clone());
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-browser").await;
    server.secret("sk-test-browser");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    let token = gateway_token(status["pid"].as_u64().expect("pid"));
    server.secret(&token);

    let screenshot = artifacts().join(format!("control-ui-{host}.png"));
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("CLAWHOST_E2E_URL", &public_url)
            .env("CLAWHOST_E2E_PASSWORD", PASSWORD)
            .env("CLAWHOST_E2E_SECRET", &token)
            .env("CLAWHOST_E2E_REPLY", REPLY)
            .env("CLAWHOST_E2E_SCREENSHOT", &screenshot)
            .output()
            .expect("run node")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser check failed:\n{stdout}\n{}\nthe test LLM saw: {:?}",
        String::from_utf8_lossy(&output.stderr),
        llm.seen()
    );
    let chats = llm
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .count();
    assert!(chats >= 1, "the chat never reached the test LLM");
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}

#[tokio::test]
async fn control_ui_in_chromium_on_127_0_0_1() {
    chat_in_chromium("127.0.0.1").await;
}

#[tokio::test]
async fn control_ui_in_chromium_on_localhost() {
    chat_in_chromium("localhost").await;
}

/// The whole first run through the UI only (D): claim, setup, start, dashboard, chat, and the
/// error paths, with screenshots of every page at two sizes.
#[tokio::test]
async fn first_run_journey() {
    let script = repo().join("e2e/journey.mjs");
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let server = TestServer::start_with(gateway_options());
    server.secret("sk-test-journey");
    let code = server.claim_code();
    let artifacts = artifacts().join("pages");
    let base = server.base.clone();
    let llm_url = llm.base_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("CLAWHOST_E2E_URL", &base)
            .env("CLAWHOST_E2E_CODE", &code)
            .env("CLAWHOST_E2E_PASSWORD", PASSWORD)
            .env("CLAWHOST_E2E_LLM_URL", &llm_url)
            .env("CLAWHOST_E2E_REPLY", REPLY)
            .env("CLAWHOST_E2E_ARTIFACTS", &artifacts)
            .output()
            .expect("run node")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the journey failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for page in [
        "claim",
        "setup",
        "dashboard",
        "login",
        "settings",
        "not-found",
    ] {
        for size in ["1280x800", "390x844"] {
            let shot = repo().join(format!("e2e/artifacts/pages/{page}-{size}.png"));
            assert!(shot.is_file(), "missing screenshot {}", shot.display());
        }
    }
    let status = reqwest_status(&server).await;
    assert_eq!(status, "stopped");
}

async fn reqwest_status(server: &TestServer) -> String {
    let owner = server.login().await;
    owner.json("/api/gateway/status").await["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
