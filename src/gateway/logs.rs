//! The gateway's output: a bounded ring buffer of lines (ANSI stripped, known secrets
//! redacted in every form a Node program plausibly prints them: as they are, JSON-escaped,
//! URL-encoded, base64 or hex, also inside a longer encoded string) that the dashboard
//! reads, plus a broadcast for live followers.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::{now_ms, rfc3339};

/// Lines kept; older ones are dropped.
pub(crate) const CAPACITY: usize = 2000;
/// Characters kept of one line.
pub(crate) const MAX_LINE_CHARS: usize = 4096;
/// Bytes of one line read before it is handed on anyway.
const MAX_LINE_BYTES: usize = 4 * MAX_LINE_CHARS;
const REDACTED: &str = "[redacted]";
/// Shorter values are too likely to occur by chance to be redacted.
const MIN_SECRET: usize = 4;

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
    pub(crate) fn set_secrets(&self, secrets: &[&str]) {
        let mut forms: Vec<zeroize::Zeroizing<String>> = secrets
            .iter()
            .filter(|s| s.len() >= MIN_SECRET)
            .flat_map(|s| encoded_forms(s))
            .filter(|form| form.len() >= MIN_SECRET)
            .map(zeroize::Zeroizing::new)
            .collect();
        // Longest first, so a form that contains another is replaced whole.
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        forms.dedup();
        self.inner().secrets = forms;
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

/// `secret` as it is and as it appears once encoded: JSON-escaped (once and twice, for JSON
/// inside JSON), percent-encoded (`encodeURIComponent`, `encodeURI`, form encoding; either
/// hex case),
/// base64 and base64url at each of the three alignments it can have inside a longer encoded
/// string (a Basic credential, say), and hex.
fn encoded_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let json = |text: &str| {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
    };
    let percent = |keep: &str, upper: bool| {
        let mut out = String::with_capacity(secret.len() * 3);
        for byte in secret.bytes() {
            if byte.is_ascii_alphanumeric() || keep.as_bytes().contains(&byte) {
                out.push(char::from(byte));
            } else if upper {
                let _ = write!(out, "%{byte:02X}");
            } else {
                let _ = write!(out, "%{byte:02x}");
            }
        }
        out
    };
    let hex = crate::crypto::hex(secret.as_bytes());
    let mut forms = vec![
        secret.to_string(),
        json(secret),
        json(&json(secret)),
        percent("-_.!~*'()", true),
        percent("-_.!~*'()", false),
        // `encodeURI` keeps a URL's separators as they are.
        percent("-_.!~*'();/?:@&=+$,#", true),
        percent("-_.*", true),
        hex.to_ascii_uppercase(),
        hex,
    ];
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for offset in 0..3 {
            // Behind `offset` bytes of something else, the characters that depend on the
            // secret's bits alone: from the first one past the prefix to the last whole one.
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            let start = (offset * 8).div_ceil(6);
            let end = bytes.len() * 8 / 6;
            if let Some(stable) = encoded.get(start..end) {
                forms.push(stable.to_string());
            }
        }
    }
    forms
}

/// Reads `pipe` to its end, a line at a time, whatever bytes come: invalid UTF-8 is
/// replaced and a line longer than [`MAX_LINE_BYTES`] is handed on in pieces, so the writer
/// is drained to the end and never blocks on a full pipe (a reader that stopped at the first
/// bad byte would hang the gateway once the pipe's buffer filled).
pub(crate) async fn each_line(pipe: impl tokio::io::AsyncRead + Unpin, mut line: impl FnMut(&str)) {
    use tokio::io::AsyncBufReadExt;
    let mut reader = tokio::io::BufReader::new(pipe);
    let mut pending: Vec<u8> = Vec::new();
    let mut emit = |bytes: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(bytes);
        line(text.strip_suffix('\r').unwrap_or(&text));
        bytes.clear();
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (used, complete) = match chunk.iter().position(|b| *b == b'\n') {
            Some(at) => (at + 1, Some(at)),
            None => (chunk.len(), None),
        };
        pending.extend_from_slice(&chunk[..complete.unwrap_or(used)]);
        reader.consume(used);
        if complete.is_some() || pending.len() >= MAX_LINE_BYTES {
            emit(&mut pending);
        }
    }
    if !pending.is_empty() {
        emit(&mut pending);
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
        logs.set_secrets(&["tok-123456"]);
        logs.push("stdout", "using tok-123456 now");
        logs.push("stderr", "header Authorization: Bearer abc.def ok");
        let lines = logs.tail(10);
        assert_eq!(lines[0].text, "using [redacted] now");
        assert_eq!(lines[1].text, "header Authorization: Bearer [redacted] ok");
    }

    /// Issue 11, defect 6: a secret printed encoded is redacted too.
    #[test]
    fn redacts_encoded_forms_of_secrets() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let key = "sk-test\"/key+with=odd&chars?0123";
        let logs = GatewayLogs::default();
        logs.set_secrets(&[key]);
        let json = serde_json::to_string(&serde_json::json!({"apiKey": key})).expect("json");
        let nested = serde_json::to_string(&json).expect("json");
        let url: String = key
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let printed = [
            format!("config {json}"),
            format!("body {nested}"),
            format!("GET https://llm.example/v1?key={url}"),
            format!("basic {}", STANDARD.encode(format!("user:{key}"))),
            format!("x {}", STANDARD.encode(format!("ab{key}cd"))),
            format!("token {}", URL_SAFE_NO_PAD.encode(key)),
            format!("buffer <{}>", crate::crypto::hex(key.as_bytes())),
        ];
        for line in &printed {
            logs.push("stdout", line);
        }
        for (line, printed) in logs.tail(10).iter().zip(&printed) {
            assert!(line.text.contains(REDACTED), "not redacted: {printed}");
            for form in encoded_forms(key) {
                assert!(
                    !line.text.contains(&form),
                    "{} still holds {form}",
                    line.text
                );
            }
        }
    }

    /// Review of issue 11: bad bytes and endless lines neither stop the reader nor grow it.
    #[tokio::test]
    async fn every_byte_is_read_whatever_it_is() {
        let mut input = b"first\r\nbad \xff\xfe bytes\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES * 2 + 10));
        input.extend_from_slice(b"\nlast");
        let mut lines = Vec::new();
        each_line(&input[..], |line| lines.push(line.to_string())).await;
        assert_eq!(lines[0], "first");
        assert_eq!(lines[1], "bad \u{fffd}\u{fffd} bytes");
        assert!(
            lines[2..lines.len() - 1]
                .iter()
                .all(|l| l.len() <= MAX_LINE_BYTES + 8192)
        );
        let long: usize = lines[2..lines.len() - 1].iter().map(String::len).sum();
        assert_eq!(long, MAX_LINE_BYTES * 2 + 10, "nothing lost");
        assert_eq!(lines.last().map(String::as_str), Some("last"));
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
