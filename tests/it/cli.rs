//! The command line: refusing root, config errors that say what to fix, the data directory's
//! permissions, and a graceful stop.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{TestServer, clawhost};

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
    let output = clawhost()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--allow-root"), "{message}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the refusal"
    );
}

#[test]
fn bad_settings_are_reported_with_where_they_came_from() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |name: &str, value: &str| {
        clawhost()
            .args(["serve", "--allow-root", "--data-dir"])
            .arg(dir.path().join("data"))
            .env(name, value)
            .output()
            .expect("run")
    };
    let output = run("CLAWHOST_LISTEN", "not-an-address");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("CLAWHOST_LISTEN") && message.contains("127.0.0.1:8080"),
        "{message}"
    );

    let output = run("CLAWHOST_PUBLIC_URL", "https://claw.example.com/sub");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("no path"),
        "{message}"
    );

    let output = run("CLAWHOST_SECRET_KEY", "inline-secret");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("CLAWHOST_SECRET_KEY_FILE"),
        "{message}"
    );
    assert!(!message.contains("inline-secret"), "{message}");

    let file = dir.path().join("clawhost.toml");
    std::fs::write(&file, "[sesion]\nidle_timeout = \"1d\"\n").expect("write");
    let output = clawhost()
        .args(["serve", "--allow-root", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("sesion.idle_timeout"),
        "{message}"
    );
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
