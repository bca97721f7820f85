//! Sealing provider keys at rest: XChaCha20-Poly1305 under a 256-bit key kept in a file
//! outside the database (`<data>/secret.key`, 0600, created at first start). The database
//! holds only `nonce ‖ ciphertext ‖ tag`; each sealed value is bound to its purpose by the
//! associated data, so a ciphertext copied to another column does not open.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::Aead;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::crypto::random_bytes;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("cannot read the secret key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "the secret key file {path} must hold exactly 32 bytes (it holds {len}); restore the original file"
    )]
    WrongLength { path: String, len: usize },
    #[error(
        "the secret key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("cannot create the secret key file {path}: {reason}")]
    Create { path: String, reason: String },
    #[error("a sealed value could not be opened: wrong secret key file, or the data was altered")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// The key that seals and opens stored secrets.
pub(crate) struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// Loads the key file, creating it (0600, fresh random key) when `create` and it is missing.
    pub(crate) fn load_or_create(path: &Path, create: bool) -> Result<Self, SecretError> {
        let shown = path.display().to_string();
        if !path.exists() && create {
            let key = Zeroizing::new(random_bytes::<KEY_BYTES>());
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| SecretError::Create {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            file.write_all(key.as_slice())
                .and_then(|()| file.sync_all())
                .map_err(|e| SecretError::Create {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            tracing::info!(path = %shown, "created the secret key file; back it up with the data directory");
        }
        let metadata = fs::metadata(path).map_err(|e| SecretError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::TooOpen { path: shown, mode });
        }
        let bytes = Zeroizing::new(fs::read(path).map_err(|e| SecretError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?);
        if bytes.len() != KEY_BYTES {
            return Err(SecretError::WrongLength {
                path: shown,
                len: bytes.len(),
            });
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::WrongLength {
                path: shown,
                len: bytes.len(),
            })?;
        Ok(Self { cipher })
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to `purpose`.
    pub(crate) fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let nonce_bytes = random_bytes::<NONCE_BYTES>();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub(crate) fn open(
        &self,
        purpose: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SecretError::Open);
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_BYTES);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(nonce_bytes);
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_purpose() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("secret.key");
        let sealer = SecretBox::load_or_create(&path, true).expect("create");
        assert_eq!(
            fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let ciphertext = sealer.seal("provider-key", b"sk-test-123").expect("seal");
        assert!(!ciphertext.windows(11).any(|w| w == b"sk-test-123"));
        assert_eq!(
            sealer
                .open("provider-key", &ciphertext)
                .expect("open")
                .as_slice(),
            b"sk-test-123"
        );
        assert!(sealer.open("other-purpose", &ciphertext).is_err());
        let mut altered = ciphertext.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(sealer.open("provider-key", &altered).is_err());

        // The same file opens the same value after a restart.
        let again = SecretBox::load_or_create(&path, true).expect("load");
        assert!(again.open("provider-key", &ciphertext).is_ok());
    }

    #[test]
    fn refuses_bad_key_files() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("secret.key");
        assert!(SecretBox::load_or_create(&path, false).is_err());
        fs::write(&path, b"short").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(matches!(
            SecretBox::load_or_create(&path, true),
            Err(SecretError::WrongLength { .. })
        ));
        fs::write(&path, [0u8; 32]).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            SecretBox::load_or_create(&path, true),
            Err(SecretError::TooOpen { .. })
        ));
    }
}
