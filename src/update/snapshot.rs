//! OpenClaw's state copied aside before an update's switch, and exchanged with the state in
//! place when going back (so the state left is kept for the version left).

use std::path::{Path, PathBuf};

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

/// Where the state is while it and the snapshot change places.
fn leaving(state: &Path) -> PathBuf {
    state.with_extension("leaving")
}

/// The snapshot and the state in place change places (three renames on one file system; a
/// crash between them is mended by [`repair`]).
pub(super) async fn restore_state(snapshot: &Path, state: &Path) -> Result<(), String> {
    let (snapshot, state) = (snapshot.to_path_buf(), state.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let aside = leaving(&state);
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::rename(&state, &aside).map_err(|e| e.to_string())?;
        if let Err(error) = std::fs::rename(&snapshot, &state) {
            let _ = std::fs::rename(&aside, &state);
            return Err(error.to_string());
        }
        std::fs::rename(&aside, &snapshot).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// At start: a state directory caught between the renames of [`restore_state`] comes back,
/// and a half-made copy goes.
pub(crate) fn repair(state: &Path, snapshot_dir: &Path) {
    let aside = leaving(state);
    if !state.exists() && aside.is_dir() {
        let _ = std::fs::rename(&aside, state);
    }
    let _ = std::fs::remove_dir_all(snapshot_dir.with_extension("new"));
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
