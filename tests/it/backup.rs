//! Backups and restores: from the command line, through the API and the pages, on a
//! schedule, and of a real running gateway restored on a fresh instance.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use tempfile::TempDir;

use crate::gateway::{configure_test_llm, gateway_token, wait_for_state};
use crate::harness::{
    Client, Options, PASSWORD, TestServer, assert_problem, clawhost, eventually, gateway_options,
    last_line, one_gateway_at_a_time, openclaw_runtime,
};
use crate::llm::TestLlm;
use crate::telegram::{BOT_TOKEN, BOT_USERNAME, FakeTelegram};

const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";
const PASSPHRASE: &str = "a long backup passphrase";

/// `clawhost <args> --data-dir <dir>`, with the shared OpenClaw runtime when asked.
fn cli(dir: &Path, args: &[&str], runtime: bool) -> Output {
    let mut command = clawhost();
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("HOME", dir.parent().expect("a parent"));
    if runtime {
        command.env("CLAWHOST_RUNTIME_DIR", openclaw_runtime());
    }
    let output = command.output().expect("run clawhost");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "the CLI panicked: {stderr}");
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn passphrase_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(format!("passphrase-{}-{mode:o}", text.len()));
    std::fs::write(&path, format!("{text}\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// Every file of the instance (not its backups, not the lock) and the SHA-256 of its bytes.
fn instance_files(data: &Path) -> BTreeMap<PathBuf, String> {
    crate::harness::files_under(data)
        .into_iter()
        .filter(|p| {
            let relative = p.strip_prefix(data).expect("inside");
            !relative.starts_with("backups") && !relative.ends_with("clawhost.lock")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            let digest = sha2::Sha256::digest(&bytes);
            (p, format!("{digest:?}"))
        })
        .collect()
}

/// A client that presents `token` as its session cookie, as a stolen cookie would.
fn with_session(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("clawhost_session={token}").parse().expect("cookie"),
    );
    crate::harness::http_builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// The members of a backup file that is not encrypted, in their order.
fn members(file: &Path) -> Vec<(String, Vec<u8>)> {
    let zstd = zstd::Decoder::new(std::fs::File::open(file).expect("open")).expect("zstd");
    let mut archive = tar::Archive::new(zstd);
    let mut members = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        members.push((name, bytes));
    }
    members
}

fn member<'a>(members: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    members
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, bytes)| bytes.as_slice())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Follows `/api/backups/events` until `job` is done or failed; returns that event.
async fn job_end(events: reqwest::Response, job: &str) -> Value {
    let mut events = events;
    let mut buffer = String::new();
    let ended = tokio::time::timeout(Duration::from_mins(4), async {
        while let Some(chunk) = events.chunk().await.expect("events") {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .unwrap_or_default();
                let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                if event["job"] == job && (event["kind"] == "done" || event["kind"] == "failed") {
                    return Some(event);
                }
            }
        }
        None
    })
    .await;
    ended
        .expect("the job did not end within 4 minutes")
        .expect("the event stream ended first")
}

/// Waits for the restore under way to end `owner`'s session (a restore ends every session,
/// its event stream too), signs in again and checks the restore was recorded.
async fn signed_in_after_restore(server: &TestServer, owner: &Client) -> Client {
    let ended = eventually(Duration::from_mins(1), || async {
        owner.get("/api/auth/me").await.status() == 401
    })
    .await;
    assert!(ended.is_some(), "the session outlived the restore");
    let again = server.login().await;
    let kinds = again.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "backup_restored"), "{kinds:?}");
    again
}

/// Starts a backup through the API and waits for its end.
async fn back_up(owner: &Client, body: Value) -> Value {
    let events = owner.get("/api/backups/events").await;
    assert_eq!(events.status(), 200);
    let response = owner.post("/api/backups", &body).await;
    assert_eq!(
        response.status(),
        202,
        "{}",
        response.text().await.unwrap_or_default()
    );
    job_end(events, "backup").await
}

