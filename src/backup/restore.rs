//! Restoring a backup, in three steps:
//!
//! 1. [`check`]: the whole file unpacked into a staging directory and every member checked
//!    against the manifest, OpenClaw's archive checked by `openclaw backup verify`; nothing
//!    of the instance changes, so a damaged file changes nothing.
//! 2. [`stage`] (the gateway stopped): OpenClaw's state restored by `openclaw backup restore`
//!    into the staging directory, the database prepared there (no old session signs in, the
//!    provider key sealed under this instance's key or asked for again).
//! 3. [`super::commit`]: put in place, so that a crash at any moment leaves the old instance
//!    or the new one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use super::archive::{self, Manifest};
use super::commit::{Checked, STAGING_PREFIX, STATE};
use super::{
    BackupError, DATABASE, Instance, OPENCLAW_ARCHIVE, SECRET_KEY, io_error, openclaw_json,
};
use crate::channels;
use crate::clock::now_ms;
use crate::crypto::{hex, random_bytes};
use crate::gateway::launch::Tool;
use crate::gateway::provider_key;
use crate::secrets::SecretBox;
use crate::store::sqlite::SqliteStore;
use crate::store::{
    self, ChannelStore, ChannelToken, EventKind, NewEvent, Restored, Store, StoreError,
};

/// Where OpenClaw's restore writes, inside the staging directory.
const EXTRACTED: &str = "extracted";

/// Step 1: checks everything that can be checked without changing anything.
pub(crate) async fn check(
    instance: &Instance,
    tool: Option<&Tool>,
    file: &Path,
    passphrase: Option<SecretString>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Checked, BackupError> {
    same_device(instance)?;
    // In the data directory itself: the moves that put it in place are renames on one
    // file system (`<data_dir>/backups` may be a mount of another disk).
    let name = format!("{STAGING_PREFIX}{}", hex(&random_bytes::<6>()));
    let staging = super::private_dir(&instance.data_dir.join(name))?;
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

/// OpenClaw's state directory must be on the data directory's file system, or the restored
/// one could not be renamed into its place.
fn same_device(instance: &Instance) -> Result<(), BackupError> {
    use std::os::unix::fs::MetadataExt;
    let device = |path: &Path| std::fs::metadata(path).ok().map(|m| m.dev());
    match (device(&instance.data_dir), device(&instance.state_dir)) {
        (Some(data), Some(state)) if data != state => Err(BackupError::Refused(format!(
            "{} is on another file system than {}, so a restored state cannot replace it in one step; make it a plain directory of the data directory",
            instance.state_dir.display(),
            instance.data_dir.display()
        ))),
        _ => Ok(()),
    }
}

fn warnings(instance: &Instance, tool: Option<&Tool>, manifest: &Manifest) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(now) = super::whatsapp_changed_at(&instance.state_dir) {
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
    let (key, channel_tokens) = reseal(instance, checked).await?;
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
            channel_tokens,
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

/// The secrets of the restored database (the provider key, the channels' tokens) sealed under
/// this instance's key: opened with the backup's own key when it holds one, kept when they
/// were sealed under this instance's key, otherwise left out (asked for again).
async fn reseal(
    instance: &Instance,
    checked: &Checked,
) -> Result<(Option<Vec<u8>>, Vec<ChannelToken>), BackupError> {
    let database = checked.staging.join(DATABASE);
    let (settings, tokens) = tokio::task::spawn_blocking(move || {
        let restored = SqliteStore::open(&database)?;
        Ok::<_, StoreError>((restored.gateway_settings()?, restored.channel_tokens()?))
    })
    .await
    .map_err(|e| BackupError::Io {
        what: "the restored database".into(),
        reason: e.to_string(),
    })??;
    let settings = settings.filter(|s| s.api_key_sealed.is_some());
    let key_file = checked.staging.join(SECRET_KEY);
    if key_file.is_file() {
        let theirs = SecretBox::load_or_create(&key_file, false)
            .map_err(|e| BackupError::Refused(e.to_string()))?;
        let _ = std::fs::remove_file(&key_file);
        let refused = |e: String| BackupError::Refused(e);
        let key = match &settings {
            Some(settings) => provider_key::open(&theirs, settings)
                .map_err(refused)?
                .map(|key| provider_key::seal(&instance.sealer, &key))
                .transpose()
                .map_err(|e| refused(e.to_string()))?,
            None => None,
        };
        let mut resealed = Vec::new();
        for mut token in tokens {
            let open = channels::open_token(&theirs, &token).map_err(refused)?;
            token.sealed = channels::seal_token(&instance.sealer, &token.channel, &open)
                .map_err(|e| refused(e.to_string()))?;
            resealed.push(token);
        }
        return Ok((key, resealed));
    }
    let ours = super::key_id(&instance.secret_key_file);
    if ours.is_some() && checked.manifest.sealing_key == ours {
        return Ok((settings.and_then(|s| s.api_key_sealed), tokens));
    }
    Ok((None, Vec::new()))
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
    // The directory itself, never a link to one elsewhere.
    let plain_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir())
        && std::fs::canonicalize(&path).is_ok_and(|real| {
            std::fs::canonicalize(target).is_ok_and(|target| real.starts_with(target))
        });
    if !plain_dir {
        return Err(unexpected("left no state directory of its own"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_may_name_only_paths_inside_its_target() {
        assert!(safe_relative("root/payload/posix/data/openclaw").is_ok());
        assert!(safe_relative("../x").is_err());
        assert!(safe_relative("/abs").is_err());
    }
}
