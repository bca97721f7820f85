//! Backups of the whole instance, and restoring one.
//!
//! A backup is one file (see [`archive`]): clawhost's database (a consistent snapshot taken
//! while serving), OpenClaw's state through OpenClaw's own `openclaw backup create --verify`,
//! the configuration files, and a manifest. The secret key that seals the provider key goes
//! in only when a passphrase encrypts the whole file; without it a restore keeps everything
//! but the provider key, which the owner enters again.
//!
//! - [`make`]: making one;
//! - [`restore`]: checking one completely before anything changes, and staging it;
//! - [`commit`]: putting it in place so that a crash at any moment leaves the old instance or
//!   the new one, never a mix;
//! - [`service`]: the server's side: one at a time, progress for the page, the schedule,
//!   the retention and the weekly restore drill.

pub(crate) mod archive;
pub(crate) mod commit;
pub(crate) mod make;
pub(crate) mod restore;
pub(crate) mod service;
pub(crate) mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use age::secrecy::SecretString;

use crate::gateway::launch::Tool;
use crate::secrets::SecretBox;
use crate::store::{SharedStore, StoreError};

pub(crate) use archive::{
    ArchiveError, CLAWHOST_CONFIG, DATABASE, Manifest, OPENCLAW_ARCHIVE, OPENCLAW_CONFIG,
    SECRET_KEY,
};

const FILE_PREFIX: &str = "clawhost-backup-";
/// A backup uploaded here; its time is the upload's.
const UPLOAD_PREFIX: &str = "clawhost-upload-";
const PLAIN_SUFFIX: &str = ".tar.zst";
const ENCRYPTED_SUFFIX: &str = ".tar.zst.age";
/// A passphrase shorter than this is refused: scrypt slows guessing, it cannot save a short one.
pub(crate) const PASSPHRASE_MIN: usize = 12;
const PASSPHRASE_MAX: usize = 1024;
/// How long OpenClaw may take over one of its backup commands.
const OPENCLAW_TIMEOUT: Duration = Duration::from_mins(10);

/// The instance a backup is made of, or restored into.
pub(crate) struct Instance {
    pub(crate) data_dir: PathBuf,
    /// OpenClaw's state directory (`<data_dir>/openclaw`).
    pub(crate) state_dir: PathBuf,
    /// The settings file clawhost was started with, if any.
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) secret_key_file: PathBuf,
    pub(crate) store: SharedStore,
    pub(crate) sealer: Arc<SecretBox>,
}

impl Instance {
    pub(crate) fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    OpenClaw(String),
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("{0}")]
    Passphrase(String),
    #[error("a backup or a restore is already running; wait for it to finish")]
    Busy,
    #[error("there is no backup named {0}")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Refused(String),
}

pub(crate) fn io_error(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.to_string();
    move |e| BackupError::Io {
        what,
        reason: e.to_string(),
    }
}

/// Creates `path` as a new directory only its owner may enter.
pub(crate) fn private_dir(path: &Path) -> Result<PathBuf, BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(io_error(path.display()))?;
    Ok(path.to_path_buf())
}

/// A passphrase as given (a file's first line, a form's field): long enough, not too long.
pub(crate) fn passphrase(text: &str) -> Result<SecretString, BackupError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    let length = text.chars().count();
    if !(PASSPHRASE_MIN..=PASSPHRASE_MAX).contains(&length) {
        return Err(BackupError::Passphrase(format!(
            "a backup passphrase has {PASSPHRASE_MIN} to {PASSPHRASE_MAX} characters"
        )));
    }
    Ok(SecretString::from(text.to_owned()))
}

/// The passphrase in a file that only its owner may read.
pub(crate) fn passphrase_from_file(path: &Path) -> Result<SecretString, BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(io_error(&shown))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(BackupError::Passphrase(format!(
            "{shown} is readable by others (mode {mode:o}); run: chmod 600 {shown}"
        )));
    }
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(io_error(&shown))?);
    let first = text.lines().next().unwrap_or_default();
    passphrase(first).map_err(|e| BackupError::Passphrase(format!("{shown}: {e}")))
}

/// An id for the sealing key in `path`: the same key gives the same id, and the id tells
/// nothing of the key.
pub(crate) fn key_id(path: &Path) -> Option<String> {
    let key = zeroize::Zeroizing::new(std::fs::read(path).ok()?);
    let mut input = b"clawhost sealing key id\0".to_vec();
    input.extend_from_slice(&key);
    let digest = crate::crypto::sha256(&input);
    zeroize::Zeroize::zeroize(&mut input);
    Some(crate::crypto::hex(&digest[..8]))
}

/// When WhatsApp's link credentials in `state_dir` last changed (RFC 3339), if linked.
pub(crate) fn whatsapp_changed_at(state_dir: &Path) -> Option<String> {
    std::fs::metadata(crate::channels::whatsapp_credentials(state_dir))
        .and_then(|m| m.modified())
        .ok()
        .map(|t| crate::clock::rfc3339(crate::clock::ms_of(t)))
}

/// A backup kept in `<data_dir>/backups`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Kept {
    /// Its file name.
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) size: u64,
    pub(crate) encrypted: bool,
    /// Uploaded (`created_at` is then when): the one upload kept, replaced by the next,
    /// neither counted in `backup.keep` nor drilled.
    pub(crate) uploaded: bool,
    /// When the file was written (ms since the epoch).
    #[serde(skip)]
    pub(crate) made_ms: i64,
}

/// The file name for a backup made at `at`: sortable, and never the same twice in a row.
pub(crate) fn file_name(at_ms: i64, encrypted: bool) -> String {
    named(FILE_PREFIX, at_ms, encrypted)
}