#[tokio::test]
async fn the_command_line_backs_up_and_restores_and_refuses_a_damaged_backup() {
    let server = TestServer::start();
    let owner = server.claimed().await;
    // Telegram set up (the gateway stopped: it takes it at its next start): its token is
    // sealed in the database, and travels only as the provider key does.
    let telegram = FakeTelegram::start().await;
    let set = owner
        .put(
            "/api/channels/telegram",
            &json!({"bot_token": BOT_TOKEN, "api_root": telegram.api_root}),
        )
        .await;
    assert_eq!(set.status(), 200);
    assert_eq!(set.json::<Value>().await.expect("json")["applied"], false);
    let old_token = owner.session_token().expect("token");
    let data = server.into_data();
    let dir = data.path().join("data");

    // A backup into <data>/backups, private, named by its time.
    let made = cli(&dir, &["backup"], false);
    assert!(made.status.success(), "{}", text(&made));
    let file = PathBuf::from(last_line(&made.stdout));
    assert!(file.starts_with(dir.join("backups")), "{}", file.display());
    let permissions = std::fs::metadata(&file).expect("file").permissions();
    assert_eq!(permissions.mode() & 0o777, 0o600);
    let inside = members(&file);
    assert_eq!(inside[0].0, "manifest.json", "the manifest comes first");
    for (name, bytes) in &inside {
        assert!(!contains(bytes, BOT_TOKEN), "{name} holds Telegram's token");
    }
    assert!(
        member(&inside, "secret.key").is_none(),
        "no key without a passphrase"
    );
    let manifest: Value =
        serde_json::from_slice(member(&inside, "manifest.json").expect("manifest")).expect("json");
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["encrypted"], false);
    for listed in manifest["members"].as_array().expect("members") {
        let name = listed["name"].as_str().expect("name");
        let bytes = member(&inside, name).expect("listed member");
        assert_eq!(listed["size"], bytes.len(), "{name}");
    }

    // Damaged anywhere: refused, and nothing of the instance changed.
    let before = instance_files(&dir);
    let good = std::fs::read(&file).expect("read");
    for at in [10, good.len() / 2, good.len() - 3] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let damaged = data.path().join("damaged.tar.zst");
        std::fs::write(&damaged, &bad).expect("write");
        let refused = cli(&dir, &["restore", damaged.to_str().expect("utf-8")], false);
        assert!(!refused.status.success(), "byte {at} changed, yet restored");
        assert!(text(&refused).contains("damaged"), "{}", text(&refused));
        assert_eq!(
            instance_files(&dir),
            before,
            "byte {at}: the instance changed"
        );
    }
    let not_one = cli(&dir, &["restore", "/etc/hostname"], false);
    assert!(
        text(&not_one).contains("not a clawhost backup"),
        "{}",
        text(&not_one)
    );

    // Encrypted: the passphrase file must be private, and the passphrase right.
    let keys = TempDir::new().expect("dir");
    let open_file = passphrase_file(keys.path(), PASSPHRASE, 0o644);
    let refused = cli(
        &dir,
        &[
            "backup",
            "--passphrase-file",
            open_file.to_str().expect("utf-8"),
        ],
        false,
    );
    assert!(
        text(&refused).contains("readable by others"),
        "{}",
        text(&refused)
    );
    let short = passphrase_file(keys.path(), "short", 0o600);
    let refused = cli(
        &dir,
        &[
            "backup",
            "--passphrase-file",
            short.to_str().expect("utf-8"),
        ],
        false,
    );
    assert!(text(&refused).contains("12 to 1024"), "{}", text(&refused));
    let secret = passphrase_file(keys.path(), PASSPHRASE, 0o600);
    let sealed = keys.path().join("sealed.tar.zst.age");
    let made = cli(
        &dir,
        &[
            "backup",
            "--passphrase-file",
            secret.to_str().expect("utf-8"),
            "--output",
            sealed.to_str().expect("utf-8"),
        ],
        false,
    );
    assert!(made.status.success(), "{}", text(&made));
    assert!(std::fs::read(&sealed).expect("read").starts_with(AGE_MAGIC));
    let before = instance_files(&dir);
    let without = cli(&dir, &["restore", sealed.to_str().expect("utf-8")], false);
    assert!(text(&without).contains("encrypted"), "{}", text(&without));
    let wrong = passphrase_file(keys.path(), "not the passphrase", 0o600);
    let wrong_one = cli(
        &dir,
        &[
            "restore",
            sealed.to_str().expect("utf-8"),
            "--passphrase-file",
            wrong.to_str().expect("utf-8"),
        ],
        false,
    );
    assert!(
        text(&wrong_one).contains("does not open"),
        "{}",
        text(&wrong_one)
    );
    assert_eq!(
        instance_files(&dir),
        before,
        "a refused restore changed the instance"
    );

    // Kept apart: the instance's directory goes with its server below.
    let plain = keys.path().join("plain.tar.zst");
    std::fs::copy(&file, &plain).expect("copy");
    // A restore under a running server is refused: it holds the instance.
    let server = TestServer::start_in(data, Options::default());
    let busy = server.cli(&["restore", file.to_str().expect("utf-8")]);
    assert!(!busy.status.success());
    assert!(
        text(&busy).contains("clawhost is running"),
        "{}",
        text(&busy)
    );
    drop(server);

    // Restored on a fresh instance: the same owner, and no session of before signs in.
    let fresh = TempDir::new().expect("dir");
    let fresh_dir = fresh.path().join("data");
    let restored = cli(
        &fresh_dir,
        &[
            "restore",
            sealed.to_str().expect("utf-8"),
            "--passphrase-file",
            secret.to_str().expect("utf-8"),
        ],
        false,
    );
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(
        text(&restored).contains("before-restore-"),
        "{}",
        text(&restored)
    );
    let server = TestServer::start_in(fresh, Options::default());
    let stolen = with_session(&old_token);
    let me = stolen
        .get(server.url("/api/auth/me"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        me.status(),
        401,
        "a session from before the backup signs in"
    );
    let owner = server.login().await;
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "backup_restored"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "backup_created"), "{kinds:?}");
    // Telegram's token came with the passphrase, sealed again under this instance's key.
    let shown = owner.json("/api/channels/telegram").await;
    assert_eq!(
        shown["telegram"]["bot"],
        format!("@{BOT_USERNAME}"),
        "{shown}"
    );
    drop(server);

    // Without a passphrase, on another instance: everything but the token.
    let other = TempDir::new().expect("dir");
    let restored = cli(
        &other.path().join("data"),
        &["restore", plain.to_str().expect("utf-8")],
        false,
    );
    assert!(restored.status.success(), "{}", text(&restored));
    let server = TestServer::start_in(other, Options::default());
    let shown = server.login().await.json("/api/channels/telegram").await;
    assert_eq!(shown["telegram"], Value::Null, "{shown}");
}

