//! The Control UI in a real Chromium (Playwright's `playwright-core` driving Debian's
//! Chromium), through clawhost, against the real gateway and the test LLM.

use std::path::PathBuf;
use std::process::Command;

use crate::gateway::{configure_test_llm, gateway_token, wait_for_state};
use crate::harness::{
    Client, Options, PASSWORD, TestServer, free_port, gateway_options, one_gateway_at_a_time,
};
use crate::llm::{REPLY, TestLlm};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn artifacts() -> PathBuf {
    let dir = repo().join("e2e/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Runs one browser script with `env` and fails the test, with its report and what the test
/// LLM (if one takes part) saw, unless every check in it passed.
async fn run_e2e(script: &str, env: Vec<(&'static str, String)>, llm: Option<&TestLlm>) {
    assert!(
        repo().join("e2e/node_modules/playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Chromium and e2e/node_modules: run scripts/test, which installs both"
    );
    let script = repo().join("e2e").join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .envs(env)
            .output()
            .expect("run node")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "the browser check failed:\n{}\n{}\nthe test LLM saw: {:?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        llm.map(TestLlm::seen)
    );
}

async fn chat_in_chromium(host: &str) {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let port = free_port();
    let public_url = format!("http://{host}:{port}");
    let mut options: Options = gateway_options();
    options.listen = Some(format!("127.0.0.1:{port}"));
    options.public_url = Some(public_url.clone());
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    chat_through(&server, &owner, &llm, public_url, vec![], host).await;
}

/// With `owner` signed in: the test LLM configured, the gateway started, then
/// `control-ui.mjs` at `url` (with `env` besides), and the gateway stopped again.
async fn chat_through(
    server: &TestServer,
    owner: &Client,
    llm: &TestLlm,
    url: String,
    env: Vec<(&'static str, String)>,
    label: &str,
) {
    configure_test_llm(owner, llm, "sk-test-browser").await;
    server.secret("sk-test-browser");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(owner, "running").await;
    let token = gateway_token(status["pid"].as_u64().expect("pid"));
    server.secret(&token);

    let screenshot = artifacts().join(format!("control-ui-{label}.png"));
    let mut env = env;
    env.extend([
        ("CLAWHOST_E2E_URL", url),
        ("CLAWHOST_E2E_PASSWORD", PASSWORD.to_string()),
        ("CLAWHOST_E2E_SECRET", token),
        ("CLAWHOST_E2E_REPLY", REPLY.to_string()),
        ("CLAWHOST_E2E_SCREENSHOT", screenshot.display().to_string()),
    ]);
    run_e2e("control-ui.mjs", env, Some(llm)).await;
    let chats = llm
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .count();
    assert!(chats >= 1, "the chat never reached the test LLM");
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(owner, "stopped").await;
}

#[tokio::test]
async fn control_ui_in_chromium_on_127_0_0_1() {
    chat_in_chromium("127.0.0.1").await;
}

#[tokio::test]
async fn control_ui_in_chromium_on_localhost() {
    chat_in_chromium("localhost").await;
}

/// The Control UI over https with a certificate from a real ACME CA (pebble), at a name that
/// is not this machine's: a secure context, so no device-identity, pairing or origin error,
/// and the chat works; the gateway's token never reaches the browser.
#[tokio::test]
async fn control_ui_in_chromium_over_https_from_acme() {
    use crate::acme::{NAME, claim, trusting};
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::pebble::PebbleConfig::new(free_port(), free_port());
    let pebble = ca.start(dir.path()).await;
    let mut options = gateway_options();
    options.listen = Some(format!("127.0.0.1:{}", ca.tls_port));
    options.env.extend(ca.clawhost_env(dir.path()));
    options
        .env
        .push(("CLAWHOST_TLS_ACME_NAMES".into(), NAME.into()));
    let server = TestServer::start_with(options);
    let owner = trusting(&server, NAME, &pebble.root_pem).await;
    claim(&server, &owner).await;
    let env = vec![
        ("CLAWHOST_E2E_RESOLVE", NAME.to_string()),
        ("CLAWHOST_E2E_SPKI", spki_hash(&pebble.intermediate_pem)),
    ];
    let url = format!("https://{NAME}:{}", ca.tls_port);
    chat_through(&server, &owner, &llm, url, env, "https").await;
}

/// Base64 of the SHA-256 of a PEM certificate's public key, as Chromium's
/// `--ignore-certificate-errors-spki-list` takes it.
fn spki_hash(pem: &[u8]) -> String {
    use std::io::Write;
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
        let output = child.wait_with_output().expect("openssl");
        assert!(output.status.success(), "openssl {args:?}");
        output.stdout
    };
    let key = run(&["x509", "-noout", "-pubkey"], pem);
    let der = run(&["pkey", "-pubin", "-outform", "DER"], &key);
    let digest = run(&["dgst", "-sha256", "-binary"], &der);
    String::from_utf8(run(&["base64", "-A"], &digest)).expect("base64")
}

/// The whole first run through the UI only (D, U), at a LAN-style name over plain http (not
/// a secure context): claim, guided setup, start, dashboard, chat, and the error paths, with
/// axe-core on every page and state and screenshots of every page at two sizes.
#[tokio::test]
async fn first_run_journey() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let port = free_port();
    let name = "clawhost-lan.test";
    let public_url = format!("http://{name}:{port}");
    let mut options = gateway_options();
    options.listen = Some(format!("127.0.0.1:{port}"));
    options.public_url = Some(public_url.clone());
    // Short, so the journey meets the step-up on the way. A device elsewhere asks to pair
    // through /remote, as behind a reverse proxy on this host.
    options.env.extend([
        ("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "10s".into()),
        ("CLAWHOST_DEVICES_REMOTE".into(), "true".into()),
        ("CLAWHOST_HTTP_TRUSTED_PROXIES".into(), "127.0.0.1".into()),
    ]);
    let server = TestServer::start_with(options);
    server.secret("sk-test-journey");
    // Issue 12, defect 1: the start says what the pages say.
    assert!(
        server.log().contains("is plain http on the network"),
        "{}",
        server.log()
    );
    let code = server.claim_code();
    let artifacts = artifacts().join("pages");
    // Screenshots of an earlier run must not stand in for this one's.
    let _ = std::fs::remove_dir_all(&artifacts);
    // When the journey has the Devices page open, a device asks to pair (once: a device that
    // asks again replaces its request).
    let signals = tempfile::tempdir().expect("dir");
    let ask = signals.path().join("ask-to-pair");
    let asking = {
        let (ask, base, host) = (ask.clone(), server.base.clone(), format!("{name}:{port}"));
        tokio::spawn(async move {
            while !ask.exists() {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            crate::devices::Device::new()
                .at_host(&host)
                .asks(&base, "198.51.100.20")
                .await
        })
    };
    run_e2e(
        "journey.mjs",
        vec![
            ("CLAWHOST_E2E_ASK_FILE", ask.display().to_string()),
            ("CLAWHOST_E2E_URL", public_url),
            ("CLAWHOST_E2E_OTHER_URL", format!("http://127.0.0.1:{port}")),
            ("CLAWHOST_E2E_RESOLVE", name.to_string()),
            ("CLAWHOST_E2E_CODE", code),
            ("CLAWHOST_E2E_PASSWORD", PASSWORD.to_string()),
            ("CLAWHOST_E2E_LLM_URL", llm.base_url.clone()),
            ("CLAWHOST_E2E_REPLY", REPLY.to_string()),
            ("CLAWHOST_E2E_ARTIFACTS", artifacts.display().to_string()),
        ],
        Some(&llm),
    )
    .await;
    for page in [
        "claim",
        "setup",
        "dashboard-fresh",
        "dashboard",
        "whatsapp",
        "devices",
        "telegram",
        "login",
        "settings",
        "not-found",
        "gateway-down",
    ] {
        for size in ["1280x800", "390x844"] {
            let shot = repo().join(format!("e2e/artifacts/pages/{page}-{size}.png"));
            assert!(shot.is_file(), "missing screenshot {}", shot.display());
        }
    }
    asking.abort();
    for page in [
        "confirm",
        "wrong-address",
        "install-failed",
        "devices-asking",
        "devices-approved",
    ] {
        let shot = repo().join(format!("e2e/artifacts/pages/{page}-1280x800.png"));
        assert!(shot.is_file(), "missing screenshot {}", shot.display());
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

/// "Sign in with <issuer>" in Chromium through a real OpenID Connect provider's own login
/// page: linking from the settings page, then signing in with the button alone.
#[tokio::test]
async fn sign_in_with_an_openid_connect_issuer_in_chromium() {
    let (server, _idp, _dir) = crate::oidc::server_and_issuer(vec![]);
    server.claimed().await;
    run_e2e(
        "oidc.mjs",
        vec![
            ("CLAWHOST_E2E_URL", server.origin.clone()),
            ("CLAWHOST_E2E_PASSWORD", PASSWORD.to_string()),
            ("CLAWHOST_E2E_SUBJECT", "owner-sub".to_string()),
            ("CLAWHOST_E2E_EMAIL", "owner@example.test".to_string()),
        ],
        None,
    )
    .await;
}

/// The claim through the issuer's button and login page, and a step-up confirmed there,
/// in Chromium.
#[tokio::test]
async fn claim_and_confirm_with_an_openid_connect_issuer_in_chromium() {
    let (server, _idp, _dir) = crate::oidc::server_and_issuer(vec![(
        "CLAWHOST_SESSION_REAUTH_WINDOW".into(),
        "5s".into(),
    )]);
    let code = server.claim_code();
    run_e2e(
        "oidc-claim.mjs",
        vec![
            ("CLAWHOST_E2E_URL", server.origin.clone()),
            ("CLAWHOST_E2E_CLAIM_CODE", code),
            ("CLAWHOST_E2E_PASSWORD", PASSWORD.to_string()),
            ("CLAWHOST_E2E_SUBJECT", "owner-sub".to_string()),
            ("CLAWHOST_E2E_REAUTH_MS", "5000".to_string()),
        ],
        None,
    )
    .await;
}

/// The broker's `#session_id=…` handed over by the sign-in page's script, in Chromium.
#[tokio::test]
async fn sign_in_through_the_broker_in_chromium() {
    let broker = crate::exchange::TestBroker::start().await;
    let server = crate::exchange::server_with(&broker);
    let owner = server.claimed().await;
    crate::exchange::set_email(&owner).await;
    run_e2e(
        "exchange.mjs",
        vec![("CLAWHOST_E2E_URL", server.origin.clone())],
        None,
    )
    .await;
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "login_exchange"), "{kinds:?}");
}

/// Passkeys in Chromium with its virtual authenticator: added from the settings page,
/// signing in alone, a second factor after the password, a forged answer refused, a step-up
/// given with one, a removed one refused.
#[tokio::test]
async fn passkeys_in_chromium() {
    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    let server = TestServer::start_with(Options {
        env: vec![
            ("CLAWHOST_SESSION_REAUTH_WINDOW".into(), "5s".into()),
            ("CLAWHOST_AUTH_REQUIRE_SECOND_FACTOR".into(), "true".into()),
        ],
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(public_url.clone()),
        ..Options::default()
    });
    let owner = server.claimed().await;
    run_e2e(
        "passkeys.mjs",
        vec![
            ("CLAWHOST_E2E_URL", public_url),
            ("CLAWHOST_E2E_PASSWORD", PASSWORD.to_string()),
            ("CLAWHOST_E2E_REAUTH_MS", "5000".to_string()),
        ],
        None,
    )
    .await;
    let kinds = owner.event_kinds().await;
    for kind in [
        "passkey_added",
        "login_passkey",
        "passkey_removed",
        "login_failed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}
