//! Password policy and argon2id hashing, off the async runtime and bounded in concurrency.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub(crate) const MIN_CHARS: usize = 12;
pub(crate) const MAX_CHARS: usize = 1024;

/// Argon2id with one of OWASP's equivalent recommended configurations: 7 MiB, 5 passes,
/// 1 lane. The same strength as 19 MiB × 2 passes, at a third of the memory, which the
/// allocator may keep mapped after a sign-in and which bounds what concurrent sign-ins cost.
/// Hashes made with other parameters still verify: they are read from the stored hash.
fn argon2() -> Argon2<'static> {
    #[allow(
        clippy::expect_used,
        reason = "constant parameters within argon2's bounds; every hash in the tests uses them"
    )]
    let params = Params::new(7 * 1024, 5, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy: length only, no composition rules (NIST SP 800-63B).
pub(crate) fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(format!(
            "Use at least {MIN_CHARS} characters; a few unrelated words make a strong password."
        ));
    }
    if chars > MAX_CHARS {
        return Err(format!("Use at most {MAX_CHARS} characters."));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed: {0}")]
    Task(String),
}

/// Runs argon2 on the blocking pool, at most a few at a time so memory stays bounded
/// (each hash holds 7 MiB) and a burst of logins cannot starve the runtime.
#[derive(Clone)]
pub(crate) struct PasswordHashing {
    permits: Arc<Semaphore>,
}

impl PasswordHashing {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        self.blocking(move || {
            argon2()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await?
    }

    /// Verifies `password` against `stored`. With no stored hash it still does the same work
    /// against a dummy, so the answer takes as long whether or not an owner exists.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.blocking(move || {
            let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let Ok(parsed) = PasswordHash::new(stored) else {
                return false;
            };
            let matches = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            matches && !stored.is_empty() && stored != dummy_hash()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Task(e.to_string()))
    }
}

/// A hash of a random password nobody knows, made once.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = crate::crypto::hex(&crate::crypto::random_bytes::<32>());
        argon2()
            .hash_password(secret.as_bytes())
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_characters_not_bytes() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("ééééééééééé").is_err());
        assert!(check_policy("éééééééééééé").is_ok());
        assert!(check_policy(&"a".repeat(1024)).is_ok());
        assert!(check_policy(&"a".repeat(1025)).is_err());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hashing = PasswordHashing::new(2);
        let hash = hashing
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"));
        assert!(
            hashing
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hashing
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !hashing
                .verify("anything at all".into(), None)
                .await
                .expect("verify")
        );
    }
}
