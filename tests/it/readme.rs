//! The README's two commands stay exact, and the start command works with embedded defaults.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{BIN, terminal};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README")
}

#[test]
fn readme_names_the_two_commands() {
    let text = readme();
    assert!(
        text.contains("```sh\ncargo run --release -- serve\n```"),
        "start command"
    );
    assert!(text.contains("```sh\nscripts/test\n```"), "test command");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test");
    let mode = std::fs::metadata(&script)
        .expect("scripts/test")
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "scripts/test is executable");
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .expect(".ci/run");
    assert!(
        ci.contains("exec scripts/test"),
        ".ci/run runs the README's test command"
    );
}

/// `serve` with no flags, in a terminal as the README's command is: default data directory
/// under HOME, text logs, the claim hint and the code. Only the port is changed (through the
/// environment), since tests never use fixed ports.
#[test]
fn serve_with_embedded_defaults_says_how_to_claim() {
    let home = tempfile::tempdir().expect("home");
    let (mut terminal, stdout) = terminal();
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env_clear()
        .env("HOME", home.path())
        .env("CLAWHOST_LISTEN", "127.0.0.1:0")
        .stdout(stdout)
        .stderr(Stdio::piped());
    if nix::unistd::geteuid().is_root() {
        command.arg("--allow-root");
    }
    let mut child = command.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut hint = None;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains("/claim and enter the claim code printed by 'clawhost claim-code'") {
            hint = Some(line);
            break;
        }
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait().expect("wait");
    let hint = hint.expect("the claim hint in the log");
    assert!(hint.contains("Open http://127.0.0.1:"), "{hint}");
    assert!(status.success(), "{status:?}");
    let database = home.path().join(".local/share/clawhost/clawhost.db");
    assert!(database.exists(), "default data directory used");
    drop(command);
    // Read until the terminal's other end is gone with the child (EIO ends the read).
    let mut stdout = Vec::new();
    let _ = std::io::Read::read_to_end(&mut terminal, &mut stdout);
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(stdout.contains("Claim code"), "{stdout}");
}

/// The scripts fail loudly (audit L10): strict mode, and no silenced commands.
#[test]
fn scripts_fail_loudly() {
    for script in ["scripts/test", ".ci/run"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(script))
            .expect("script");
        assert!(
            text.contains("set -euo pipefail"),
            "{script} is not in strict mode"
        );
        for silencer in ["|| true", "2>/dev/null", "&>/dev/null"] {
            assert!(
                !text.contains(silencer),
                "{script} silences a failure with {silencer}"
            );
        }
    }
}

/// docs/SECURITY.md covers every finding of the replaced wrapper's audit (C1–C5, H1–H12,
/// M1–M16, L1–L10), and every test it names, there and in the rows beyond the audit, exists
/// where it says.
#[test]
fn the_security_table_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/SECURITY.md")).expect("SECURITY.md");
    let mut ids = Vec::new();
    let beyond = text
        .split("## Beyond the audit")
        .nth(1)
        .expect("a section beyond the audit");
    for line in beyond.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let tests = cells[cells.len() - 2];
        for name in tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| n.contains("::"))
        {
            assert!(test_exists(root, name), "beyond the audit: no test {name}");
        }
    }
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(id) = cells.get(1).filter(|id| {
            id.len() >= 2
                && "CHML".contains(&id[..1])
                && id[1..].chars().all(|c| c.is_ascii_digit())
        }) else {
            continue;
        };
        ids.push(id.to_string());
        let tests = cells[cells.len() - 2];
        let named: Vec<&str> = tests
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| name.contains("::"))
            .collect();
        if named.is_empty() {
            assert!(
                line.contains("Cannot arise") || *id == "M9" || *id == "H7",
                "{id} names no test and does not say why none can exist"
            );
        }
        for name in named {
            assert!(test_exists(root, name), "{id}: no test {name}");
        }
    }
    let expected: Vec<String> = [("C", 5), ("H", 12), ("M", 16), ("L", 10)]
        .iter()
        .flat_map(|(letter, count)| (1..=*count).map(move |n| format!("{letter}{n}")))
        .collect();
    assert_eq!(ids, expected);
}

/// `module::name` is an integration test in tests/it/module.rs; `path::tests::name` a unit
/// test in src/path.rs (or src/path/mod.rs, or its own src/path/tests.rs); `*` stands for
/// any test there.
fn test_exists(root: &Path, name: &str) -> bool {
    let segments: Vec<&str> = name.split("::").collect();
    let (file_candidates, function) = match segments.iter().position(|s| *s == "tests") {
        Some(0) => (vec![root.join("src/lib.rs")], segments.get(1).copied()),
        Some(at) => {
            let module = segments[..at].join("/");
            (
                vec![
                    root.join(format!("src/{module}.rs")),
                    root.join(format!("src/{module}/mod.rs")),
                    root.join(format!("src/{module}/tests.rs")),
                ],
                segments.get(at + 1).copied(),
            )
        }
        None if segments.len() == 2 => (
            vec![root.join(format!("tests/it/{}.rs", segments[0]))],
            Some(segments[1]),
        ),
        None => return false,
    };
    file_candidates.iter().any(|file| {
        let Ok(source) = std::fs::read_to_string(file) else {
            return false;
        };
        match function {
            Some("*") => source.contains("#[test]") || source.contains("#[tokio::test]"),
            Some(function) => source.contains(&format!("fn {function}(")),
            None => false,
        }
    })
}
