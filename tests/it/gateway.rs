//! The gateway lifecycle against the real OpenClaw gateway and the suite's test LLM.

use std::path::Path;
use std::time::Duration;

use clawhost::NETWORK_ENV;
use clawhost::RpcClient;
use serde_json::{Value, json};

use crate::harness::{
    Client, TestServer, eventually, files_under, free_port, gateway_options, one_gateway_at_a_time,
};
use crate::llm::TestLlm;

/// Generous: gateways start in 6–12 s here, much slower when the machine is busy.
const READY: Duration = Duration::from_mins(3);
/// A key that would run commands if anything ever handed it to a shell.
const SHELL_KEY: &str = "sk-test\";$(touch${IFS}pwned);`id`;#'|&&x";

async fn state(owner: &Client) -> Value {
    owner.json("/api/gateway/status").await
}

pub async fn wait_for_state(owner: &Client, wanted: &str) -> Value {
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        let status = state(owner).await;
        if status["state"] == wanted {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state never became {wanted}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn gateway_port(server: &TestServer) -> u16 {
    let text = std::fs::read_to_string(server.data_dir().join("openclaw/openclaw.json"))
        .expect("openclaw.json");
    let config: Value = serde_json::from_str(&text).expect("json");
    let port = config["gateway"]["port"].as_u64().expect("port");
    u16::try_from(port).expect("a port number")
}

/// The gateway's credential, read the way only root or its own user can: from its environment.
pub fn gateway_token(pid: u64) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("OPENCLAW_GATEWAY_TOKEN="))
        .expect("token in the gateway's environment")
        .to_string()
}

/// The environment names the gateway process received.
fn gateway_env_names(pid: u64) -> Vec<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .filter_map(|entry| entry.split_once('=').map(|(name, _)| name.to_string()))
        .collect()
}

/// Processes whose process group is `group`.
fn group_members(group: u64) -> Vec<u64> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|f| f.parse::<u64>().ok());
        if pgrp == Some(group) {
            members.push(pid);
        }
    }
    members
}

/// Children of `parent` whose command name starts with `openclaw`.
fn openclaw_children(parent: u32) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|f| f.parse::<u32>().ok());
        if ppid == Some(parent) && name.starts_with("openclaw") {
            count += 1;
        }
    }
    count
}

pub fn assert_not_in_files(dir: &Path, secrets: &[&str]) {
    for file in files_under(dir) {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for secret in secrets {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a secret is in plaintext in {}", file.display());
        }
    }
}

/// Reads an SSE response until `until` says stop; returns (event, data) pairs.
pub async fn read_events(
    mut response: reqwest::Response,
    within: Duration,
    until: impl Fn(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the event stream went quiet")
            .expect("event stream")
            .expect("the event stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_string();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if name.is_empty() {
                continue;
            }
            let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            let stop = until(&name, &data);
            events.push((name, data));
            if stop {
                return events;
            }
        }
    }
}

