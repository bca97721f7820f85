//! Files and directories clawhost owns: private from the start.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) as 0700, or tightens an existing one to 0700.
pub fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
            anyhow::anyhow!("cannot make {} private (chmod 700): {e}", dir.display())
        })?;
        tracing::warn!(dir = %dir.display(), "the data directory was readable by others; it is now 0700");
    }
    Ok(())
}

/// The uid owning `path`, if it exists.
pub fn owner_uid(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_tightens() {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("a/b");
        ensure_private_dir(&dir).expect("create");
        assert_eq!(
            fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
            0o700
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        ensure_private_dir(&dir).expect("tighten");
        assert_eq!(
            fs::metadata(&dir).expect("meta").permissions().mode() & 0o777,
            0o700
        );
    }
}
