//! The gateway's output: a bounded ring buffer of lines (ANSI stripped, known secrets
//! redacted) that the dashboard reads, plus a broadcast for live followers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::{now_ms, rfc3339};

/// Lines kept; older ones are dropped.
pub(crate) const CAPACITY: usize = 2000;
/// Characters kept of one line.
pub(crate) const MAX_LINE_CHARS: usize = 4096;
const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct LogLine {
    pub(crate) at: String,
    pub(crate) stream: &'static str,
    pub(crate) text: String,
}

#[derive(Clone)]
pub(crate) struct GatewayLogs {
    inner: Arc<Mutex<Inner>>,
    live: broadcast::Sender<LogLine>,
}

struct Inner {
    lines: VecDeque<LogLine>,
    /// Values that must never be shown (the gateway credential, the provider key).
    secrets: Vec<zeroize::Zeroizing<String>>,
}

impl Default for GatewayLogs {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                lines: VecDeque::with_capacity(CAPACITY),
                secrets: Vec::new(),
            })),
            live: broadcast::Sender::new(256),
        }
    }
}

impl GatewayLogs {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the set of values to redact (called at each start).
    pub(crate) fn set_secrets(&self, secrets: Vec<String>) {
        self.inner().secrets = secrets
            .into_iter()
            .filter(|s| s.len() >= 4)
            .map(zeroize::Zeroizing::new)
            .collect();
    }

    pub(crate) fn push(&self, stream: &'static str, raw: &str) {
        let mut text = strip_ansi(raw);
        let line = {
            let mut inner = self.inner();
            for secret in &inner.secrets {
                if text.contains(secret.as_str()) {
                    text = text.replace(secret.as_str(), REDACTED);
                }
            }
            let text = redact_bearer(&text);
            let line = LogLine {
                at: rfc3339(now_ms()),
                stream,
                text: truncate(&text, MAX_LINE_CHARS),
            };
            if inner.lines.len() == CAPACITY {
                inner.lines.pop_front();
            }
            inner.lines.push_back(line.clone());
            line
        };
        let _ = self.live.send(line);
    }

    /// The newest `n` lines, oldest first.
    pub(crate) fn tail(&self, n: usize) -> Vec<LogLine> {
        let inner = self.inner();
        let skip = inner.lines.len().saturating_sub(n);
        inner.lines.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.live.subscribe()
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `Bearer <anything>` → `Bearer [redacted]`: a credential echoed by a library never shows.
fn redact_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find("Bearer ") {
        let (before, after) = rest.split_at(index + "Bearer ".len());
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Removes terminal escape sequences (colours, cursor moves) and other control characters.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.peek() {
                Some('[') => {
                    chars.next();
                    // CSI: parameters and intermediates, then one final byte in @..~
                    for next in chars.by_ref() {
                        if ('@'..='~').contains(&next) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    chars.next();
                    // OSC: until BEL or ESC \
                    while let Some(next) = chars.next() {
                        if next == '\u{7}' {
                            break;
                        }
                        if next == '\u{1b}' {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours_and_controls() {
        assert_eq!(strip_ansi("\u{1b}[32mINFO\u{1b}[0m ready\r"), "INFO ready");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}text"), "text");
    }

    #[test]
    fn redacts_known_secrets_and_bearer_values() {
        let logs = GatewayLogs::default();
        logs.set_secrets(vec!["tok-123456".into()]);
        logs.push("stdout", "using tok-123456 now");
        logs.push("stderr", "header Authorization: Bearer abc.def ok");
        let lines = logs.tail(10);
        assert_eq!(lines[0].text, "using [redacted] now");
        assert_eq!(lines[1].text, "header Authorization: Bearer [redacted] ok");
    }

    #[test]
    fn stays_bounded() {
        let logs = GatewayLogs::default();
        for i in 0..(CAPACITY + 10) {
            logs.push("stdout", &format!("line {i}"));
        }
        let lines = logs.tail(usize::MAX);
        assert_eq!(lines.len(), CAPACITY);
        assert_eq!(lines[0].text, "line 10");
        logs.push("stdout", &"x".repeat(MAX_LINE_CHARS + 5));
        assert_eq!(logs.tail(1)[0].text.chars().count(), MAX_LINE_CHARS + 1);
    }
}
