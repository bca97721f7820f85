//! Restoring a backup, in three steps:
//!
//! 1. [`check`]: the whole file unpacked into a staging directory and every member checked
//!    against the manifest, OpenClaw's archive checked by `openclaw backup verify`; nothing
//!    of the instance changes, so a damaged file changes nothing.
//! 2. [`stage`] (the gateway stopped): OpenClaw's state restored by `openclaw backup restore`
//!    into the staging directory, the database prepared there (no old session signs in, the
//!    provider key sealed under this instance's key or asked for again).
//! 3. [`commit`]: the instance as it was is kept in `<data_dir>/before-restore-<time>`, a
//!    journal is written, and the new state and database take their place. A journal found
//!    at the next start ([`recover`]) finishes the moves, each of which can be done again, so
//!    a crash at any moment leaves the old instance (no journal yet) or the new one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::archive::{self, Manifest};
use super::{
    BackupError, DATABASE, Instance, OPENCLAW_ARCHIVE, SECRET_KEY, io_error, openclaw_json,
};
use crate::clock::now_ms;
use crate::gateway::launch::Tool;
use crate::gateway::provider_key;
use crate::secrets::SecretBox;
use crate::store::sqlite::SqliteStore;
use crate::store::{self, DatabaseCopy, EventKind, NewEvent, Restored, SharedStore, Store};

const JOURNAL: &str = "restore-journal.json";
const BEFORE_PREFIX: &str = "before-restore-";
/// Earlier instances kept after a restore; older ones go.
const BEFORE_KEPT: usize = 3;
const STATE: &str = "openclaw";
/// Where OpenClaw's restore writes, inside the staging directory.
const EXTRACTED: &str = "extracted";

