//! OpenClaw's state copied aside before an update's switch, and put back by a rollback.

use std::path::Path;

/// A copy of OpenClaw's state (files, directories, links as links) in `snapshot`, replacing
/// the one an earlier update kept.
pub(super) async fn snapshot_state(state: &Path, snapshot: &Path) -> Result<(), String> {
    let (state, snapshot) = (state.to_path_buf(), snapshot.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let fresh = snapshot.with_extension("new");
        let _ = std::fs::remove_dir_all(&fresh);
        copy_tree(&state, &fresh).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&snapshot);
        std::fs::rename(&fresh, &snapshot).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The kept copy back in place of OpenClaw's state (the copy stays, for another time).
pub(super) async fn restore_state(snapshot: &Path, state: &Path) -> Result<(), String> {
    let (snapshot, state) = (snapshot.to_path_buf(), state.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let incoming = state.with_extension("restoring");
        let _ = std::fs::remove_dir_all(&incoming);
        copy_tree(&snapshot, &incoming).map_err(|e| e.to_string())?;
        let failed = state.with_extension("failed-update");
        let _ = std::fs::remove_dir_all(&failed);
        if state.exists() {
            std::fs::rename(&state, &failed).map_err(|e| e.to_string())?;
        }
        std::fs::rename(&incoming, &state).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_dir_all(&failed);
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}