#[tokio::test]
async fn backups_through_the_api_and_the_pages_need_a_fresh_step_up() {
    let server = TestServer::start_setting("CLAWHOST_SESSION_REAUTH_WINDOW", "2s");
    let owner = server.claimed().await;
    let listed = owner.json("/api/backups").await;
    assert_eq!(listed["backups"], json!([]));
    assert_eq!(listed["schedule"], "1d");
    assert_eq!(listed["keep"], 7);

    // Claiming was the step-up: a backup now, its steps on the event stream.
    let done = back_up(&owner, json!({})).await;
    assert_eq!(done["kind"], "done", "{done}");
    let id = done["id"].as_str().expect("id").to_owned();
    let listed = owner.json("/api/backups").await;
    assert_eq!(listed["backups"][0]["id"], id.as_str());
    assert_eq!(listed["backups"][0]["encrypted"], false);
    assert_problem(
        owner
            .post("/api/backups", &json!({"passphrase": "short"}))
            .await,
        422,
    )
    .await;
    assert_problem(owner.post("/api/backups", &json!({"other": 1})).await, 422).await;

    // Downloaded as it is on disk, streamed as an attachment; a name of ours only.
    let download = owner.get(&format!("/api/backups/{id}/download")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["cache-control"], "no-store");
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains(&id)
    );
    let bytes = download.bytes().await.expect("body");
    let on_disk = std::fs::read(server.data_dir().join("backups").join(&id)).expect("read");
    assert_eq!(bytes.as_ref(), on_disk.as_slice());
    for bad in [
        "..%2Fclawhost.db",
        "clawhost.db",
        "clawhost-backup-x.tar",
        "secret.key",
    ] {
        assert_problem(
            owner.get(&format!("/api/backups/{bad}/download")).await,
            404,
        )
        .await;
    }
    assert_problem(
        owner
            .post("/api/backups/restore", &json!({"id": "../clawhost.db"}))
            .await,
        404,
    )
    .await;

    // Both pages show it.
    let settings = owner.page_text("/settings").await;
    assert!(
        settings.contains("Back up now") && settings.contains("Restore"),
        "{settings}"
    );
    let dashboard = owner.page_text("/").await;
    assert!(dashboard.contains("Last backup"), "{dashboard}");
    assert!(!dashboard.contains("none yet"), "{dashboard}");

    // Once the step-up is older than the window, each needs the password again (asked of
    // a backup that does not exist, so that waiting makes none).
    let stale = eventually(Duration::from_secs(10), || async {
        owner
            .delete("/api/backups/clawhost-backup-none.tar.zst")
            .await
            .status()
            == 403
    })
    .await;
    assert!(stale.is_some(), "a backup without a fresh step-up");
    for response in [
        owner.post("/api/backups", &json!({})).await,
        owner.get(&format!("/api/backups/{id}/download")).await,
        owner.post("/api/backups/restore", &json!({"id": id})).await,
        owner.delete(&format!("/api/backups/{id}")).await,
    ] {
        let problem = assert_problem(response, 403).await;
        assert!(
            problem["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("reauthentication-required")),
            "{problem}"
        );
    }
    // The page's form asks for the password, and goes on with it.
    let asked = owner
        .post_form(&format!("/settings/backups/{id}/download"), &[])
        .await;
    assert_eq!(asked.status(), 403);
    assert!(asked.text().await.expect("page").contains("password"));
    let confirmed = owner
        .post_form(
            &format!("/settings/backups/{id}/download"),
            &[("reauth_password", PASSWORD)],
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        confirmed.bytes().await.expect("body").as_ref(),
        on_disk.as_slice()
    );
    let kinds = owner.event_kinds().await;
    assert!(kinds.iter().any(|k| k == "backup_downloaded"), "{kinds:?}");

    // A restore through the API ends every session, this one too; the owner signs in again.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let response = owner.post("/api/backups/restore", &json!({"id": id})).await;
    assert_eq!(response.status(), 202);
    let again = signed_in_after_restore(&server, &owner).await;
    let listed = again.json("/api/backups").await;
    assert_eq!(listed["running"], Value::Null);
}