/// The file name for a backup uploaded at `at`.
fn upload_name(at_ms: i64, encrypted: bool) -> String {
    named(UPLOAD_PREFIX, at_ms, encrypted)
}

fn named(prefix: &str, at_ms: i64, encrypted: bool) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // Fixed width, so that names sort as times do.
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    );
    let suffix = if encrypted {
        ENCRYPTED_SUFFIX
    } else {
        PLAIN_SUFFIX
    };
    format!("{prefix}{stamp}{suffix}")
}

/// `Some(encrypted)` for a name clawhost gives its backups; anything else is not one.
fn backup_kind(name: &str) -> Option<bool> {
    let rest = name
        .strip_prefix(FILE_PREFIX)
        .or_else(|| name.strip_prefix(UPLOAD_PREFIX))?;
    let plain = !rest.is_empty()
        && rest.len() <= 64
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !plain {
        return None;
    }
    if rest.ends_with(ENCRYPTED_SUFFIX) {
        Some(true)
    } else if rest.ends_with(PLAIN_SUFFIX) {
        Some(false)
    } else {
        None
    }
}

/// `2026-12-06T23-30-55.123Z` back to `2026-12-06T23:30:55.123Z`.
fn created_at(name: &str) -> String {
    let stamp = name
        .trim_start_matches(FILE_PREFIX)
        .trim_start_matches(UPLOAD_PREFIX)
        .trim_end_matches(ENCRYPTED_SUFFIX)
        .trim_end_matches(PLAIN_SUFFIX);
    match stamp.split_once('T') {
        Some((date, time)) => format!("{date}T{}", time.replace('-', ":")),
        None => stamp.to_owned(),
    }
}

/// The backups in `dir`, newest first. Blocking.
pub(crate) fn list(dir: &Path) -> Result<Vec<Kept>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir.display())(e)),
    };
    let mut kept: Vec<Kept> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let encrypted = backup_kind(&name)?;
            let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            let made_ms = metadata.modified().map_or(0, crate::clock::ms_of);
            Some(Kept {
                created_at: created_at(&name),
                uploaded: name.starts_with(UPLOAD_PREFIX),
                id: name,
                size: metadata.len(),
                encrypted,
                made_ms,
            })
        })
        .collect();
    // The stamps are fixed width: as strings they sort as times do.
    kept.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(kept)
}

/// The path of the kept backup named `id`, if it is one.
pub(crate) fn kept_path(dir: &Path, id: &str) -> Result<PathBuf, BackupError> {
    let path = dir.join(id);
    if backup_kind(id).is_none() || !path.is_file() {
        return Err(BackupError::NotFound(id.chars().take(80).collect()));
    }
    Ok(path)
}

/// A process group that is killed when dropped, unless it finished.
struct ProcessGroup(u32);

impl ProcessGroup {
    fn finished(self) {
        std::mem::forget(self);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Runs `openclaw <args>` and reads its one JSON answer; on failure, its last lines say why.
async fn openclaw_json(
    tool: &Tool,
    args: &[&std::ffi::OsStr],
    what: &str,
) -> Result<serde_json::Value, BackupError> {
    let child = tool
        .command(args)
        .spawn()
        .map_err(|e| BackupError::OpenClaw(format!("cannot run OpenClaw for {what}: {e}")))?;
    // OpenClaw runs in a process group of its own: all of it goes when this ends early (a
    // time-out, a shutdown), not only its first process.
    let group = child.id().map(ProcessGroup);
    let output = tokio::time::timeout(OPENCLAW_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| BackupError::OpenClaw(format!("{what} took longer than 10 minutes")))?
        .map_err(|e| BackupError::OpenClaw(format!("OpenClaw's {what} failed: {e}")))?;
    if let Some(group) = group {
        group.finished();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
    match answer {
        Some(answer) if output.status.success() && answer["ok"] != false => Ok(answer),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said: Vec<&str> = stderr
                .lines()
                .chain(stdout.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let tail = said[said.len().saturating_sub(6)..].join(" | ");
            Err(BackupError::OpenClaw(format!(
                "{what} failed ({}): {}",
                output.status,
                crate::gateway::logs::strip_ansi(&tail)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_only_ours_count() {
        let first = file_name(1_765_063_855_123, false);
        let second = file_name(1_765_063_856_000, true);
        assert_eq!(
            second,
            "clawhost-backup-2025-12-06T23-30-56.000Z.tar.zst.age"
        );
        assert_eq!(first, "clawhost-backup-2025-12-06T23-30-55.123Z.tar.zst");
        assert!(second > first);
        assert_eq!(backup_kind(&first), Some(false));
        assert_eq!(backup_kind(&second), Some(true));
        assert_eq!(created_at(&first), "2025-12-06T23:30:55.123Z");
        let uploaded = upload_name(1_765_063_857_000, true);
        assert_eq!(
            uploaded,
            "clawhost-upload-2025-12-06T23-30-57.000Z.tar.zst.age"
        );
        assert_eq!(backup_kind(&uploaded), Some(true));
        assert_eq!(created_at(&uploaded), "2025-12-06T23:30:57.000Z");
        for other in [
            "clawhost-backup-../x.tar.zst",
            "clawhost-backup-.tar",
            "notes.txt",
            ".staging-1",
            "clawhost-backup-a/b.tar.zst",
        ] {
            assert_eq!(backup_kind(other), None, "{other}");
        }
    }

    #[test]
    fn passphrases_have_a_length() {
        assert!(passphrase("short").is_err());
        assert!(passphrase("twelve chars\n").is_ok());
        assert!(passphrase(&"x".repeat(1025)).is_err());
    }
}
