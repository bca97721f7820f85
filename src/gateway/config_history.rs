//! The versions of `openclaw.json` that clawhost replaced. Before clawhost rewrites the file
//! (its settings merged in at a start, an update rolled back, a version put back from here),
//! the file as it was is kept in `<data_dir>/config-history`: the newest ten, 0600, each named
//! by when and why. The owner sees what changed since (secret-looking values hidden) and can
//! put a version back.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::clock::{now_ms, rfc3339};

/// Versions kept; older ones go.
const KEPT: usize = 10;
/// Lines of unchanged context shown around each change.
const CONTEXT: usize = 3;
/// The most lines of changes shown.
const MAX_LINES: usize = 2000;

/// Why a version was replaced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Why {
    /// clawhost merged its settings in at a start.
    Settings,
    /// An update was rolled back, or the owner went back to the version before it.
    Rollback,
    /// The owner put another version back from here.
    PutBack,
    /// The owner set a channel up, or removed it, from here.
    Channel,
}

impl Why {
    fn slug(self) -> &'static str {
        match self {
            Why::Settings => "settings",
            Why::Rollback => "rollback",
            Why::PutBack => "put-back",
            Why::Channel => "channel",
        }
    }

    fn from_slug(slug: &str) -> Option<&'static str> {
        match slug {
            "settings" => Some("before clawhost merged its settings in at a start"),
            "rollback" => Some("before going back to an earlier OpenClaw"),
            "put-back" => Some("before another version was put back"),
            "channel" => Some("before a channel was set up or removed here"),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HistoryError {
    #[error("there is no kept version named {0}")]
    NotFound(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A version kept.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Version {
    pub(crate) id: String,
    /// When it was replaced.
    pub(crate) at: String,
    /// Why it was replaced.
    pub(crate) why: String,
    pub(crate) size: u64,
}

/// One line of what changed from a kept version to the file now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct Change {
    /// `-` only in the kept version, `+` only now, ` ` in both, `…` lines left out.
    pub(crate) op: &'static str,
    pub(crate) line: String,
}

pub(crate) struct History {
    dir: PathBuf,
}

impl History {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("config-history"),
        }
    }

    /// Keeps `config` as it is now, unless it is missing or the same as `next`. Blocking.
    pub(crate) fn keep(&self, config: &Path, next: Option<&[u8]>, why: Why) -> std::io::Result<()> {
        let now = match std::fs::read(config) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if next == Some(now.as_slice()) {
            return Ok(());
        }
        crate::fsutil::ensure_private_dir(&self.dir).map_err(std::io::Error::other)?;
        let name = format!("{}-{}.json", now_ms(), why.slug());
        crate::fsutil::write_atomic(&self.dir.join(name), &now)?;
        for old in self.list()?.iter().skip(KEPT) {
            let _ = std::fs::remove_file(self.dir.join(format!("{}.json", old.id)));
        }
        Ok(())
    }

    /// The versions kept, newest first. Blocking.
    pub(crate) fn list(&self) -> std::io::Result<Vec<Version>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut versions: Vec<(i64, Version)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?.to_owned();
                let (at, why) = parse_id(&id)?;
                let size = entry.metadata().ok()?.len();
                Some((
                    at,
                    Version {
                        at: rfc3339(at),
                        why: why.to_owned(),
                        size,
                        id,
                    },
                ))
            })
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    fn path(&self, id: &str) -> Result<PathBuf, HistoryError> {
        let path = self.dir.join(format!("{id}.json"));
        if parse_id(id).is_none() || !path.is_file() {
            return Err(HistoryError::NotFound(id.chars().take(80).collect()));
        }
        Ok(path)
    }

    /// What changed from the kept version `id` to `config` as it is now, secret-looking
    /// values hidden on both sides. Blocking.
    pub(crate) fn changes(&self, id: &str, config: &Path) -> Result<Vec<Change>, HistoryError> {
        let kept = std::fs::read_to_string(self.path(id)?)?;
        let now = std::fs::read_to_string(config).unwrap_or_default();
        Ok(changes(&shown(&kept), &shown(&now)))
    }

    /// Puts the kept version `id` back as `config` (the file replaced is kept in turn).
    /// Blocking.
    pub(crate) fn put_back(&self, id: &str, config: &Path) -> Result<(), HistoryError> {
        let kept = std::fs::read(self.path(id)?)?;
        self.keep(config, Some(&kept), Why::PutBack)?;
        crate::fsutil::write_atomic(config, &kept)?;
        Ok(())
    }
}