#[tokio::test]
async fn a_schedule_keeps_the_newest_backups_and_drills_the_newest() {
    let server = TestServer::start_with(Options {
        env: vec![
            ("CLAWHOST_BACKUP_SCHEDULE".into(), "1s".into()),
            ("CLAWHOST_BACKUP_KEEP".into(), "2".into()),
        ],
        ..Options::default()
    });
    let owner = server.claimed().await;
    let made_three = eventually(Duration::from_mins(1), || async {
        owner
            .event_kinds()
            .await
            .iter()
            .filter(|k| *k == "backup_created")
            .count()
            >= 3
    })
    .await;
    assert!(
        made_three.is_some(),
        "three scheduled backups within a minute"
    );
    let listed = owner.json("/api/backups").await;
    assert_eq!(listed["schedule"], "1s");
    let kept = listed["backups"].as_array().expect("list").len();
    assert!(kept <= 2, "kept {kept} of keep = 2: {listed}");
    let drilled = eventually(Duration::from_mins(1), || async {
        owner.json("/api/backups").await["last_drill"]["ok"] == true
    })
    .await;
    assert!(drilled.is_some(), "{}", owner.json("/api/backups").await);
    let dashboard = owner.page_text("/").await;
    assert!(dashboard.contains("Last backup restores"), "{dashboard}");
}

