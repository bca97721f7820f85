//! The kinds of value a setting takes: what each accepts (for the README and `--help`) and
//! how a text becomes a checked [`Value`].

use std::path::PathBuf;
use std::time::Duration;

use super::values::{
    self, AcmeChallenge, AcmeName, LogFormat, Network, OPENCLAW_VERSION, PublicUrl, Schedule,
    TlsMode, format_duration, format_size,
};

/// The kind of value a setting takes, with its bounds.
pub(super) enum Kind {
    Address,
    Origin,
    AbsolutePath,
    Text,
    LogFormat,
    Duration {
        min: Duration,
        max: Duration,
    },
    Size {
        min: usize,
        max: usize,
    },
    Count {
        min: usize,
        max: usize,
    },
    /// A number of leading bits of an address.
    Bits {
        min: u8,
        max: u8,
    },
    Port,
    /// A number of MiB in the bounds, or 0 for "no limit of ours".
    MibOrZero {
        min: u32,
        max: u32,
    },
    Networks,
    Hosts,
    Version,
    TlsMode,
    Bool,
    AcmeNames,
    AcmeChallenge,
    HttpsUrl,
    /// An `https://` URL, or `http://` on a loopback host (a service on this machine).
    ServiceUrl,
    Email,
    /// `off`, `hourly`, `daily`, `weekly`, or a duration in the bounds.
    Schedule {
        min: Duration,
        max: Duration,
    },
}

/// A setting's value once checked.
pub(super) enum Value {
    Text(String),
    Path(PathBuf),
    Origin(PublicUrl),
    LogFormat(LogFormat),
    Duration(Duration),
    Number(usize),
    Port(u16),
    Mib(u32),
    Bits(u8),
    Networks(Vec<Network>),
    Hosts(Vec<String>),
    TlsMode(TlsMode),
    Bool(bool),
    AcmeNames(Vec<AcmeName>),
    AcmeChallenge(AcmeChallenge),
    Schedule(Schedule),
}

impl Kind {
    /// What the kind accepts, for the README and `--help`.
    pub(super) fn accepts(&self) -> String {
        let range = |min: String, max: String| format!("`{min}` to `{max}`");
        match self {
            Kind::Address => "an address and port".into(),
            Kind::Origin => "an `http://` or `https://` origin".into(),
            Kind::AbsolutePath => "an absolute path".into(),
            Kind::Text => "text".into(),
            Kind::LogFormat => "`text` or `json`".into(),
            Kind::Duration { min, max } => range(format_duration(*min), format_duration(*max)),
            Kind::Size { min, max } => range(format_size(*min), format_size(*max)),
            Kind::Count { min, max } => range(min.to_string(), max.to_string()),
            Kind::Bits { min, max } => range(min.to_string(), max.to_string()),
            Kind::Port => range("0".into(), "65535".into()),
            Kind::MibOrZero { min, max } => format!("`0`, or `{min}` to `{max}`"),
            Kind::Networks => "IPs or CIDR blocks, comma-separated".into(),
            Kind::Hosts => "host names with an optional port, comma-separated".into(),
            Kind::Version => format!("a version like `{OPENCLAW_VERSION}`"),
            Kind::TlsMode => "`off`, `files` or `acme`".into(),
            Kind::Bool => "`true` or `false`".into(),
            Kind::AcmeNames => "DNS names and IP addresses, comma-separated".into(),
            Kind::AcmeChallenge => "`auto`, `http-01` or `tls-alpn-01`".into(),
            Kind::HttpsUrl => "an `https://` URL".into(),
            Kind::ServiceUrl => "an `https://` URL (`http://` on loopback)".into(),
            Kind::Email => "an email address".into(),
            Kind::Schedule { min, max } => format!(
                "`off`, `hourly`, `daily`, `weekly`, or `{}` to `{}`",
                format_duration(*min),
                format_duration(*max)
            ),
        }
    }

    pub(super) fn parse(&self, text: &str) -> Result<Value, String> {
        Ok(match self {
            Kind::Address => Value::Text(values::parse_address(text)?),
            Kind::Origin => Value::Origin(PublicUrl::parse(text)?),
            Kind::AbsolutePath => Value::Path(values::parse_path(text)?),
            Kind::Text => Value::Text(text.to_string()),
            Kind::LogFormat => Value::LogFormat(LogFormat::parse(text)?),
            Kind::Duration { min, max } => Value::Duration(within(
                text,
                values::parse_duration(text)?,
                (*min, *max),
                format_duration,
            )?),
            Kind::Size { min, max } => Value::Number(within(
                text,
                values::parse_size(text)?,
                (*min, *max),
                format_size,
            )?),
            Kind::Count { min, max } => match text.parse::<usize>() {
                Ok(n) if (*min..=*max).contains(&n) => Value::Number(n),
                _ => return Err(format!("'{text}' must be a number from {min} to {max}")),
            },
            Kind::Bits { min, max } => match text.parse::<u8>() {
                Ok(n) if (*min..=*max).contains(&n) => Value::Bits(n),
                _ => return Err(format!("'{text}' must be a number from {min} to {max}")),
            },
            Kind::Port => Value::Port(
                text.parse::<u16>()
                    .map_err(|_| format!("'{text}' is not a port number (0 to 65535)"))?,
            ),
            Kind::MibOrZero { min, max } => match text.parse::<u32>() {
                Ok(mb) if mb == 0 || (*min..=*max).contains(&mb) => Value::Mib(mb),
                _ => {
                    return Err(format!(
                        "'{text}' must be 0 or a number of MiB from {min} to {max}"
                    ));
                }
            },
            Kind::Networks => Value::Networks(values::parse_networks(text)?),
            Kind::Hosts => Value::Hosts(values::parse_hosts(text)?),
            Kind::Version => Value::Text(values::parse_version(text)?),
            Kind::TlsMode => Value::TlsMode(TlsMode::parse(text)?),
            Kind::Bool => Value::Bool(values::parse_bool(text)?),
            Kind::AcmeNames => Value::AcmeNames(values::parse_acme_names(text)?),
            Kind::AcmeChallenge => Value::AcmeChallenge(AcmeChallenge::parse(text)?),
            Kind::HttpsUrl => Value::Text(values::parse_https_url(text)?),
            Kind::ServiceUrl => Value::Text(values::parse_service_url(text)?),
            Kind::Email => Value::Text(values::parse_email(text)?),
            Kind::Schedule { min, max } => Value::Schedule(Schedule(match text {
                "off" => None,
                "hourly" => Some(Duration::from_hours(1)),
                "daily" => Some(Duration::from_hours(24)),
                "weekly" => Some(Duration::from_hours(24 * 7)),
                _ => Some(within(
                    text,
                    values::parse_duration(text)?,
                    (*min, *max),
                    format_duration,
                )?),
            })),
        })
    }
}

/// `value` when within `bounds`; otherwise the bounds, written the way settings are.
fn within<T: PartialOrd + Copy>(
    text: &str,
    value: T,
    (min, max): (T, T),
    show: fn(T) -> String,
) -> Result<T, String> {
    if value < min || value > max {
        return Err(format!(
            "'{text}' must be between {} and {}",
            show(min),
            show(max)
        ));
    }
    Ok(value)
}
