//! Password policy and argon2id hashing, off the async runtime and bounded in concurrency.
//!
//! Each hash runs in a short-lived worker process (`clawhost hash-worker`, the same binary):
//! argon2's 7 MiB of working memory goes back to the system when the worker exits, where the
//! allocator would have kept it resident in the server for as long as it runs idle. The
//! password travels on the worker's stdin, never in its arguments or environment.

use std::sync::Arc;

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
    /// A hash of a random password nobody knows, made at the first verification without a
    /// stored hash and kept: each such verification then costs one hash, like a real one.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

impl PasswordHashing {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::default(),
        }
    }

    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(Job::Hash, password).await
    }

    /// Verifies `password` against `stored`. With no stored hash it still does the same work
    /// against a dummy, so the answer takes as long whether or not an owner exists.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let (stored, real) = match stored.filter(|s| !s.is_empty()) {
            Some(stored) => (stored, true),
            None => (self.dummy().await?, false),
        };
        let answer = self.run(Job::Verify(stored), password).await?;
        Ok(real && answer == MATCHES)
    }

    async fn dummy(&self) -> Result<String, HashError> {
        let made = self.dummy.get_or_try_init(|| async {
            let secret = crate::crypto::hex(&crate::crypto::random_bytes::<32>());
            self.run(Job::Hash, secret).await
        });
        made.await.cloned()
    }

    async fn run(&self, job: Job, password: String) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Task(e.to_string()))?;
        // The unit tests' executable is not clawhost's, so they hash in their own process
        // (the same `work`); the integration tests run the real binary and its workers.
        #[cfg(test)]
        let answer = tokio::task::spawn_blocking(move || work(&job, &password))
            .await
            .map_err(|e| HashError::Task(e.to_string()))?;
        #[cfg(not(test))]
        let answer = in_worker(&job, password).await;
        answer
    }
}

/// What a worker is asked.
enum Job {
    /// A new hash of the password.
    Hash,
    /// Whether the password matches this stored hash.
    Verify(String),
}

/// A verification's answer when the password matches (anything else: it does not).
const MATCHES: &str = "match";
/// How long a worker may take (a hash takes well under a second).
#[cfg(not(test))]
const WORKER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `job` in a new `clawhost hash-worker`: the first line of its stdin says the job, the
/// rest is the password; its stdout is the answer.
#[cfg(not(test))]
async fn in_worker(job: &Job, password: String) -> Result<String, HashError> {
    use tokio::io::AsyncWriteExt;
    let failed = |e: std::io::Error| HashError::Task(format!("the hashing worker: {e}"));
    // The running binary itself, even if a newer one was installed over it since.
    let mut child = tokio::process::Command::new("/proc/self/exe")
        .arg("hash-worker")
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(failed)?;
    let mut request = match job {
        Job::Hash => "hash\n".to_string(),
        Job::Verify(stored) => format!("verify {stored}\n"),
    }
    .into_bytes();
    request.extend_from_slice(password.as_bytes());
    drop(password);
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| HashError::Task("no stdin".into()))?;
    stdin.write_all(&request).await.map_err(failed)?;
    drop(stdin);
    zeroize::Zeroize::zeroize(&mut request);
    let output = tokio::time::timeout(WORKER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| HashError::Task("the hashing worker did not answer in time".into()))?
        .map_err(failed)?;
    if !output.status.success() {
        return Err(HashError::Hash(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `clawhost hash-worker`: one job from stdin (see [`in_worker`]), its answer on stdout.
pub(crate) fn hash_worker() -> Result<(), HashError> {
    use std::io::{Read, Write};
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| HashError::Task(e.to_string()))?;
    let newline = input
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| HashError::Task("no job".into()))?;
    let head = String::from_utf8_lossy(&input[..newline]).into_owned();
    let job = match head.split_once(' ') {
        None if head == "hash" => Job::Hash,
        Some(("verify", stored)) => Job::Verify(stored.to_string()),
        _ => return Err(HashError::Task("an unknown job".into())),
    };
    let password = String::from_utf8_lossy(&input[newline + 1..]).into_owned();
    zeroize::Zeroize::zeroize(&mut input);
    let answer = work(&job, &password)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{answer}").map_err(|e| HashError::Task(e.to_string()))
}

/// The hashing itself, in whichever process runs it.
fn work(job: &Job, password: &str) -> Result<String, HashError> {
    match job {
        Job::Hash => argon2()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Hash(e.to_string())),
        Job::Verify(stored) => {
            let matches = PasswordHash::new(stored).is_ok_and(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            });
            Ok(if matches { MATCHES } else { "no" }.to_string())
        }
    }
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

    /// Without a stored hash the same work is done against one dummy, made once, so such a
    /// verification costs one hash like a real one (and never succeeds).
    #[tokio::test]
    async fn no_owner_means_one_dummy_made_once() {
        let hashing = PasswordHashing::new(1);
        assert!(
            !hashing
                .verify("anything at all".into(), None)
                .await
                .expect("verify")
        );
        let dummy = hashing.dummy.get().cloned().expect("made");
        assert!(
            !hashing
                .verify("something else".into(), Some(String::new()))
                .await
                .expect("verify")
        );
        assert_eq!(hashing.dummy.get(), Some(&dummy), "made once");
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
