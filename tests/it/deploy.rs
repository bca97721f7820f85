//! What `deploy/` ships besides the unit: the install script (shellcheck-clean, the same tree
//! when run twice, settings clawhost takes, an uninstall that keeps the data unless told),
//! and the samples for a proxy already in front (the Caddyfile validated by Caddy, the
//! settings they go with loaded by clawhost).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::BIN;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn install(args: &[&str]) -> Output {
    let output = Command::new(deploy("install.sh"))
        .args(args)
        .output()
        .expect("run install.sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("unbound variable"), "{stderr}");
    output
}

fn staged(root: &Path, extra: &[&str]) -> Output {
    let root = root.to_str().expect("path");
    let args = [&["--root", root, "--binary", BIN][..], extra].concat();
    install(&args)
}

/// Every file and directory under `root`: its mode and, for a file, its content.
fn tree(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::metadata(&path).expect("meta");
            let name = path
                .strip_prefix(root)
                .expect("inside")
                .display()
                .to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                pending.push(path);
                out.insert(name, (mode, Vec::new()));
            } else {
                out.insert(name, (mode, std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

/// `clawhost serve --check-config` on `file`: what it says, or why it fails.
fn check_config(file: &Path) -> String {
    let output = Command::new(BIN)
        .args(["serve", "--check-config", "--config"])
        .arg(file)
        .env("HOME", file.parent().expect("dir"))
        .output()
        .expect("clawhost");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_install_script_is_shellcheck_clean() {
    let output = Command::new("shellcheck")
        .arg(deploy("install.sh"))
        .output()
        .expect("shellcheck (scripts/test installs it)");
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn the_install_script_stages_the_same_tree_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("root");
    let first = staged(&root, &["--domain", "claw.example.com"]);
    assert!(first.status.success(), "{first:?}");
    let once = tree(&root);
    let again = staged(&root, &["--domain", "claw.example.com"]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(tree(&root), once, "a second run changed the tree");

    let binary = &once["usr/local/bin/clawhost"];
    assert_eq!(binary.0, 0o755);
    assert_eq!(binary.1, std::fs::read(BIN).expect("bin"));
    assert_eq!(
        once["etc/systemd/system/clawhost.service"].1,
        std::fs::read(deploy("clawhost.service")).expect("unit")
    );
    assert_eq!(once["etc/clawhost"].0, 0o750);
    assert_eq!(once["etc/clawhost/clawhost.toml"].0, 0o640);
    // Users and owners, which a staging run does not touch, are written down.
    let manifest = String::from_utf8_lossy(&once["clawhost-install.manifest"].1).into_owned();
    for line in [
        "user clawhost system home=/var/lib/clawhost shell=/usr/sbin/nologin",
        "file /usr/local/bin/clawhost 0755 root:root",
        "file /etc/clawhost/clawhost.toml 0640 root:clawhost",
    ] {
        assert!(manifest.lines().any(|l| l == line), "{line}:\n{manifest}");
    }

    // The settings it writes are ones clawhost takes: https by ACME for the name.
    let config = root.join("etc/clawhost/clawhost.toml");
    let said = check_config(&config);
    assert!(
        said.contains("listen [::]:443") && said.contains("acme for claw.example.com"),
        "{said}"
    );

    // Another name: new settings, the earlier ones kept beside them.
    let moved = staged(&root, &["--ip", "203.0.113.5"]);
    assert!(moved.status.success(), "{moved:?}");
    assert!(check_config(&config).contains("acme for 203.0.113.5"));
    let kept = std::fs::read_dir(root.join("etc/clawhost"))
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("clawhost.toml.")
        })
        .count();
    assert_eq!(kept, 1, "the earlier settings are kept once");

    // Uninstalled: the service and the binary go, the settings stay; purged: all of it.
    std::fs::create_dir_all(root.join("var/lib/clawhost")).expect("data");
    let removed = staged(&root, &["--uninstall"]);
    assert!(removed.status.success(), "{removed:?}");
    assert!(!root.join("usr/local/bin/clawhost").exists());
    assert!(!root.join("etc/systemd/system/clawhost.service").exists());
    assert!(config.exists() && root.join("var/lib/clawhost").exists());
    let purged = staged(&root, &["--uninstall", "--purge"]);
    assert!(purged.status.success(), "{purged:?}");
    assert!(!root.join("etc/clawhost").exists() && !root.join("var/lib/clawhost").exists());
}

#[test]
fn the_install_script_asks_for_a_name_and_a_binary() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("root");
    let unnamed = staged(&root, &[]);
    assert_eq!(unnamed.status.code(), Some(2), "{unnamed:?}");
    let said = String::from_utf8_lossy(&unnamed.stderr);
    assert!(said.contains("--domain") && said.contains("--ip"), "{said}");

    let root_text = root.to_str().expect("path");
    let missing = dir.path().join("no-such-binary");
    let no_binary = install(&[
        "--root",
        root_text,
        "--domain",
        "claw.example.com",
        "--binary",
        missing.to_str().expect("path"),
    ]);
    assert!(!no_binary.status.success());
    let said = String::from_utf8_lossy(&no_binary.stderr);
    assert!(said.contains("cargo build --release"), "{said}");

    let unknown = install(&["--domian", "claw.example.com"]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// The Caddyfile is one Caddy takes, and the settings for clawhost behind it (or nginx) are
/// ones clawhost takes; the README shows both as they are.
#[test]
fn the_proxy_samples_are_valid_and_shown_as_they_are() {
    let output = Command::new("caddy")
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(deploy("Caddyfile"))
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("caddy (scripts/test installs it)");
    assert!(output.status.success(), "caddy validate: {output:?}");
    let said = check_config(&deploy("clawhost-behind-proxy.toml"));
    assert!(said.contains("listen 127.0.0.1:8080"), "{said}");

    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    for (file, fence) in [
        ("Caddyfile", "```caddyfile\n"),
        ("clawhost-behind-proxy.toml", "```toml\n"),
        ("nginx.conf", "```nginx\n"),
    ] {
        let text = std::fs::read_to_string(deploy(file)).expect("sample");
        assert!(
            readme.contains(&format!("{fence}{text}```")),
            "the README does not show deploy/{file} as it is"
        );
    }
}
