//! What an update leaves in the data directory while it is under way: the journal, from just
//! before the switch until the new version proved itself or the old one is back, and the copy
//! of OpenClaw's state with the version it belongs to. A start that finds the journal
//! ([`recover`]) goes back to the old version, as the update would have.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::snapshot::restore_state;
use crate::gateway::runtime;

/// OpenClaw's state as it was before the last switch, and which version it belongs to.
pub(super) const SNAPSHOT: &str = "before-update";
pub(super) const SNAPSHOT_OF: &str = "before-update.json";
pub(super) const JOURNAL: &str = "update-journal.json";

#[derive(Serialize, Deserialize)]
pub(super) struct Journal {
    pub(super) from: String,
    pub(super) to: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotOf {
    pub(super) version: String,
}

pub(super) async fn installed(runtime_dir: &Path) -> String {
    runtime::installed(runtime_dir, None)
        .await
        .map(|(v, _)| v)
        .unwrap_or_default()
}

/// At start, before the gateway: an update that switched but never proved itself (clawhost
/// stopped or killed meanwhile) goes back to the old version, runtime and state, as the
/// update would have. Returns what it did, for the log.
pub(crate) async fn recover(
    data_dir: &Path,
    runtime_dir: &Path,
    state_dir: &Path,
) -> Option<String> {
    super::snapshot::repair(state_dir, &data_dir.join(SNAPSHOT));
    if let Some(repaired) = runtime::repair(runtime_dir) {
        tracing::warn!("{repaired}");
    }
    let journal: Journal =
        serde_json::from_slice(&std::fs::read(data_dir.join(JOURNAL)).ok()?).ok()?;
    let current = installed(runtime_dir).await;
    let kept = runtime::previous(runtime_dir).map(|m| m.openclaw_version);
    let mut done = format!(
        "an update from OpenClaw {} to {} was cut short",
        journal.from, journal.to
    );
    if current == journal.to && kept.as_deref() == Some(journal.from.as_str()) {
        if runtime::swap_with_previous(runtime_dir).await.is_ok() {
            done.push_str("; the old runtime is back");
        }
        let snapshot = data_dir.join(SNAPSHOT);
        if snapshot.is_dir() && restore_state(&snapshot, state_dir).await.is_ok() {
            done.push_str(", with its state");
        }
    }
    let _ = std::fs::remove_file(data_dir.join(JOURNAL));
    Some(done)
}
