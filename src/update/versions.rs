//! The OpenClaw releases the npm registry offers, asked with the same npm that installs them
//! (`npm view openclaw versions --json`, so its registry and proxy settings apply), kept for
//! an hour, and never waited for by a page.

use std::process::Stdio;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FRESH_FOR: Duration = Duration::from_hours(1);
const ASK_TIMEOUT: Duration = Duration::from_secs(30);
/// The newest releases shown.
const SHOWN: usize = 30;

type Known = (Vec<String>, Option<String>);

#[derive(Default)]
pub(crate) struct Versions {
    known: Mutex<Option<(Instant, Known)>>,
    asking: AtomicBool,
}

impl Versions {
    /// What is known, and whether it is time to ask again.
    pub(super) fn known(&self) -> (Known, bool) {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        match &*known {
            Some((at, known)) => (known.clone(), at.elapsed() > FRESH_FOR),
            None => (
                (
                    Vec::new(),
                    Some("the npm registry is being asked; reload in a moment".into()),
                ),
                true,
            ),
        }
    }

    /// Whether this caller is the one to ask (one question at a time).
    pub(super) fn start_asking(&self) -> bool {
        !self.asking.swap(true, Ordering::AcqRel)
    }

    pub(super) async fn ask(&self) {
        let known = match ask_npm().await {
            Ok(versions) => (versions, None),
            Err(error) => {
                // What was known stays; only the reason is new.
                let (versions, _) = self.known().0;
                (versions, Some(error))
            }
        };
        *self.known.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), known));
        self.asking.store(false, Ordering::Release);
    }
}

async fn ask_npm() -> Result<Vec<String>, String> {
    let output = tokio::time::timeout(
        ASK_TIMEOUT,
        tokio::process::Command::new("npm")
            .args([
                "view",
                "openclaw",
                "versions",
                "--json",
                "--no-update-notifier",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "the npm registry did not answer within 30 s".to_string())?
    .map_err(|e| format!("npm could not be run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "npm could not ask the registry ({})",
            output.status
        ));
    }
    let listed: Vec<String> = serde_json::from_slice(&output.stdout)
        .map_err(|_| "npm's answer was not a list of versions".to_string())?;
    Ok(newest_stable(listed))
}

/// The release numbers of a version (`2026.9.6` → `[2026, 9, 6]`); `None` for a
/// pre-release or anything else.
fn numbers(version: &str) -> Option<Vec<u64>> {
    version.split('.').map(|p| p.parse().ok()).collect()
}

/// Of `available` (newest first), those newer than `installed` (all when it is unknown).
pub(crate) fn newer_than(installed: &str, available: Vec<String>) -> Vec<String> {
    match numbers(installed) {
        Some(installed) => available
            .into_iter()
            .filter(|v| numbers(v).is_some_and(|n| n > installed))
            .collect(),
        None => available,
    }
}

/// Releases only (no `-beta.1`), newest first.
fn newest_stable(listed: Vec<String>) -> Vec<String> {
    let mut stable: Vec<(Vec<u64>, String)> = listed
        .into_iter()
        .filter_map(|v| Some((numbers(&v)?, v)))
        .collect();
    stable.sort_by(|a, b| b.0.cmp(&a.0));
    stable.into_iter().take(SHOWN).map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_releases_newest_first() {
        let listed = ["2026.9.1-beta.1", "2026.9.10", "2026.9.6", "2026.10.1", "x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            newest_stable(listed),
            ["2026.10.1", "2026.9.10", "2026.9.6"]
        );
        let available = ["2026.10.1", "2026.9.6", "2026.9.5"]
            .map(String::from)
            .to_vec();
        assert_eq!(newer_than("2026.9.6", available.clone()), ["2026.10.1"]);
        assert_eq!(newer_than("2026.9.7-beta.1", available.clone()).len(), 3);
    }
}
