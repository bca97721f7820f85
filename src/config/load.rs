//! Reading the settings: each layer's text (defaults, the TOML file, `CLAWHOST_*` variables,
//! flags; later ones win), then every setting checked against its declaration, with where
//! its value came from for the error message.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings::{SETTINGS, Setting, Unset, Value, setting};
use super::values::{AcmeChallenge, AcmeName, LogFormat, Network, PublicUrl, Schedule, TlsMode};

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "the default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "the environment variable {name}"),
            Source::Flag(flag) => write!(f, "the flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the config file {path} is not valid TOML: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("unknown setting '{key}' in {origin}; known settings: {known}")]
    Unknown {
        key: String,
        origin: Source,
        known: String,
    },
    #[error("'{key}' (from {origin}) is invalid: {reason}")]
    Invalid {
        key: String,
        origin: Source,
        reason: String,
    },
    #[error(
        "{name} would put a secret in the environment; write it to a file and set {name}_FILE to its path"
    )]
    SecretNotFromFile { name: String },
    #[error("no data directory: set CLAWHOST_DATA_DIR, or HOME or XDG_DATA_HOME")]
    NoDataDir,
    /// A key read as another kind than it is declared with: a mistake in clawhost itself,
    /// caught by the tests that load the defaults.
    #[error("clawhost reads the setting '{0}' as another kind than it declares")]
    Undeclared(&'static str),
}

/// The text of each setting some layer sets, with where it came from; later layers win.
pub(super) struct Layers(BTreeMap<&'static str, (String, Source)>);

impl Layers {
    pub(super) fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// A TOML file: tables nest keys (`[session]` + `idle_timeout`).
    pub(super) fn file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.into(),
                reason: e.to_string(),
            })?;
        self.table(path, "", &table)
    }

    fn table(&mut self, path: &Path, prefix: &str, table: &toml::Table) -> Result<(), ConfigError> {
        for (name, value) in table {
            let dotted = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let text = match value {
                toml::Value::Table(inner) => {
                    self.table(path, &dotted, inner)?;
                    continue;
                }
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                // A list (`names = ["a", "b"]`) is the comma-separated form of the same value.
                toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                    .iter()
                    .filter_map(toml::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(ConfigError::Invalid {
                        key: dotted,
                        origin: Source::File(path.into()),
                        reason: "must be a string, a number, a boolean or a list of strings".into(),
                    });
                }
            };
            let known = setting(&dotted).ok_or_else(|| ConfigError::Unknown {
                key: dotted.clone(),
                origin: Source::File(path.into()),
                known: SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            self.0.insert(known.key, (text, Source::File(path.into())));
        }
        Ok(())
    }

    /// `CLAWHOST_*` variables; an unknown one is refused, and one that looks like it holds a
    /// secret is told to use a file instead.
    pub(super) fn env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env {
            if !name.starts_with("CLAWHOST_") || name == "CLAWHOST_CONFIG" {
                continue;
            }
            let Some(known) = SETTINGS
                .iter()
                .find(|s| s.env_name().eq_ignore_ascii_case(name))
            else {
                return Err(unknown_env(name));
            };
            self.0
                .insert(known.key, (value.clone(), Source::Env(name.clone())));
        }
        Ok(())
    }

    pub(super) fn flag(&mut self, key: &'static str, value: Option<String>, flag: &'static str) {
        if let Some(value) = value {
            self.0.insert(key, (value, Source::Flag(flag)));
        }
    }
}

fn unknown_env(name: &str) -> ConfigError {
    let secret_words = ["KEY", "TOKEN", "PASSWORD", "SECRET"];
    if secret_words.iter().any(|word| name.ends_with(word)) {
        return ConfigError::SecretNotFromFile { name: name.into() };
    }
    ConfigError::Unknown {
        key: name.into(),
        origin: Source::Env(name.into()),
        known: SETTINGS
            .iter()
            .map(Setting::env_name)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Every setting that has a value, checked against its declaration.
pub(super) struct Values(BTreeMap<&'static str, (Value, Source)>);

impl Values {
    pub(super) fn check(mut layers: Layers) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        for setting in SETTINGS {
            let (text, source) = match (layers.0.remove(setting.key), &setting.unset) {
                (Some(given), _) => given,
                (None, Unset::Value(default)) => ((*default).to_string(), Source::Default),
                (None, Unset::Means(_)) => continue,
            };
            let value = setting
                .kind
                .parse(&text)
                .map_err(|reason| ConfigError::Invalid {
                    key: setting.key.into(),
                    origin: source.clone(),
                    reason,
                })?;
            values.insert(setting.key, (value, source));
        }
        Ok(Self(values))
    }

    /// The value of a setting that always has one.
    pub(super) fn get<T: FromValue>(&self, key: &'static str) -> Result<T, ConfigError> {
        self.optional(key)?.ok_or(ConfigError::Undeclared(key))
    }

    /// The value of a setting that may be unset.
    pub(super) fn optional<T: FromValue>(
        &self,
        key: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        match self.0.get(key) {
            None if setting(key).is_some() => Ok(None),
            None => Err(ConfigError::Undeclared(key)),
            Some((value, _)) => T::from_value(value)
                .map(Some)
                .ok_or(ConfigError::Undeclared(key)),
        }
    }

    pub(super) fn source(&self, key: &str) -> Source {
        self.0
            .get(key)
            .map_or(Source::Default, |(_, source)| source.clone())
    }
}

/// The Rust type a kind of value is read as.
pub(super) trait FromValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
}

macro_rules! from_value {
    ($type:ty, $variant:ident) => {
        impl FromValue for $type {
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::$variant(inner) => Some(inner.clone()),
                    _ => None,
                }
            }
        }
    };
}

from_value!(String, Text);
from_value!(PathBuf, Path);
from_value!(PublicUrl, Origin);
from_value!(LogFormat, LogFormat);
from_value!(Duration, Duration);
from_value!(usize, Number);
from_value!(u16, Port);
from_value!(u32, Mib);
from_value!(u8, Bits);
from_value!(Vec<Network>, Networks);
from_value!(Vec<String>, Hosts);
from_value!(TlsMode, TlsMode);
from_value!(bool, Bool);
from_value!(Vec<AcmeName>, AcmeNames);
from_value!(AcmeChallenge, AcmeChallenge);
from_value!(Schedule, Schedule);
