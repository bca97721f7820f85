//! A backup brought from elsewhere (a download kept off the machine, another instance's):
//! received in pieces into a private temporary file in `<data_dir>/backups`, refused as soon
//! as its first bytes are not a backup's or it would leave the disk too full for a restore,
//! and kept as `clawhost-upload-<time>…` once whole. One upload is kept: the next replaces it.
//! Restoring it is a restore of a kept backup like any other, which checks it whole first.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::archive::{self, HEAD};
use super::{BackupError, Kept, io_error};
use crate::clock::now_ms;

/// What an upload leaves free on the data directory's disk at least: a restore unpacks the
/// backup beside the instance, and the instance goes on writing.
const DISK_RESERVE: u64 = 1024 * 1024 * 1024;
const TEMP_PREFIX: &str = ".upload-";

/// An upload under way. Dropped before [`Incoming::finish`], it leaves nothing behind.
pub(crate) struct Incoming {
    dir: PathBuf,
    temp: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
    limit: u64,
    head: Vec<u8>,
    encrypted: Option<bool>,
}

impl Incoming {
    /// Opens the temporary file in `dir` (the backups directory, created if need be).
    pub(crate) async fn begin(dir: &Path) -> Result<Self, BackupError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir.display()))?;
        sweep_temporaries(dir);
        let available = nix::sys::statvfs::statvfs(dir)
            .map(|s| s.blocks_available().saturating_mul(s.fragment_size()))
            .map_err(|e| BackupError::Io {
                what: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{}",
            crate::crypto::hex(&crate::crypto::random_bytes::<8>())
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .await
            .map_err(io_error(temp.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            temp,
            file: Some(file),
            written: 0,
            limit: available.saturating_sub(DISK_RESERVE),
            head: Vec::with_capacity(HEAD),
            encrypted: None,
        })
    }

    /// Writes the next piece; refuses a file that is no backup as soon as its start shows
    /// it, and one that would leave the disk too full.
    pub(crate) async fn write(&mut self, piece: &[u8]) -> Result<(), BackupError> {
        self.written = self.written.saturating_add(piece.len() as u64);
        if self.written > self.limit {
            return Err(BackupError::TooLarge(format!(
                "the file is larger than this disk can take and still restore it ({} MiB free beyond the 1 GiB a restore needs)",
                self.limit / (1024 * 1024)
            )));
        }
        if self.encrypted.is_none() {
            let wanted = HEAD - self.head.len();
            self.head
                .extend_from_slice(&piece[..piece.len().min(wanted)]);
            self.encrypted = archive::kind_of(&self.head);
            if self.encrypted.is_none() && self.head.len() == HEAD {
                return Err(archive::ArchiveError::NotABackup.into());
            }
        }
        let file = self.file.as_mut().ok_or_else(|| closed(&self.temp))?;
        file.write_all(piece)
            .await
            .map_err(io_error(self.temp.display()))
    }

    /// How many bytes came so far.
    pub(crate) fn received(&self) -> u64 {
        self.written
    }

    /// Keeps the whole file as the one upload (the one before it goes), synced to disk.
    pub(crate) async fn finish(mut self) -> Result<Kept, BackupError> {
        let encrypted = self.encrypted.ok_or(archive::ArchiveError::NotABackup)?;
        let file = self.file.take().ok_or_else(|| closed(&self.temp))?;
        file.sync_all()
            .await
            .map_err(io_error(self.temp.display()))?;
        drop(file);
        let at = now_ms();
        let name = super::upload_name(at, encrypted);
        let path = self.dir.join(&name);
        let (dir, temp) = (self.dir.clone(), self.temp.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::rename(&temp, &path)?;
            std::fs::File::open(&dir)?.sync_all()?;
            for kept in super::list(&dir).unwrap_or_default() {
                if kept.uploaded && kept.id != name {
                    std::fs::remove_file(dir.join(&kept.id))?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| BackupError::Io {
            what: "the upload".into(),
            reason: e.to_string(),
        })?
        .map_err(io_error(self.dir.display()))?;
        let kept = super::list(&self.dir)?
            .into_iter()
            .find(|kept| kept.uploaded)
            .ok_or_else(|| closed(&self.temp))?;
        Ok(kept)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // Whole or not, the temporary file goes: `finish` renamed it away when it was whole.
        let _ = std::fs::remove_file(&self.temp);
    }
}

fn closed(path: &Path) -> BackupError {
    BackupError::Io {
        what: path.display().to_string(),
        reason: "the upload was already finished".into(),
    }
}

/// Removes what uploads cut short by a crash left (an upload under way holds the lock that
/// lets only one run, so none of these is being written).
fn sweep_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn upload(dir: &Path, pieces: &[&[u8]]) -> Result<Kept, BackupError> {
        let mut incoming = Incoming::begin(dir).await?;
        for piece in pieces {
            incoming.write(piece).await?;
        }
        incoming.finish().await
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn keeps_one_upload_and_refuses_what_is_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        // In pieces smaller than the start that tells what the file is.
        let zstd: &[&[u8]] = &[&[0x28, 0xb5], &[0x2f, 0xfd, 1, 2, 3], &[4; 100]];
        let first = upload(&backups, zstd).await.unwrap();
        assert!(first.uploaded && !first.encrypted, "{first:?}");
        assert_eq!(first.size, 107);
        let age: &[&[u8]] = &[b"age-encryption.org/v1\n-> scrypt", b"rest"];
        let second = upload(&backups, age).await.unwrap();
        assert!(second.uploaded && second.encrypted, "{second:?}");
        assert_eq!(files(&backups), vec![second.id.clone()], "one upload kept");

        for (pieces, why) in [
            (
                &[b"PK\x03\x04 a zip file, not a backup".as_slice()][..],
                "not a clawhost backup",
            ),
            (&[b"tiny".as_slice()][..], "not a clawhost backup"),
            (&[][..], "not a clawhost backup"),
        ] {
            let error = upload(&backups, pieces).await.unwrap_err();
            assert!(error.to_string().contains(why), "{error}");
        }
        assert_eq!(
            files(&backups),
            vec![second.id],
            "a refused upload leaves nothing"
        );
    }

    #[tokio::test]
    async fn refuses_what_the_disk_cannot_take() {
        let dir = tempfile::tempdir().unwrap();
        let mut incoming = Incoming::begin(dir.path()).await.unwrap();
        incoming.limit = 8;
        incoming.write(&[0x28, 0xb5, 0x2f, 0xfd]).await.unwrap();
        let error = incoming.write(&[0; 5]).await.unwrap_err();
        assert!(matches!(error, BackupError::TooLarge(_)), "{error}");
        drop(incoming);
        assert!(files(dir.path()).is_empty());
    }
}
