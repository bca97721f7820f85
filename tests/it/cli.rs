//! The command line: refusing root, config errors that say what to fix, the data directory's
//! permissions, and a graceful stop.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{TestServer, clawhost, refusal};

#[test]
fn version_prints_the_version() {
    let output = clawhost().arg("version").output().expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("clawhost {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_refuses_root_without_allow_root() {
    if !nix::unistd::geteuid().is_root() {
        // The refusal is about root; as another user serve starts normally (tested everywhere).
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let message = refusal(
        clawhost()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data")),
    );
    assert!(message.contains("--allow-root"), "{message}");
    for named in ["deploy/clawhost.service", "deploy/install.sh"] {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(named);
        assert!(
            message.contains(named) && file.is_file(),
            "the refusal names {named}, which exists: {message}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the refusal"
    );
}

/// Listening on every address, clawhost cannot know which one browsers use: without a public
/// URL it would answer every request 421 (review of issue 11), so it says so and stops.
#[test]
fn listening_everywhere_needs_a_public_url() {
    let dir = tempfile::tempdir().expect("dir");
    let message = refusal(
        clawhost()
            .args(["serve", "--allow-root", "--listen", "0.0.0.0:0"])
            .env("CLAWHOST_TLS_ALLOW_PLAIN_HTTP", "true")
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(message.contains("set public_url"), "{message}");
}

/// Issue 13: plain http on a network address is what a TLS proxy in front asks for, and
/// nothing else; without one, clawhost says how to get https instead of serving passwords
/// in clear.
#[test]
fn plain_http_on_the_network_needs_saying_so() {
    let dir = tempfile::tempdir().expect("dir");
    let message = refusal(
        clawhost()
            .args(["serve", "--allow-root", "--listen", "0.0.0.0:0"])
            .args(["--public-url", "http://192.0.2.10:8080"])
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(message.contains("plain http on 0.0.0.0"), "{message}");
    assert!(message.contains("tls.mode = \"files\""), "{message}");
    assert!(message.contains("tls.allow_plain_http = true"), "{message}");
    let missing = refusal(
        clawhost()
            .args(["serve", "--allow-root"])
            .env("CLAWHOST_TLS_MODE", "files")
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(
        missing.contains("needs tls.cert_file and tls.key_file"),
        "{missing}"
    );
    let broken = refusal(
        clawhost()
            .args(["serve", "--allow-root"])
            .env("CLAWHOST_TLS_MODE", "files")
            .env("CLAWHOST_TLS_CERT_FILE", dir.path().join("no-such.pem"))
            .env("CLAWHOST_TLS_KEY_FILE", dir.path().join("no-such.key"))
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(broken.contains("no-such.pem"), "{broken}");
}

#[test]
fn bad_settings_are_reported_with_where_they_came_from() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |name: &str, value: &str| {
        refusal(
            clawhost()
                .args(["serve", "--allow-root", "--data-dir"])
                .arg(dir.path().join("data"))
                .env(name, value),
        )
    };
    let message = run("CLAWHOST_LISTEN", "not-an-address");
    assert!(
        message.contains("CLAWHOST_LISTEN") && message.contains("127.0.0.1:8080"),
        "{message}"
    );

    let message = run("CLAWHOST_PUBLIC_URL", "https://claw.example.com/sub");
    assert!(message.contains("no path"), "{message}");

    let message = run("CLAWHOST_SECRET_KEY", "inline-secret");
    assert!(message.contains("CLAWHOST_SECRET_KEY_FILE"), "{message}");
    assert!(!message.contains("inline-secret"), "{message}");

    let file = dir.path().join("clawhost.toml");
    std::fs::write(&file, "[sesion]\nidle_timeout = \"1d\"\n").expect("write");
    let message = refusal(
        clawhost()
            .args(["serve", "--allow-root", "--config"])
            .arg(&file),
    );
    assert!(message.contains("sesion.idle_timeout"), "{message}");
}

#[tokio::test]
async fn data_is_private_and_sigterm_stops_cleanly() {
    let mut server = TestServer::start();
    let _owner = server.claimed().await;
    let data = server.data_dir();
    let mode = std::fs::metadata(&data).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    for file in crate::harness::files_under(&data) {
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", file.display());
    }
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(server.log().contains("\"stopped\""), "{}", server.log());
}

/// Under `Type=notify` systemd waits for `READY=1` and hears `STOPPING=1` on SIGTERM.
#[test]
fn serve_tells_the_service_manager_when_it_is_ready_and_stopping() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let server = TestServer::start_setting("NOTIFY_SOCKET", &path.display().to_string());
    let mut buffer = [0u8; 512];
    let read = |buffer: &mut [u8]| {
        let n = socket
            .recv(buffer)
            .expect("a message to the service manager");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let ready = read(&mut buffer);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=listening on {}", server.addr)),
        "{ready}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server.pid()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let stopping = read(&mut buffer);
    assert!(stopping.starts_with("STOPPING=1"), "{stopping}");
}

/// The shipped unit is valid, and its exposure by `systemd-analyze security` stays at 2.0 or
/// below (community OpenClaw units rate 9.2–9.6, "UNSAFE"), with the binary path pointed at
/// this build so `verify` can check it.
#[test]
fn the_service_unit_is_valid_and_hardened() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/clawhost.service"
    ))
    .expect("unit");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/clawhost serve"),
        "{unit}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clawhost.service");
    std::fs::write(
        &file,
        unit.replace("/usr/local/bin/clawhost", crate::harness::BIN),
    )
    .expect("write");
    let analyze = |args: &[&str]| {
        std::process::Command::new("systemd-analyze")
            .args(args)
            .arg(&file)
            .output()
            .expect("systemd-analyze (Debian's systemd package)")
    };
    let verify = analyze(&["verify"]);
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {verify:?}"
    );
    let security = analyze(&["security", "--offline=true", "--no-pager"]);
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for clawhost.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure in {report}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{report}");
    // What the gateway needs stays allowed: Node's JIT, child processes, the network.
    assert!(!unit.contains("MemoryDenyWriteExecute=yes"));
    assert!(unit.contains("AF_INET AF_INET6"));
}