pub async fn configure_test_llm(owner: &Client, llm: &TestLlm, key: &str) {
    let response = owner
        .put(
            "/api/gateway/settings",
            &json!({"provider": "openai-compatible", "api_key": key, "base_url": llm.base_url, "model": "test-model"}),
        )
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn gateway_lifecycle_against_the_real_openclaw() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let mut options = gateway_options();
    // Something of clawhost's own environment that must not reach the gateway.
    options.env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        "canary-not-for-the-gateway".into(),
    ));
    // Devices elsewhere reach the gateway through `/remote`, as behind a reverse proxy on
    // this host that names them in X-Forwarded-For.
    options.env.extend([
        ("CLAWHOST_DEVICES_REMOTE".into(), "true".into()),
        ("CLAWHOST_HTTP_TRUSTED_PROXIES".into(), "127.0.0.1".into()),
    ]);
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    server.secret(SHELL_KEY);

    // Settings: the shell-metacharacter key is accepted, sealed, and shown only by its end.
    configure_test_llm(&owner, &llm, SHELL_KEY).await;
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(settings["key"], json!({"set": true, "last4": "|&&x"}));
    assert_eq!(settings["provider"], "openai-compatible");

    // "Test key" makes one real call that carries the key byte for byte.
    let tested: Value = owner
        .post_empty("/api/gateway/settings/test")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tested["ok"], true, "{tested}");
    let bearer = format!("Bearer {SHELL_KEY}");
    assert!(llm.seen().iter().any(|s| s.method == "GET"
        && s.path == "/v1/models"
        && s.authorization.as_deref() == Some(bearer.as_str())));

    let runtime = owner.json("/api/gateway/runtime").await;
    assert_eq!(runtime["installed"], true);
    assert_eq!(runtime["openclaw_version"], clawhost::OPENCLAW_VERSION);

    // Start, following the progress stream to the end.
    let events = owner.get("/api/gateway/events").await;
    assert_eq!(events.status(), 200);
    // Ten concurrent starts from stopped: exactly one gateway is spawned.
    let mut starts = Vec::new();
    for _ in 0..10 {
        let http = owner.http.clone();
        let url = owner.url("/api/gateway/start");
        starts.push(tokio::spawn(async move {
            http.post(url)
                .send()
                .await
                .expect("start")
                .status()
                .as_u16()
        }));
    }
    for start in starts {
        assert_eq!(start.await.expect("task"), 202);
    }
    let seen = read_events(events, READY, |name, data| {
        name == "progress" && data["phase"] == "ready"
            || name == "state" && data["state"] == "needs_attention"
    })
    .await;
    let phases: Vec<String> = seen
        .iter()
        .filter(|(name, _)| name == "progress")
        .filter_map(|(_, data)| data["phase"].as_str().map(str::to_string))
        .fold(Vec::new(), |mut acc, phase| {
            if acc.last() != Some(&phase) {
                acc.push(phase);
            }
            acc
        });
    assert_eq!(
        phases,
        [
            "config_written",
            "validated",
            "spawned",
            "waiting_for_readiness",
            "ready"
        ],
        "{seen:?}\n{}",
        server.log()
    );
    let waiting = seen
        .iter()
        .find(|(_, d)| d["phase"] == "waiting_for_readiness")
        .map(|(_, d)| d.clone())
        .expect("waiting event");
    assert_eq!(waiting["timeout_ms"], 120_000);

    let status = wait_for_state(&owner, "running").await;
    assert_eq!(
        status["openclaw_version"],
        clawhost::OPENCLAW_VERSION,
        "{status}"
    );
    assert_eq!(status["provider"], "openai-compatible");
    assert_eq!(status["model"], "test-model");
    assert_eq!(status["control_url"], "/openclaw/");
    assert!(
        status["memory_rss_bytes"]
            .as_u64()
            .is_some_and(|b| b > 10_000_000),
        "{status}"
    );
    let pid = status["pid"].as_u64().expect("pid");

    // The child got only what clawhost names, plus the host's proxy and CA-bundle settings.
    let mut names = gateway_env_names(pid);
    names.sort();
    names.retain(|name| {
        let passed_on = NETWORK_ENV.contains(&name.as_str());
        !(passed_on && std::env::var(name).is_ok_and(|v| !v.is_empty()))
    });
    assert_eq!(
        names,
        [
            "CLAWHOST_EGRESS_KEY",
            "HOME",
            "LANG",
            "OPENCLAW_DISABLE_BONJOUR",
            "OPENCLAW_GATEWAY_TOKEN",
            "OPENCLAW_NO_AUTO_UPDATE",
            "OPENCLAW_NO_RESPAWN",
            "OPENCLAW_STATE_DIR",
            "OPENCLAW_SUPERVISOR_MODE",
            "PATH",
        ]
    );
    let token = gateway_token(pid);
    server.secret(&token);

    // A chat over the backend RPC client reaches the test LLM with the key, byte for byte.
    let port = gateway_port(&server);
    let mut rpc = RpcClient::connect(port, &token, Duration::from_secs(30))
        .await
        .expect("rpc");
    assert_eq!(
        rpc.server_version.as_deref(),
        Some(clawhost::OPENCLAW_VERSION)
    );
    let health = rpc
        .call("health", json!({}), Duration::from_secs(30))
        .await
        .expect("health");
    assert_eq!(health["ok"], true);
    rpc.call(
        "chat.send",
        json!({"sessionKey": "main", "message": "hello", "idempotencyKey": "clawhost-test-1"}),
        Duration::from_secs(30),
    )
    .await
    .expect("chat.send");
    let reached = eventually(Duration::from_mins(1), || async {
        llm.seen().iter().any(|s| {
            s.method == "POST"
                && s.path == "/v1/chat/completions"
                && s.authorization.as_deref() == Some(bearer.as_str())
        })
    })
    .await;
    assert!(
        reached.is_some(),
        "the chat never reached the test LLM: {:?}",
        llm.seen()
    );
    // The Control UI's own update (the same RPC) hands off to clawhost, which supervises
    // the gateway: it changes nothing, and nothing updates by itself.
    let update = rpc
        .call("update.run", json!({}), Duration::from_mins(1))
        .await
        .expect("update.run");
    assert_eq!(update["ok"], false, "{update}");
    assert_eq!(update["result"]["status"], "skipped", "{update}");
    assert_eq!(
        update["result"]["reason"], "external-supervisor-update-required",
        "{update}"
    );
    let schedule = rpc
        .call("update.status", json!({}), Duration::from_secs(30))
        .await
        .expect("update.status");
    assert_eq!(schedule["schedule"]["autoEnabled"], false, "{schedule}");
    crate::egress::holds_the_key_for_the_gateway(
        &server,
        &owner,
        &llm,
        SHELL_KEY,
        pid,
        &group_members(pid),
        &mut rpc,
    )
    .await;
    rpc.close().await;
    crate::devices::pairing_goes_through_the_owner(&owner, &server.base, &token).await;
    crate::telegram::strangers_wait_for_the_owner(&owner, &server.data_dir()).await;

    // No shell ever saw the key: nothing was created by it.
    for dir in [server.data_dir(), std::env::current_dir().expect("cwd")] {
        assert!(
            files_under(&dir)
                .iter()
                .all(|f| f.file_name().is_none_or(|n| n != "pwned")),
            "a command in the key ran"
        );
    }
    assert_not_in_files(&server.data_dir(), &[SHELL_KEY, &token]);

    // SIGKILL of the gateway: it comes back by itself.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let recovered = eventually(READY, || async {
        let status = state(&owner).await;
        status["state"] == "running"
            && status["restarts"].as_u64() >= Some(1)
            && status["pid"].as_u64() != Some(pid)
    })
    .await;
    assert!(
        recovered.is_some(),
        "not running again: {}",
        state(&owner).await
    );
    let status = state(&owner).await;
    assert_eq!(status["last_exit"]["signal"], 9, "{status}");
    // The start after it moved the gateway's port (gateway.port = 0), nothing else: no
    // version of the configuration is kept for that (Telegram's setup and removal kept one
    // each).
    let history = owner.json("/api/gateway/config-history").await;
    let kept: Vec<&str> = history["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        kept.len() == 2 && kept.iter().all(|id| id.ends_with("-channel")),
        "{history}"
    );
    let pid = status["pid"].as_u64().expect("pid");
    server.secret(&gateway_token(pid));

    // Another start while running changes nothing.
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    assert_eq!(state(&owner).await["pid"].as_u64(), Some(pid));
    assert_eq!(openclaw_children(server.pid()), 1);

    // Stop: nothing of the process group is left.
    let response = owner.post_empty("/api/gateway/stop").await;
    assert_eq!(response.status(), 202);
    wait_for_state(&owner, "stopped").await;
    assert!(
        group_members(pid).is_empty(),
        "processes left: {:?}",
        group_members(pid)
    );
    assert_not_in_files(&server.data_dir(), &[SHELL_KEY, &token]);

    // The logs were captured, with the credential redacted.
    let logs = owner.json("/api/gateway/logs?tail=2000").await;
    let lines = logs["lines"].as_array().expect("lines");
    assert!(
        lines.iter().any(|l| l["stream"] == "stdout"),
        "no gateway output captured"
    );
    assert!(!logs.to_string().contains(&token));
}