/// A backup unpacked and checked, waiting in its staging directory.
pub(crate) struct Checked {
    staging: PathBuf,
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

/// Step 1: checks everything that can be checked without changing anything.
pub(crate) async fn check(
    instance: &Instance,
    tool: Option<&Tool>,
    file: &Path,
    passphrase: Option<SecretString>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Checked, BackupError> {
    let staging = super::make::new_staging(instance)?;
    match check_into(instance, tool, file, passphrase, &staging, progress).await {
        Ok((manifest, warnings)) => Ok(Checked {
            staging,
            manifest,
            warnings,
        }),
        Err(error) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            Err(error)
        }
    }
}

async fn check_into(
    instance: &Instance,
    tool: Option<&Tool>,
    file: &Path,
    passphrase: Option<SecretString>,
    staging: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(Manifest, Vec<String>), BackupError> {
    progress("Checking every part of the backup against its manifest");
    let manifest = {
        let (file, staging) = (file.to_path_buf(), staging.to_path_buf());
        tokio::task::spawn_blocking(move || archive::unpack(&file, passphrase.as_ref(), &staging))
            .await
            .map_err(|e| BackupError::Io {
                what: "the backup file".into(),
                reason: e.to_string(),
            })??
    };
    let has = |name: &str| manifest.members.iter().any(|m| m.name == name);
    if !has(DATABASE) {
        return Err(archive::ArchiveError::Damaged("it holds no database".into()).into());
    }
    if has(OPENCLAW_ARCHIVE) {
        let tool = tool.ok_or_else(|| {
            BackupError::Refused(
                "This backup holds OpenClaw's state, which only OpenClaw can restore: install OpenClaw first (the setup page, or 'clawhost install-openclaw'), then restore.".into(),
            )
        })?;
        progress("OpenClaw is checking its archive (openclaw backup verify)");
        let archive = staging.join(OPENCLAW_ARCHIVE);
        let args: [&OsStr; 4] = [
            "backup".as_ref(),
            "verify".as_ref(),
            "--json".as_ref(),
            archive.as_os_str(),
        ];
        openclaw_json(tool, &args, "OpenClaw's check of its archive").await?;
    }
    let warnings = warnings(instance, tool, &manifest);
    Ok((manifest, warnings))
}

fn warnings(instance: &Instance, tool: Option<&Tool>, manifest: &Manifest) -> Vec<String> {
    let mut warnings = Vec::new();
    let now_linked = std::fs::metadata(crate::channels::whatsapp_credentials(&instance.state_dir))
        .and_then(|m| m.modified())
        .ok()
        .map(|t| crate::clock::rfc3339(system_ms(t)));
    if let Some(now) = now_linked {
        let older = manifest
            .whatsapp
            .as_ref()
            .is_none_or(|then| then.credentials_changed_at < now);
        if older {
            warnings.push(
                "WhatsApp's keys here are newer than the backup's: after the restore WhatsApp may need to be linked again.".into(),
            );
        }
    }
    if let (Some(then), Some(now)) = (
        &manifest.openclaw_version,
        tool.and_then(|t| t.version.as_ref()),
    ) && then != now
    {
        warnings.push(format!(
            "The backup was made with OpenClaw {then}; OpenClaw {now} is installed here and takes its state over at the next start."
        ));
    }
    let key_in_backup = manifest.members.iter().any(|m| m.name == SECRET_KEY);
    if manifest.provider.as_ref().is_some_and(|p| p.key_set)
        && !key_in_backup
        && manifest.sealing_key.as_deref() != super::key_id(&instance.secret_key_file).as_deref()
    {
        warnings.push(
            "The backup holds no secret key (it was made without a passphrase on another machine): enter the provider key again after the restore.".into(),
        );
    }
    warnings
}

fn system_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

/// Step 2, with the gateway stopped: the new instance built in the staging directory.
/// `wanted_running` is whether the gateway should run after the restore.
pub(crate) async fn stage(
    instance: &Instance,
    tool: Option<&Tool>,
    checked: &Checked,
    wanted_running: bool,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), BackupError> {
    let staging = &checked.staging;
    let state = staging.join(STATE);
    match openclaw_restore(tool, staging, progress).await? {
        Some(restored) => {
            std::fs::rename(&restored, &state).map_err(io_error(restored.display()))?;
            let _ = std::fs::remove_dir_all(staging.join(EXTRACTED));
        }
        None => std::fs::create_dir(&state).map_err(io_error(state.display()))?,
    }

    progress("Preparing the restored database");
    let key = reseal_key(instance, checked).await?;
    let epoch_above = store::run(&instance.store, Store::auth_epoch).await?;
    let database = staging.join(DATABASE);
    let event = NewEvent {
        at: now_ms(),
        kind: EventKind::BackupRestored,
        ip: None,
        user_agent: None,
        detail: Some(format!(
            "from the backup of {}",
            checked.manifest.created_at
        )),
    };
    tokio::task::spawn_blocking(move || {
        let restored = SqliteStore::open(&database)?;
        restored.prepare_restored(&Restored {
            api_key_sealed: key,
            epoch_above,
            wanted_running,
            event,
        })
    })
    .await
    .map_err(|e| BackupError::Io {
        what: "the restored database".into(),
        reason: e.to_string(),
    })??;
    Ok(())
}

/// OpenClaw's state restored by `openclaw backup restore` into the staging directory, when
/// the backup holds any: where it is.
async fn openclaw_restore(
    tool: Option<&Tool>,
    staging: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Option<PathBuf>, BackupError> {
    let archive = staging.join(OPENCLAW_ARCHIVE);
    let Some(tool) = tool.filter(|_| archive.is_file()) else {
        return Ok(None);
    };
    progress("OpenClaw is restoring its state (openclaw backup restore)");
    let target = staging.join(EXTRACTED);
    let args: [&OsStr; 6] = [
        "backup".as_ref(),
        "restore".as_ref(),
        archive.as_os_str(),
        "--target".as_ref(),
        target.as_os_str(),
        "--json".as_ref(),
    ];
    let answer = openclaw_json(tool, &args, "OpenClaw's restore").await?;
    state_asset(&target, &answer).map(Some)
}

/// The restore drill: the backup checked and restored into its staging directory as a
/// restore would, the database opened; then all of it removed. Nothing of the instance
/// changes.
pub(crate) async fn drill(
    instance: &Instance,
    tool: Option<&Tool>,
    file: &Path,
    passphrase: Option<SecretString>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), BackupError> {
    let checked = check(instance, tool, file, passphrase, progress).await?;
    let tried = async {
        openclaw_restore(tool, &checked.staging, progress).await?;
        progress("Opening the restored database");
        let database = checked.staging.join(DATABASE);
        tokio::task::spawn_blocking(move || SqliteStore::open(&database)?.owner().map(|_| ()))
            .await
            .map_err(|e| BackupError::Io {
                what: "the restored database".into(),
                reason: e.to_string(),
            })??;
        Ok(())
    }
    .await;
    checked.discard();
    tried
}

/// The provider key of the backup, sealed under this instance's key: opened with the key the
/// backup holds, kept as it is when the backup was made under this very key, else `None`.
async fn reseal_key(
    instance: &Instance,
    checked: &Checked,
) -> Result<Option<Vec<u8>>, BackupError> {
    let database = checked.staging.join(DATABASE);
    let settings =
        tokio::task::spawn_blocking(move || SqliteStore::open(&database)?.gateway_settings())
            .await
            .map_err(|e| BackupError::Io {
                what: "the restored database".into(),
                reason: e.to_string(),
            })??;
    let Some(settings) = settings.filter(|s| s.api_key_sealed.is_some()) else {
        return Ok(None);
    };
    let key_file = checked.staging.join(SECRET_KEY);
    if key_file.is_file() {
        let theirs = SecretBox::load_or_create(&key_file, false)
            .map_err(|e| BackupError::Refused(e.to_string()))?;
        let _ = std::fs::remove_file(&key_file);
        let key = provider_key::open(&theirs, &settings).map_err(BackupError::Refused)?;
        return key
            .map(|key| provider_key::seal(&instance.sealer, &key))
            .transpose()
            .map_err(|e| BackupError::Refused(e.to_string()));
    }
    let ours = super::key_id(&instance.secret_key_file);
    if ours.is_some() && checked.manifest.sealing_key == ours {
        return Ok(settings.api_key_sealed);
    }
    Ok(None)
}

/// Where `openclaw backup restore` put the state directory: its manifest's `state` asset.
fn state_asset(target: &Path, answer: &serde_json::Value) -> Result<PathBuf, BackupError> {
    let unexpected = |what: &str| BackupError::OpenClaw(format!("OpenClaw's restore {what}"));
    let root = answer["archiveRoot"]
        .as_str()
        .ok_or_else(|| unexpected("named no archive root"))?;
    let manifest_file = target.join(safe_relative(root)?).join("manifest.json");
    let text =
        std::fs::read_to_string(&manifest_file).map_err(io_error(manifest_file.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| unexpected("wrote an unreadable manifest"))?;
    let asset = manifest["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["kind"] == "state")
        .and_then(|a| a["archivePath"].as_str())
        .ok_or_else(|| unexpected("has no state directory"))?;
    let path = target.join(safe_relative(asset)?);
    if !path.is_dir() {
        return Err(unexpected("left no state directory"));
    }
    Ok(path)
}

/// A path inside the restore's target, never out of it.
fn safe_relative(path: &str) -> Result<&Path, BackupError> {
    let relative = Path::new(path);
    let inside = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside && !path.is_empty() {
        Ok(relative)
    } else {
        Err(BackupError::OpenClaw(format!(
            "OpenClaw's restore named a path outside its target: {path}"
        )))
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

/// Step 3: the checked and staged backup becomes the instance. Returns where the instance as
/// it was is kept.
pub(crate) async fn commit(
    instance: &Instance,
    checked: Checked,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<PathBuf, BackupError> {
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
    std::fs::create_dir(&before).map_err(io_error(before.display()))?;
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
    let journal = Journal {
        staging,
        before: before_name,
    };
    let bytes = serde_json::to_vec(&journal)
        .map_err(std::io::Error::other)
        .map_err(io_error(JOURNAL))?;
    crate::fsutil::write_atomic(&data_dir.join(JOURNAL), &bytes).map_err(io_error(JOURNAL))?;
    finish(data_dir, &journal, Some(&instance.store)).await?;
    forget_old_befores(data_dir);
    Ok(before)
}

/// The moves a journal asks for, each of which can be done again; then the journal and the
/// staging directory go.
async fn finish(
    data_dir: &Path,
    journal: &Journal,
    live: Option<&SharedStore>,
) -> Result<(), BackupError> {
    let staging = data_dir.join(checked_relative(&journal.staging, "backups/.staging-")?);
    let before = data_dir.join(checked_relative(&journal.before, BEFORE_PREFIX)?);
    move_into_place(
        &data_dir.join(STATE),
        &staging.join(STATE),
        &before.join(STATE),
    )?;
    let database = staging.join(DATABASE);
    if database.is_file() {
        if let Some(store) = live {
            let database = database.clone();
            store::run(store, move |s| s.copy(DatabaseCopy::ReplaceWith(&database))).await?;
        } else {
            // At start, before the server opens the database: nobody else has it open.
            let live = data_dir.join(DATABASE);
            SqliteStore::open(&live)?.copy(DatabaseCopy::ReplaceWith(&database))?;
        }
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
    if let Ok(entries) = std::fs::read_dir(data_dir.join("backups")) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".staging-") || name.starts_with(".clawhost-backup-") {
                let _ = std::fs::remove_dir_all(entry.path());
                let _ = std::fs::remove_file(entry.path());
            }
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
        assert!(checked_relative("backups/.staging-ab12", "backups/.staging-").is_ok());
        assert!(checked_relative("backups/.staging-../../etc", "backups/.staging-").is_err());
        assert!(checked_relative("/etc", BEFORE_PREFIX).is_err());
        assert!(safe_relative("root/payload/posix/data/openclaw").is_ok());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/abs").is_err());
    }
}
