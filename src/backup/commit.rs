//! Putting a checked and staged restore in place (see [`super::restore`]): the instance as it
//! was is kept in `<data_dir>/before-restore-<time>`, a journal is written, and the new state
//! and database take their place. A journal found at the next start ([`recover`]) finishes the
//! moves, each of which can be done again, so a crash at any moment leaves the old instance
//! (no journal yet) or the new one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BackupError, DATABASE, Instance, Manifest, io_error};
use crate::clock::now_ms;
use crate::store::sqlite::SqliteStore;
use crate::store::{self, DatabaseCopy, SharedStore, Store};

const JOURNAL: &str = "restore-journal.json";
/// How a restore's staging directory in the data directory begins.
pub(super) const STAGING_PREFIX: &str = ".restore-";
const BEFORE_PREFIX: &str = "before-restore-";
/// Earlier instances kept after a restore; older ones go.
const BEFORE_KEPT: usize = 3;
/// OpenClaw's state directory, in the data directory and in a staging one.
pub(super) const STATE: &str = "openclaw";

/// A backup unpacked and checked, waiting in its staging directory.
pub(crate) struct Checked {
    pub(super) staging: PathBuf,
    pub(crate) manifest: Manifest,
    /// What the owner should know before going on (older WhatsApp keys, another version).
    pub(crate) warnings: Vec<String>,
}

impl Checked {
    /// Drops the staging directory (the restore is not going on).
    pub(crate) fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

/// What a restore in progress has to finish, kept in `<data_dir>/restore-journal.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The staging directory, relative to the data directory.
    staging: String,
    /// Where the instance as it was goes, relative to the data directory.
    before: String,
}

/// How a commit failed: before its journal (nothing changed; everything of it is gone), or
/// after (the next start finishes it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommitError {
    #[error("{0}; the instance is as it was")]
    Before(BackupError),
    #[error("{0}; the next start of clawhost finishes the restore")]
    After(BackupError),
}

/// Step 3: the checked and staged backup becomes the instance. Returns where the instance as
/// it was is kept.
pub(crate) async fn commit(
    instance: &Instance,
    checked: Checked,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<PathBuf, CommitError> {
    progress("Putting the restored state in place");
    let data_dir = &instance.data_dir;
    let stamp = super::file_name(now_ms(), false);
    let before_name = format!(
        "{BEFORE_PREFIX}{}",
        stamp
            .trim_start_matches("clawhost-backup-")
            .trim_end_matches(".tar.zst")
    );
    let before = data_dir.join(&before_name);
    let journal = match prepare_commit(instance, &checked, &before, before_name).await {
        Ok(journal) => journal,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&before);
            checked.discard();
            return Err(CommitError::Before(error));
        }
    };
    // From here the journal stands: a failure is finished at the next start, or now.
    let mut finished = finish(data_dir, &journal, Some(&instance.store)).await;
    if finished.is_err() {
        finished = finish(data_dir, &journal, Some(&instance.store)).await;
    }
    finished.map_err(CommitError::After)?;
    forget_old_befores(data_dir);
    Ok(before)
}