/// The whole story on the real gateway: a backup while it runs and chats; the unencrypted
/// backup holds no provider key; restored on fresh instances it chats again with the key
/// (passphrase) or asks for it (none); restored in place through the API, the gateway stops
/// and comes back.
#[tokio::test]
async fn a_running_assistant_restores_on_a_fresh_instance() {
    let _one = one_gateway_at_a_time().await;
    let llm = TestLlm::start().await;
    let key = "sk-backup-provider-key-4242";
    let server = TestServer::start_with(gateway_options());
    server.secret(key);
    let owner = server.claimed().await;
    configure_test_llm(&owner, &llm, key).await;
    assert_eq!(owner.post_empty("/api/gateway/start").await.status(), 202);
    wait_for_state(&owner, "running").await;

    // A chat in flight while OpenClaw backs its state up.
    let pid = owner.json("/api/gateway/status").await["pid"]
        .as_u64()
        .expect("pid");
    let token = gateway_token(pid);
    server.secret(&token);
    let port = crate::gateway::gateway_port(&server);
    let mut rpc = clawhost::RpcClient::connect(port, &token, Duration::from_secs(30))
        .await
        .expect("rpc");
    rpc.call(
        "chat.send",
        json!({"sessionKey": "main", "message": "remember this", "idempotencyKey": "backup-1"}),
        Duration::from_secs(30),
    )
    .await
    .expect("chat.send");
    let sealed = back_up(&owner, json!({"passphrase": PASSPHRASE})).await;
    assert_eq!(sealed["kind"], "done", "{sealed}");
    let plain = back_up(&owner, json!({})).await;
    assert_eq!(plain["kind"], "done", "{plain}");
    rpc.close().await;
    let backups = server.data_dir().join("backups");
    let sealed_file = backups.join(sealed["id"].as_str().expect("id"));
    let plain_file = backups.join(plain["id"].as_str().expect("id"));

    // Nothing of the unencrypted one holds the key, OpenClaw's own archive included.
    let inside = members(&plain_file);
    let openclaw = member(&inside, "openclaw.tar.gz").expect("OpenClaw's archive");
    assert!(member(&inside, "secret.key").is_none());
    for (name, bytes) in &inside {
        assert!(!contains(bytes, key), "{name} holds the provider key");
    }
    let unpacked = TempDir::new().expect("dir");
    std::fs::write(unpacked.path().join("o.tar.gz"), openclaw).expect("write");
    let untar = std::process::Command::new("tar")
        .args(["-xzf", "o.tar.gz"])
        .current_dir(unpacked.path())
        .output()
        .expect("tar");
    assert!(untar.status.success(), "{untar:?}");
    for file in crate::harness::files_under(unpacked.path()) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !contains(&bytes, key),
            "{} holds the provider key",
            file.display()
        );
    }
    let manifest: Value =
        serde_json::from_slice(member(&inside, "manifest.json").expect("manifest")).expect("json");
    assert_eq!(manifest["openclaw_version"], clawhost::OPENCLAW_VERSION);
    assert_eq!(manifest["provider"]["provider"], "openai-compatible");
    assert_eq!(manifest["gateway_wanted_running"], true);

    // Restored with its passphrase on a fresh instance: it comes up running and chats with
    // the same key.
    let fresh = TempDir::new().expect("dir");
    let secret = passphrase_file(fresh.path(), PASSPHRASE, 0o600);
    let restored = cli(
        &fresh.path().join("data"),
        &[
            "restore",
            sealed_file.to_str().expect("utf-8"),
            "--passphrase-file",
            secret.to_str().expect("utf-8"),
        ],
        true,
    );
    assert!(restored.status.success(), "{}", text(&restored));
    let server2 = TestServer::start_in(fresh, gateway_options());
    server2.secret(key);
    let owner2 = server2.login().await;
    let settings = owner2.json("/api/gateway/settings").await;
    assert_eq!(settings["key"]["set"], true, "{settings}");
    wait_for_state(&owner2, "running").await;
    let pid2 = owner2.json("/api/gateway/status").await["pid"]
        .as_u64()
        .expect("pid");
    let token2 = gateway_token(pid2);
    server2.secret(&token2);
    let mut rpc2 = clawhost::RpcClient::connect(
        crate::gateway::gateway_port(&server2),
        &token2,
        Duration::from_secs(30),
    )
    .await
    .expect("rpc");
    let before = llm.seen().len();
    rpc2.call(
        "chat.send",
        json!({"sessionKey": "main", "message": "hello again", "idempotencyKey": "backup-2"}),
        Duration::from_secs(30),
    )
    .await
    .expect("chat.send");
    let bearer = format!("Bearer {key}");
    let chatted = eventually(Duration::from_mins(1), || async {
        llm.seen()[before..].iter().any(|s| {
            s.path == "/v1/chat/completions" && s.authorization.as_deref() == Some(bearer.as_str())
        })
    })
    .await;
    assert!(
        chatted.is_some(),
        "the restored gateway never chatted with the key"
    );
    rpc2.close().await;
    drop(server2);

    // Restored without a passphrase elsewhere: everything but the key, which is asked for.
    let other = TempDir::new().expect("dir");
    let restored = cli(
        &other.path().join("data"),
        &["restore", plain_file.to_str().expect("utf-8")],
        true,
    );
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(
        text(&restored).contains("enter the provider key again"),
        "{}",
        text(&restored)
    );
    let server3 = TestServer::start_in(other, Options::default());
    let owner3 = server3.login().await;
    let settings = owner3.json("/api/gateway/settings").await;
    assert_eq!(settings["key"]["set"], false, "{settings}");
    assert_eq!(settings["provider"], "openai-compatible");
    drop(server3);

    // Restored in place through the API: the gateway stops, the state is replaced, the
    // gateway comes back, and the owner signs in again.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let response = owner
        .post(
            "/api/backups/restore",
            &json!({"id": plain["id"], "passphrase": null}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let ended = eventually(Duration::from_mins(2), || async {
        owner.get("/api/auth/me").await.status() == 401
    })
    .await;
    assert!(ended.is_some(), "the session outlived the restore");
    let owner = server.login().await;
    let settings = owner.json("/api/gateway/settings").await;
    assert_eq!(
        settings["key"]["set"], true,
        "made here, under this key: {settings}"
    );
    wait_for_state(&owner, "running").await;
    let befores: Vec<_> = std::fs::read_dir(server.data_dir())
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("before-restore-")
        })
        .collect();
    assert_eq!(befores.len(), 1);
    assert!(befores[0].path().join("openclaw/openclaw.json").is_file());
}