#[tokio::test]
async fn an_invalid_config_needs_attention_until_fixed() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let server = TestServer::start_with(gateway_options());
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-invalid-config").await;
    server.secret("sk-test-invalid-config");

    let state_dir = server.data_dir().join("openclaw");
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let config_file = state_dir.join("openclaw.json");
    std::fs::write(
        &config_file,
        "{ gateway: { bogusKey: true }, // added by hand\n}",
    )
    .expect("write");

    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "needs_attention").await;
    let reason = status["attention"]["reason"].as_str().expect("reason");
    assert!(reason.contains("bogusKey"), "{reason}");
    assert!(status["attention"]["log_tail"].is_array());

    // Fix it by hand (clawhost keeps what it does not own, so it must be removed by the owner).
    let text = std::fs::read_to_string(&config_file).expect("read");
    let mut config: Value = serde_json::from_str(&text).expect("json");
    config["gateway"]
        .as_object_mut()
        .expect("gateway")
        .remove("bogusKey");
    std::fs::write(
        &config_file,
        serde_json::to_string_pretty(&config).expect("json"),
    )
    .expect("write");

    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    assert!(status["attention"].is_null(), "{status}");
    server.secret(&gateway_token(status["pid"].as_u64().expect("pid")));
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}

#[tokio::test]
async fn a_gateway_wanted_running_comes_back_after_clawhost_restarts() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let server = TestServer::start_with(gateway_options());
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-restart").await;
    server.secret("sk-test-restart");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    let pid = status["pid"].as_u64().expect("pid");
    server.secret(&gateway_token(pid));

    // clawhost's own shutdown stops the gateway gracefully, and keeps it wanted.
    let data = server.into_data();
    assert!(
        group_members(pid).is_empty(),
        "the gateway outlived clawhost"
    );

    // Restarted with a daily limit (10 tokens, one chat's worth), followed on in
    // `egress::a_provider_down_and_a_limit_reached`.
    let mut options = gateway_options();
    options
        .env
        .push(("CLAWHOST_USAGE_DAILY_TOKEN_LIMIT".into(), "10".into()));
    let restarted = TestServer::start_in(data, options);
    restarted.secret("sk-test-restart");
    let owner = restarted.login().await;
    let status = wait_for_state(&owner, "running").await;
    // Another run of clawhost has its egress proxy at another port: not a change worth a
    // version in the configuration's history.
    let history = owner.json("/api/gateway/config-history").await;
    assert_eq!(history["versions"], json!([]), "{history}");
    let old_pid = status["pid"].as_u64().expect("pid");
    let old_token = gateway_token(old_pid);
    restarted.secret(&old_token);

    // Rotating the credential restarts the gateway with a new one; the old one stops working.
    let lines = owner.get("/api/gateway/logs/stream").await;
    assert_eq!(
        owner
            .post_empty("/api/gateway/rotate-credential")
            .await
            .status(),
        202
    );
    let logged = read_events(lines, READY, |name, data| {
        name == "log"
            && data["text"]
                .as_str()
                .is_some_and(|t| t.contains("rotating the gateway credential"))
    })
    .await;
    assert!(logged.iter().all(|(name, _)| name == "log"));
    let status = wait_for_state(&owner, "running").await;
    let new_pid = status["pid"].as_u64().expect("pid");
    assert_ne!(new_pid, old_pid);
    let new_token = gateway_token(new_pid);
    restarted.secret(&new_token);
    assert_ne!(new_token, old_token);
    let port = gateway_port(&restarted);
    assert!(
        RpcClient::connect(port, &old_token, Duration::from_secs(30))
            .await
            .is_err()
    );
    let mut rpc = RpcClient::connect(port, &new_token, Duration::from_secs(30))
        .await
        .expect("new token works");
    crate::egress::a_provider_down_and_a_limit_reached(&owner, &llm, &mut rpc).await;
    rpc.close().await;
    let events = owner.json("/api/auth/events?limit=200").await;
    let issued = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "gateway_credential_issued")
        .count();
    assert!(issued >= 3, "{events}");
    assert!(!events.to_string().contains(&new_token));

    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}

