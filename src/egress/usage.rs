//! The tokens an answer used, read from the providers' own `usage` fields as the answer
//! passes through: a streamed one line by line (server-sent events, or Ollama's JSON lines),
//! a plain one from its whole body (up to a bound). Nothing is held beyond one line.

use serde_json::Value;

/// The most of a plain (not streamed) answer kept to read its usage; a longer one passes
/// through uncounted.
const PLAIN_MAX: usize = 4 * 1024 * 1024;
/// The longest line of a stream looked at; a longer one is skipped.
const LINE_MAX: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    pub(crate) output: u64,
}

/// Reads an answer's usage as its bytes pass.
pub(crate) struct Tap {
    streamed: bool,
    /// The line being read (streamed), or the body so far (plain).
    buffer: Vec<u8>,
    overflowed: bool,
    seen: Option<Tokens>,
}

impl Tap {
    /// For an answer of `content_type`.
    pub(crate) fn new(content_type: &str) -> Self {
        let streamed = content_type.starts_with("text/event-stream")
            || content_type.starts_with("application/x-ndjson");
        Self {
            streamed,
            buffer: Vec::new(),
            overflowed: false,
            seen: None,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if !self.streamed {
            if self.buffer.len() + bytes.len() > PLAIN_MAX {
                self.overflowed = true;
                self.buffer = Vec::new();
            } else if !self.overflowed {
                self.buffer.extend_from_slice(bytes);
            }
            return;
        }
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if self.overflowed {
                self.overflowed = !piece.ends_with(b"\n");
                continue;
            }
            if self.buffer.len() + piece.len() > LINE_MAX {
                self.buffer.clear();
                self.overflowed = !piece.ends_with(b"\n");
                continue;
            }
            self.buffer.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.buffer);
                self.line(&line);
            }
        }
    }

    /// The tokens the answer reported, if it reported any.
    pub(crate) fn finish(mut self) -> Option<Tokens> {
        let rest = std::mem::take(&mut self.buffer);
        if self.streamed {
            self.line(&rest);
        } else if !self.overflowed
            && let Ok(value) = serde_json::from_slice::<Value>(&rest)
        {
            self.note(&value);
        }
        self.seen
    }

    fn line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        let json = line.strip_prefix(b"data:").unwrap_or(line).trim_ascii();
        if json.first() != Some(&b'{') {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<Value>(json) {
            self.note(&value);
        }
    }

    /// Keeps the largest counts seen: the last chunk of a stream carries the totals
    /// (Anthropic's output count grows chunk by chunk; its input count comes first).
    fn note(&mut self, value: &Value) {
        if let Some(tokens) = tokens_in(value) {
            let seen = self.seen.get_or_insert_default();
            seen.input = seen.input.max(tokens.input);
            seen.output = seen.output.max(tokens.output);
        }
    }
}

/// The usage in one JSON answer or event, in any of the shapes the providers use.
fn tokens_in(value: &Value) -> Option<Tokens> {
    let count = |v: &Value, names: &[&str]| -> u64 {
        names.iter().filter_map(|name| v[*name].as_u64()).sum()
    };
    // Ollama's native API counts at the top level of its last line.
    if value.get("eval_count").is_some() || value.get("prompt_eval_count").is_some() {
        return Some(Tokens {
            input: count(value, &["prompt_eval_count"]),
            output: count(value, &["eval_count"]),
        });
    }
    let usage = [
        &value["usage"],
        &value["response"]["usage"],
        &value["message"]["usage"],
    ]
    .into_iter()
    .find(|u| u.is_object())?;
    Some(Tokens {
        // OpenAI's chat completions; the Responses API and Anthropic (cache reads and
        // writes are input too).
        input: count(
            usage,
            &[
                "prompt_tokens",
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
            ],
        ),
        output: count(usage, &["completion_tokens", "output_tokens"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(content_type: &str, body: &str, piece: usize) -> Option<Tokens> {
        let mut tap = Tap::new(content_type);
        for chunk in body.as_bytes().chunks(piece) {
            tap.feed(chunk);
        }
        tap.finish()
    }

    #[test]
    fn reads_the_usage_of_every_providers_stream_in_any_pieces() {
        let openai = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}\n\n\
                      data: [DONE]\n\n";
        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":30,\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\n\n\
                         event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n\
                         event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";
        let responses = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":3}}}\n\n";
        let ollama = "{\"message\":{\"content\":\"Hi\"},\"done\":false}\n{\"done\":true,\"prompt_eval_count\":4,\"eval_count\":2}";
        for piece in [1, 3, 7, 4096] {
            let tokens = |input, output| Some(Tokens { input, output });
            assert_eq!(streamed("text/event-stream", openai, piece), tokens(12, 5));
            assert_eq!(
                streamed("text/event-stream; charset=utf-8", anthropic, piece),
                tokens(40, 9)
            );
            assert_eq!(
                streamed("text/event-stream", responses, piece),
                tokens(7, 3)
            );
            assert_eq!(
                streamed("application/x-ndjson", ollama, piece),
                tokens(4, 2)
            );
        }
        assert_eq!(
            streamed("text/event-stream", "data: {\"choices\":[]}\n\n", 5),
            None
        );
    }

    #[test]
    fn reads_a_plain_answer_whole_and_skips_what_is_too_long() {
        let body = r#"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        assert_eq!(
            streamed("application/json", body, 5),
            Some(Tokens {
                input: 3,
                output: 4
            })
        );
        let mut tap = Tap::new("application/json");
        tap.feed(&vec![b' '; PLAIN_MAX]);
        tap.feed(body.as_bytes());
        assert_eq!(tap.finish(), None);
        // A line longer than the bound is skipped; the next one still counts.
        let mut tap = Tap::new("text/event-stream");
        tap.feed(b"data: {\"usage\":{\"prompt_tokens\":99");
        tap.feed(&vec![b'9'; LINE_MAX]);
        tap.feed(b"}}\n\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n");
        assert_eq!(
            tap.finish(),
            Some(Tokens {
                input: 1,
                output: 2
            })
        );
    }
}