/// `<ms>-<why>` → when, and why in words.
fn parse_id(id: &str) -> Option<(i64, &'static str)> {
    let (at, slug) = id.split_once('-')?;
    let at: i64 = at.parse().ok()?;
    Some((at, Why::from_slug(slug)?))
}

/// A configuration as shown: pretty JSON with secret-looking values hidden (the text as it
/// is when it does not parse).
fn shown(text: &str) -> String {
    match json5::from_str::<Value>(text) {
        Ok(mut value) => {
            hide_secrets(&mut value);
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
        Err(_) => text.to_owned(),
    }
}

fn hide_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let secret = ["token", "secret", "password", "apikey", "key", "credential"]
                    .iter()
                    .any(|word| key.ends_with(word));
                if secret && inner.is_string() {
                    *inner = Value::String("(hidden)".into());
                } else {
                    hide_secrets(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_secrets),
        _ => {}
    }
}

fn changes(kept: &str, now: &str) -> Vec<Change> {
    let diff = similar::TextDiff::from_lines(kept, now);
    let mut out = Vec::new();
    for (n, group) in diff.grouped_ops(CONTEXT).iter().enumerate() {
        if n > 0 {
            out.push(Change {
                op: "…",
                line: String::new(),
            });
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let op = match change.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => " ",
                };
                out.push(Change {
                    op,
                    line: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
    }
    out.truncate(MAX_LINES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_kept_when_they_change_and_put_back() {
        let data = tempfile::tempdir().expect("dir");
        let history = History::new(data.path());
        let config = data.path().join("openclaw.json");
        history
            .keep(&config, Some(b"{}"), Why::Settings)
            .expect("nothing to keep yet");
        assert!(history.list().expect("list").is_empty());
        std::fs::write(
            &config,
            r#"{"a": 1, "channels": {"telegram": {"botToken": "123:abc"}}}"#,
        )
        .expect("write");
        history
            .keep(
                &config,
                Some(std::fs::read(&config).expect("read").as_slice()),
                Why::Settings,
            )
            .expect("the same is not kept");
        assert!(history.list().expect("list").is_empty());
        history
            .keep(&config, Some(b"{}"), Why::Settings)
            .expect("keep");
        let versions = history.list().expect("list");
        assert_eq!(versions.len(), 1);
        std::fs::write(
            &config,
            r#"{"a": 2, "channels": {"telegram": {"botToken": "456:def"}}}"#,
        )
        .expect("write");
        let changes = history.changes(&versions[0].id, &config).expect("changes");
        assert!(
            changes.contains(&Change {
                op: "-",
                line: "  \"a\": 1,".into()
            }),
            "{changes:?}"
        );
        assert!(
            changes.contains(&Change {
                op: "+",
                line: "  \"a\": 2,".into()
            }),
            "{changes:?}"
        );
        let text = format!("{changes:?}");
        assert!(!text.contains("abc") && !text.contains("def"), "{text}");
        history
            .put_back(&versions[0].id, &config)
            .expect("put back");
        assert!(
            std::fs::read_to_string(&config)
                .expect("read")
                .contains("\"a\": 1")
        );
        assert_eq!(
            history.list().expect("list").len(),
            2,
            "the replaced one is kept too"
        );
        assert!(matches!(
            history.changes("../secret", &config),
            Err(HistoryError::NotFound(_))
        ));
    }

    #[test]
    fn only_the_newest_ten_are_kept() {
        let data = tempfile::tempdir().expect("dir");
        let history = History::new(data.path());
        let config = data.path().join("openclaw.json");
        for n in 0..14 {
            std::fs::write(&config, format!("{{\"n\": {n}}}")).expect("write");
            history.keep(&config, None, Why::Settings).expect("keep");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let versions = history.list().expect("list");
        assert_eq!(versions.len(), KEPT);
        let newest = std::fs::read_to_string(
            data.path()
                .join("config-history")
                .join(format!("{}.json", versions[0].id)),
        )
        .expect("read");
        assert_eq!(newest, "{\"n\": 13}");
    }
}