#[tokio::test]
async fn a_gateway_left_behind_by_a_killed_clawhost_is_stopped() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let server = TestServer::start_with(gateway_options());
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-orphan").await;
    server.secret("sk-test-orphan");
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    let pid = status["pid"].as_u64().expect("pid");
    server.secret(&gateway_token(pid));

    // clawhost dies without a chance to stop its child: the gateway is orphaned.
    let data = server.kill_hard();
    assert!(
        !group_members(pid).is_empty(),
        "the gateway should have outlived a SIGKILLed clawhost"
    );

    // The next clawhost finds and stops it before starting its own.
    let restarted = TestServer::start_in(data, gateway_options());
    restarted.secret("sk-test-orphan");
    let owner = restarted.login().await;
    let status = wait_for_state(&owner, "running").await;
    let new_pid = status["pid"].as_u64().expect("pid");
    restarted.secret(&gateway_token(new_pid));
    assert_ne!(new_pid, pid);
    assert!(
        group_members(pid).is_empty(),
        "the old gateway is still running: {:?}",
        group_members(pid)
    );
    assert!(
        restarted
            .log()
            .contains("a gateway from a previous run of clawhost is still running")
    );
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}

/// Something else on 127.0.0.1:`port` that answers every request with 200, as a web server
/// or another program's health endpoint would. Ends when dropped.
struct Stranger(tokio::task::JoinHandle<()>);

