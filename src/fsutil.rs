//! Files and directories clawhost owns: private from the start.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) as 0700, or tightens an existing one to 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
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

/// Writes `bytes` to `path` atomically and privately: a 0600 temporary file in the same
/// directory, fsync, rename over the target, fsync the directory. Readers see the old file
/// or the new one, never a mix; a crash leaves at most a stray temporary file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.tmp-{}",
        crate::crypto::hex(&crate::crypto::random_bytes::<6>())
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Holds `<data_dir>/clawhost.lock` while the returned file is open: one server per data
/// directory, and no restore from the command line under a running one.
pub(crate) fn lock_instance(data_dir: &Path) -> anyhow::Result<nix::fcntl::Flock<fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("clawhost.lock");
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
        anyhow::anyhow!(
            "another clawhost is running with the data directory {} (it holds {}); stop it first",
            data_dir.display(),
            path.display()
        )
    })
}

/// The uid owning `path`, if it exists.
pub(crate) fn owner_uid(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_privately() {
        let root = tempfile::tempdir().expect("dir");
        let path = root.path().join("file.json");
        fs::write(&path, b"old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomic(&path, b"new").expect("atomic");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert_eq!(
            fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(root.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
    }

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