/// Everything before the journal: the instance as it is kept, the staged files on disk for
/// good, the journal written.
async fn prepare_commit(
    instance: &Instance,
    checked: &Checked,
    before: &Path,
    before_name: String,
) -> Result<Journal, BackupError> {
    let data_dir = &instance.data_dir;
    super::private_dir(before)?;
    {
        let copy = before.join(DATABASE);
        store::run(&instance.store, move |s| {
            s.copy(DatabaseCopy::SnapshotInto(&copy))
        })
        .await?;
    }
    let staging = checked
        .staging
        .strip_prefix(data_dir)
        .map_err(|_| {
            BackupError::Refused("the staging directory is outside the data directory".into())
        })?
        .display()
        .to_string();
    // What OpenClaw wrote and the copies above reach the disk before the journal names them.
    let dir = std::fs::File::open(data_dir).map_err(io_error(data_dir.display()))?;
    nix::unistd::syncfs(&dir).map_err(|e| BackupError::Io {
        what: data_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let journal = Journal {
        staging,
        before: before_name,
    };
    let bytes = serde_json::to_vec(&journal)
        .map_err(std::io::Error::other)
        .map_err(io_error(JOURNAL))?;
    crate::fsutil::write_atomic(&data_dir.join(JOURNAL), &bytes).map_err(io_error(JOURNAL))?;
    Ok(journal)
}

/// The moves a journal asks for, each of which can be done again; then the journal and the
/// staging directory go.
async fn finish(
    data_dir: &Path,
    journal: &Journal,
    live: Option<&SharedStore>,
) -> Result<(), BackupError> {
    let staging = data_dir.join(checked_relative(&journal.staging, STAGING_PREFIX)?);
    let before = data_dir.join(checked_relative(&journal.before, BEFORE_PREFIX)?);
    move_into_place(
        &data_dir.join(STATE),
        &staging.join(STATE),
        &before.join(STATE),
    )?;
    // The staged database goes with the journal: it is removed only after the journal.
    let database = staging.join(DATABASE);
    if !database.is_file() {
        return Err(BackupError::Refused(format!(
            "{JOURNAL} names a restore whose database is gone ({}); move the journal away to keep the instance as it is",
            database.display()
        )));
    }
    if let Some(store) = live {
        let database = database.clone();
        store::run(store, move |s| s.copy(DatabaseCopy::ReplaceWith(&database))).await?;
    } else {
        // At start, before the server opens the database: nobody else has it open.
        let live = data_dir.join(DATABASE);
        SqliteStore::open(&live)?.copy(DatabaseCopy::ReplaceWith(&database))?;
    }
    std::fs::remove_file(data_dir.join(JOURNAL)).map_err(io_error(JOURNAL))?;
    sync_dir(data_dir);
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

fn checked_relative<'a>(path: &'a str, prefix: &str) -> Result<&'a Path, BackupError> {
    if path.starts_with(prefix) && !path.contains("..") {
        Ok(Path::new(path))
    } else {
        Err(BackupError::Refused(format!(
            "{JOURNAL} names {path}, which is not a restore's; move it away and start again"
        )))
    }
}

/// `current` goes to `before`, then `staged` to `current`; done again after a crash, it
/// carries on where it stopped.
fn move_into_place(current: &Path, staged: &Path, before: &Path) -> Result<(), BackupError> {
    if !staged.exists() {
        return Ok(());
    }
    if current.exists() {
        let keep = if before.exists() {
            before.with_extension("after")
        } else {
            before.to_path_buf()
        };
        std::fs::rename(current, &keep).map_err(io_error(current.display()))?;
    }
    std::fs::rename(staged, current).map_err(io_error(staged.display()))?;
    if let Some(parent) = current.parent() {
        sync_dir(parent);
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// Whether a restore waits to be finished (by the next start, or `clawhost restore`).
pub(crate) fn unfinished(data_dir: &Path) -> bool {
    data_dir.join(JOURNAL).exists()
}

/// At start, before the database opens: finishes a restore a crash interrupted, and removes
/// what unfinished backups and checks left. Returns what it did, for the log.
pub(crate) async fn recover(data_dir: &Path) -> Result<Option<String>, BackupError> {
    let journal_file = data_dir.join(JOURNAL);
    let done = match std::fs::read(&journal_file) {
        Ok(bytes) => {
            let journal: Journal = serde_json::from_slice(&bytes).map_err(|_| {
                BackupError::Refused(format!(
                    "{} is unreadable; move it away to keep the instance as it was before the restore",
                    journal_file.display()
                ))
            })?;
            finish(data_dir, &journal, None).await?;
            Some(format!(
                "finished a restore that was interrupted; the instance as it was is in {}",
                data_dir.join(&journal.before).display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(journal_file.display())(e)),
    };
    // A restore's staging without a journal never got anywhere: no restore runs now (this
    // process holds the instance).
    for entry in std::fs::read_dir(data_dir).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    // A backup's parts, and a backup file half written, of a process that is gone (a backup
    // from the shell may be under way beside a server that starts).
    for entry in std::fs::read_dir(data_dir.join("backups"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `.staging-<pid>-…`, or `.clawhost-backup-….tmp-<pid>-…`.
        let owner = name
            .strip_prefix(super::make::STAGING_PREFIX)
            .or_else(|| {
                name.strip_prefix(".clawhost-backup-")
                    .and_then(|rest| rest.split_once(".tmp-"))
                    .map(|(_, rest)| rest)
            })
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = owner
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(done)
}

/// Keeps the newest few instances restores replaced.
fn forget_old_befores(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    let mut befores: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(BEFORE_PREFIX))
        .map(|e| e.path())
        .collect();
    befores.sort();
    let old = befores.len().saturating_sub(BEFORE_KEPT);
    for path in &befores[..old] {
        let _ = std::fs::remove_dir_all(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_carry_on_after_a_crash_at_any_point() {
        let root = tempfile::tempdir().expect("dir");
        let (current, staged, before) = (
            root.path().join("openclaw"),
            root.path().join("staged"),
            root.path().join("before"),
        );
        let reset = || {
            for dir in [&current, &staged, &before] {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::fs::create_dir(&current).expect("mkdir");
            std::fs::write(current.join("old"), b"").expect("write");
            std::fs::create_dir(&staged).expect("mkdir");
            std::fs::write(staged.join("new"), b"").expect("write");
        };
        // Crashed before anything moved, after the first move, after both.
        for moves_done in 0..=2 {
            reset();
            if moves_done >= 1 {
                std::fs::rename(&current, &before).expect("first move");
            }
            if moves_done >= 2 {
                std::fs::rename(&staged, &current).expect("second move");
            }
            move_into_place(&current, &staged, &before).expect("finish");
            move_into_place(&current, &staged, &before).expect("and again");
            assert!(current.join("new").is_file(), "after {moves_done} moves");
            assert!(before.join("old").is_file(), "after {moves_done} moves");
            assert!(!staged.exists());
        }
    }

    #[test]
    fn a_journal_names_only_restore_directories() {
        assert!(checked_relative(".restore-ab12", STAGING_PREFIX).is_ok());
        assert!(checked_relative(".restore-../../etc", STAGING_PREFIX).is_err());
        assert!(checked_relative("/etc", BEFORE_PREFIX).is_err());
    }
}