impl Stranger {
    fn hold(listener: std::net::TcpListener) -> Self {
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        Self(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        }))
    }
}

impl Stranger {
    /// Stops answering and lets the port go before returning.
    async fn leave(self) {
        self.0.abort();
        let _ = self.0.await;
    }
}

/// Polls the status until it needs attention for `why` (about `port`), failing at once if
/// it ever says running.
async fn another_program_holds(owner: &Client, port: u16, why: &str) {
    let deadline = tokio::time::Instant::now() + READY;
    let wanted = "needs_attention";
    let status = loop {
        let status = state(owner).await;
        assert_ne!(
            status["state"], "running",
            "a stranger was taken for the gateway: {status}"
        );
        if status["state"] == wanted {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {wanted}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = status["attention"]["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&port.to_string()) && reason.contains(why),
        "{reason}"
    );
}

#[tokio::test]
async fn a_stranger_on_the_gateways_port_is_never_taken_for_it() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let port = free_port();
    let mut options = gateway_options();
    options
        .env
        .retain(|(name, _)| name != "CLAWHOST_GATEWAY_PORT");
    options
        .env
        .push(("CLAWHOST_GATEWAY_PORT".into(), port.to_string()));
    let server = TestServer::start_with(options);
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, "sk-test-stranger").await;
    server.secret("sk-test-stranger");

    // Taken before the start: said at once, in words.
    let stranger = Stranger::hold(std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind"));
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    another_program_holds(&owner, port, "already in use by another program").await;
    stranger.leave().await;

    // Taken once the gateway is spawned but before it listens: it answers /readyz, from a
    // socket no process of the gateway's holds, and never gets the credential.
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    eventually(READY, || async { !state(&owner).await["pid"].is_null() })
        .await
        .expect("the gateway was spawned");
    let stranger = Stranger::hold(
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind before the gateway"),
    );
    another_program_holds(
        &owner,
        port,
        "answers, but not from the gateway clawhost started",
    )
    .await;
    stranger.leave().await;

    // With the port free again, the same start works.
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    let status = wait_for_state(&owner, "running").await;
    // Out of memory, the gateway goes before clawhost.
    let pid = status["pid"].as_u64().expect("pid");
    let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).expect("score");
    assert_eq!(score.trim(), "500");
    server.secret(&gateway_token(status["pid"].as_u64().expect("pid")));
    assert_eq!(owner.post_empty("/api/gateway/stop").await.status(), 202);
    wait_for_state(&owner, "stopped").await;
}