/// An instance whose database and OpenClaw state both say `word` (the model's name, and a
/// file), stopped, in `<data>/data`.
async fn instance_saying(word: &str) -> TempDir {
    let server = TestServer::start();
    let owner = server.claimed().await;
    let saved = owner
        .put(
            "/api/gateway/settings",
            &json!({"provider": "openai-compatible", "api_key": "sk-kill-test",
                    "base_url": "http://127.0.0.1:9/v1", "model": word}),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let state = server.data_dir().join("openclaw");
    std::fs::create_dir_all(&state).expect("mkdir");
    std::fs::write(state.join("openclaw.json"), "{}").expect("write");
    std::fs::write(state.join("marker.txt"), word).expect("write");
    server.into_data()
}

/// Ends every process still working in `dir` (OpenClaw's restore, left running when the
/// clawhost that started it was killed).
fn kill_processes_in(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
    {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for file in crate::harness::files_under(from) {
        let target = to.join(file.strip_prefix(from).expect("inside"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}

/// A restore killed (SIGKILL) at each of its steps, and at moments within the last one,
/// leaves the old instance or the new one, never a mix, once clawhost starts again.
#[tokio::test]
async fn a_restore_killed_at_any_moment_leaves_the_old_instance_or_the_new() {
    let new = instance_saying("new").await;
    let made = cli(&new.path().join("data"), &["backup"], true);
    assert!(made.status.success(), "{}", text(&made));
    let file = PathBuf::from(last_line(&made.stdout));
    let old = instance_saying("old").await;

    let steps = [
        ("Checking every part", 0),
        ("OpenClaw is checking", 0),
        ("OpenClaw is restoring", 0),
        ("OpenClaw is restoring", 300),
        ("Preparing the restored database", 0),
        ("Putting the restored state in place", 0),
        ("Putting the restored state in place", 2),
        ("Putting the restored state in place", 5),
        ("Putting the restored state in place", 10),
        ("Putting the restored state in place", 20),
        ("Putting the restored state in place", 40),
        ("never printed: the restore runs to its end", 0),
    ];
    let mut outcomes = Vec::new();
    for (step, delay_ms) in steps {
        let work = TempDir::new().expect("dir");
        copy_tree(old.path(), work.path());
        let dir = work.path().join("data");
        let mut command = clawhost();
        command
            .args(["restore", file.to_str().expect("utf-8"), "--data-dir"])
            .arg(&dir)
            .env("HOME", work.path())
            .env("CLAWHOST_RUNTIME_DIR", openclaw_runtime())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().expect("restore");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = lines.send(line);
            }
        });
        let mut killed_after = None;
        while let Ok(line) = seen.recv_timeout(Duration::from_mins(2)) {
            if line.starts_with(step) {
                std::thread::sleep(Duration::from_millis(delay_ms));
                let _ = child.kill();
                killed_after = Some(line);
                break;
            }
        }
        let status = child.wait().expect("wait");
        kill_processes_in(work.path());
        if dir.join("restore-journal.json").exists() {
            // What the shell would change now, the unfinished restore would undo: refused.
            let reset = cli(&dir, &["owner", "reset"], false);
            assert!(
                !reset.status.success(),
                "owner reset under an unfinished restore"
            );
            assert!(text(&reset).contains("not finished"), "{}", text(&reset));
        }

        // Started again (which finishes or drops what was under way): one instance or the
        // other, whole.
        let server = TestServer::start_in(work, Options::default());
        let owner = server.login().await;
        let model = owner.json("/api/gateway/settings").await["model"]
            .as_str()
            .expect("model")
            .to_owned();
        let marker = std::fs::read_to_string(server.data_dir().join("openclaw/marker.txt"))
            .expect("the state directory is whole");
        assert_eq!(
            model, marker,
            "killed at {step:?} + {delay_ms} ms: the database says {model}, the state {marker}"
        );
        let left: Vec<String> = std::fs::read_dir(server.data_dir().join("backups"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.iter().all(|name| !name.starts_with('.')),
            "staging left behind: {left:?}"
        );
        assert!(!server.data_dir().join("restore-journal.json").exists());
        if killed_after.is_none() {
            assert!(status.success(), "the restore that ran to its end failed");
            assert_eq!(model, "new");
        }
        outcomes.push(format!("{step} + {delay_ms} ms: {model}"));
    }
    // Killed early it is the old one, at the end the new one: both happened.
    assert!(
        outcomes.first().is_some_and(|o| o.ends_with("old")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.last().is_some_and(|o| o.ends_with("new")),
        "{outcomes:?}"
    );
    eprintln!("restore killed at each step: {outcomes:#?}");
}

/// A `multipart/form-data` body with `file` as the field `file`, as a browser's form sends it.
fn multipart(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----clawhost-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"backup.tar.zst\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(owner: &Client, path: &str, file: &[u8]) -> reqwest::Response {
    let (content_type, body) = multipart(file);
    owner
        .http
        .post(owner.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload")
}

#[tokio::test]
async fn a_backup_from_elsewhere_is_uploaded_then_restored() {
    // The backup comes from another instance, encrypted, and is downloaded from there.
    let elsewhere = TestServer::start();
    let first = elsewhere.claimed().await;
    let done = back_up(&first, json!({"passphrase": PASSPHRASE})).await;
    assert_eq!(done["kind"], "done", "{done}");
    let id = done["id"].as_str().expect("id");
    let file = first
        .get(&format!("/api/backups/{id}/download"))
        .await
        .bytes()
        .await
        .expect("download")
        .to_vec();
    let claimed_at = |events: Vec<Value>| -> Vec<Value> {
        events
            .into_iter()
            .filter(|e| e["kind"] == "claim")
            .map(|e| e["at"].clone())
            .collect()
    };
    let origin = claimed_at(first.events().await);

    let server = TestServer::start_setting("CLAWHOST_SESSION_REAUTH_WINDOW", "2s");
    let owner = server.claimed().await;
    let fresh = || async {
        let reauth = owner
            .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
            .await;
        assert_eq!(reauth.status(), 204);
    };

    // What is no backup is refused at its first bytes, and nothing is kept of it.
    fresh().await;
    let problem = assert_problem(
        upload(
            &owner,
            "/api/backups/upload",
            b"PK\x03\x04 a zip file, not a backup",
        )
        .await,
        422,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("not a clawhost backup"),
        "{problem}"
    );
    fresh().await;
    assert_problem(upload(&owner, "/api/backups/upload", b"").await, 422).await;
    fresh().await;
    let not_multipart = owner
        .post("/api/backups/upload", &json!({"file": "x"}))
        .await;
    assert_problem(not_multipart, 415).await;
    assert!(
        crate::harness::files_under(&server.data_dir().join("backups")).is_empty(),
        "a refused upload left a file"
    );

    // Far beyond the API's body limit: streamed to disk, not held (its contents are checked
    // at the restore; only its start is a backup's).
    fresh().await;
    let mut large = vec![0x28, 0xb5, 0x2f, 0xfd];
    large.resize(8 * 1024 * 1024, 7);
    let response = upload(&owner, "/api/backups/upload", &large).await;
    assert_eq!(response.status(), 201);
    let kept: Value = response.json().await.expect("json");
    assert_eq!(kept["size"], 8 * 1024 * 1024);
    assert_eq!(kept["encrypted"], false);

    // Uploaded whole, byte for byte, kept apart from the backups made here; the upload
    // before it goes.
    fresh().await;
    let response = upload(&owner, "/api/backups/upload", &file).await;
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let kept: Value = response.json().await.expect("json");
    let uploaded = kept["id"].as_str().expect("id").to_owned();
    assert!(
        uploaded.starts_with("clawhost-upload-") && uploaded.ends_with(".tar.zst.age"),
        "{kept}"
    );
    assert_eq!(kept["uploaded"], true);
    assert_eq!(kept["encrypted"], true);
    let on_disk = server.data_dir().join("backups").join(&uploaded);
    assert_eq!(std::fs::read(&on_disk).expect("kept"), file);
    assert_eq!(
        std::fs::metadata(&on_disk)
            .expect("kept")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let listed = owner.json("/api/backups").await;
    assert_eq!(listed["backups"][0]["id"], uploaded.as_str(), "{listed}");
    assert_eq!(
        listed["backups"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert!(
        owner
            .event_kinds()
            .await
            .iter()
            .any(|k| k == "backup_uploaded")
    );
    let dashboard = owner.page_text("/").await;
    assert!(
        dashboard.contains("data-field=\"last-backup\">none yet"),
        "an upload is no backup made here: {dashboard}"
    );

    // Through the page: a stale session confirms first, and the file is not read until then.
    let stale = eventually(Duration::from_secs(10), || async {
        upload(&owner, "/api/backups/upload", &file).await.status() == 403
    })
    .await;
    assert!(stale.is_some(), "an upload without a fresh step-up");
    let location = |response: reqwest::Response| {
        assert_eq!(response.status(), 303);
        response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let settings = owner.page_text("/settings").await;
    assert!(
        settings.contains("/settings/backups/upload/confirm"),
        "{settings}"
    );
    let asked = upload(&owner, "/settings/backups/upload", &file).await;
    assert_eq!(location(asked), "/settings?backup=confirm-upload#backups");
    let confirm = owner
        .post_form("/settings/backups/upload/confirm", &[])
        .await;
    assert_eq!(confirm.status(), 403);
    let confirmed = owner
        .post_form(
            "/settings/backups/upload/confirm",
            &[("reauth_password", PASSWORD)],
        )
        .await;
    assert_eq!(confirmed.status(), 303);
    let settings = owner.page_text("/settings?backup=upload").await;
    assert!(
        settings.contains("enctype=\"multipart/form-data\""),
        "{settings}"
    );
    let sent = upload(&owner, "/settings/backups/upload", &file).await;
    assert_eq!(location(sent), "/settings?backup=uploaded#backups");
    let listed = owner.json("/api/backups").await;
    let ids: Vec<&str> = listed["backups"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one upload is kept: {ids:?}");
    let uploaded = ids[0].to_owned();

    // Restored like any kept backup: the instance is the other one's now.
    fresh().await;
    let response = owner
        .post(
            "/api/backups/restore",
            &json!({"id": uploaded, "passphrase": PASSPHRASE}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let again = signed_in_after_restore(&server, &owner).await;
    assert_eq!(
        claimed_at(again.events().await),
        origin,
        "the claim is the other instance's"
    );
}
