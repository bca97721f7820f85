//! Every setting, declared once: its key, what kind of value it takes (with its bounds), what
//! applies when it is not set, and what it means. Loading, the environment names, the
//! "unknown setting" errors and the README's configuration table all come from [`SETTINGS`].

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::values::{
    self, AcmeChallenge, AcmeName, LogFormat, Network, OPENCLAW_VERSION, PublicUrl, TlsMode,
    format_duration, format_size,
};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_mins(1);
const DAY: Duration = Duration::from_hours(24);
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// One setting. Its environment twin is `CLAWHOST_` and the key in capitals, `.` as `_`.
pub(super) struct Setting {
    pub(super) key: &'static str,
    pub(super) kind: Kind,
    pub(super) unset: Unset,
    /// What it means, as the README says it.
    pub(super) doc: &'static str,
}

/// What applies when no layer sets a value.
pub(super) enum Unset {
    /// This value, checked like any other.
    Value(&'static str),
    /// No value; the words say what clawhost does instead (shown in the README).
    Means(&'static str),
}

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
    Email,
}

pub(super) const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        kind: Kind::Address,
        unset: Unset::Value("127.0.0.1:8080"),
        doc: "address to listen on",
    },
    Setting {
        key: "public_url",
        kind: Kind::Origin,
        unset: Unset::Means(
            "`http://<listen>` (`https://` under TLS); under `tls.mode = \"acme\"`, `https://<first name>`",
        ),
        doc: "the origin browsers use, e.g. `https://claw.example.com`",
    },
    Setting {
        key: "tls.mode",
        kind: Kind::TlsMode,
        unset: Unset::Value("off"),
        doc: "`acme`: https with certificates clawhost obtains and renews (Let's Encrypt by default); `files`: with `tls.cert_file` and `tls.key_file` (reloaded when they change)",
    },
    Setting {
        key: "tls.acme.names",
        kind: Kind::AcmeNames,
        unset: Unset::Means("the host of `public_url`"),
        doc: "the names the certificate is for: DNS names and IP addresses",
    },
    Setting {
        key: "tls.acme.directory",
        kind: Kind::HttpsUrl,
        unset: Unset::Value("https://acme-v02.api.letsencrypt.org/directory"),
        doc: "the ACME CA's directory URL",
    },
    Setting {
        key: "tls.acme.email",
        kind: Kind::Email,
        unset: Unset::Means("none"),
        doc: "a contact address given to the CA",
    },
    Setting {
        key: "tls.acme.ca_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("the system's roots only"),
        doc: "PEM root certificates trusted, besides the system's, for the ACME directory (a private CA)",
    },
    Setting {
        key: "tls.acme.challenge",
        kind: Kind::AcmeChallenge,
        unset: Unset::Value("auto"),
        doc: "`tls-alpn-01` (port 443), `http-01` (port 80), or `auto`: one, then the other",
    },
    Setting {
        key: "tls.cert_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("none; needed by `tls.mode = \"files\"`"),
        doc: "PEM certificate chain, the server's certificate first",
    },
    Setting {
        key: "tls.key_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("none; needed by `tls.mode = \"files\"`"),
        doc: "PEM private key of that certificate",
    },
    Setting {
        key: "http.redirect_listen",
        kind: Kind::Address,
        unset: Unset::Means("`[::]:80` under `tls.mode = \"acme\"`, else none"),
        doc: "a plain-http listener that answers ACME HTTP-01 challenges and sends everything else to the https public URL (308)",
    },
    Setting {
        key: "tls.allow_plain_http",
        kind: Kind::Bool,
        unset: Unset::Value("false"),
        doc: "serve plain http on a network address (a TLS proxy in front does the https)",
    },
    Setting {
        key: "data_dir",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("`$XDG_DATA_HOME/clawhost` or `~/.local/share/clawhost`"),
        doc: "database and state (created 0700)",
    },
    Setting {
        key: "runtime_dir",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("`<data_dir>/runtime`"),
        doc: "OpenClaw runtime",
    },
    Setting {
        key: "log.level",
        kind: Kind::Text,
        unset: Unset::Value("info"),
        doc: "log filter, e.g. `clawhost=debug`",
    },
    Setting {
        key: "log.format",
        kind: Kind::LogFormat,
        unset: Unset::Value("text"),
        doc: "how log lines are written",
    },
    Setting {
        key: "session.idle_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_hours(8760),
        },
        unset: Unset::Value("7d"),
        doc: "sign out after this long unused",
    },
    Setting {
        key: "session.absolute_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_hours(8760),
        },
        unset: Unset::Value("30d"),
        doc: "sign out this long after sign-in",
    },
    Setting {
        key: "session.reauth_window",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_hours(1),
        },
        unset: Unset::Value("5m"),
        doc: "how long a password given (signing in, or confirming) opens the sensitive actions",
    },
    Setting {
        key: "claim.code_ttl",
        kind: Kind::Duration {
            min: MINUTE,
            max: Duration::from_hours(168),
        },
        unset: Unset::Value("1h"),
        doc: "how long a claim code is valid",
    },
    Setting {
        key: "http.body_limit",
        kind: Kind::Size {
            min: KIB,
            max: 256 * MIB,
        },
        unset: Unset::Value("1MiB"),
        doc: "largest API request body",
    },
    Setting {
        key: "http.request_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_mins(10),
        },
        unset: Unset::Value("30s"),
        doc: "longest time to produce a response",
    },
    Setting {
        key: "http.header_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_mins(10),
        },
        unset: Unset::Value("10s"),
        doc: "longest time to receive request headers (also how long an idle connection stays open)",
    },
    Setting {
        key: "http.trusted_proxies",
        kind: Kind::Networks,
        unset: Unset::Means("none"),
        doc: "reverse proxies whose `X-Forwarded-For` names the client",
    },
    Setting {
        key: "http.ipv6_prefix",
        kind: Kind::Bits { min: 32, max: 128 },
        unset: Unset::Value("64"),
        doc: "IPv6 clients in one network of this many leading bits share their sign-in lockouts and rate limits",
    },
    Setting {
        key: "http.allowed_hosts",
        kind: Kind::Hosts,
        unset: Unset::Means("none"),
        doc: "other `Host` names clawhost answers to; any other gets 421 (the public URL's always works)",
    },
    Setting {
        key: "secret_key_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("`<data_dir>/secret.key`"),
        doc: "32-byte key sealing provider keys; created at first start when at the default place",
    },
    Setting {
        key: "gateway.port",
        kind: Kind::Port,
        unset: Unset::Value("18789"),
        doc: "loopback port of the gateway; `0` picks a free one at each start",
    },
    Setting {
        key: "gateway.command",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("none"),
        doc: "an existing `openclaw` executable to run instead of the installed runtime",
    },
    Setting {
        key: "gateway.openclaw_version",
        kind: Kind::Version,
        unset: Unset::Value(OPENCLAW_VERSION),
        doc: "OpenClaw version `install-openclaw` installs",
    },
    Setting {
        key: "gateway.ready_timeout",
        kind: Kind::Duration {
            min: Duration::from_secs(5),
            max: Duration::from_mins(30),
        },
        unset: Unset::Value("120s"),
        doc: "how long a start may take to reach `/readyz`",
    },
    Setting {
        key: "gateway.stop_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_secs(330),
        },
        unset: Unset::Value("60s"),
        doc: "SIGTERM grace before SIGKILL",
    },
    Setting {
        key: "gateway.node_heap_mb",
        kind: Kind::MibOrZero {
            min: 256,
            max: 65_536,
        },
        unset: Unset::Value("0"),
        doc: "Node heap limit for the gateway (`0`: Node's default)",
    },
    Setting {
        key: "proxy.body_limit",
        kind: Kind::Size {
            min: KIB,
            max: 1024 * MIB,
        },
        unset: Unset::Value("32MiB"),
        doc: "largest request body sent to the Control UI",
    },
    Setting {
        key: "proxy.response_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: Duration::from_mins(30),
        },
        unset: Unset::Value("60s"),
        doc: "how long the gateway may take to answer a Control UI request",
    },
    Setting {
        key: "proxy.ws_max_message",
        kind: Kind::Size {
            min: 64 * KIB,
            max: 256 * MIB,
        },
        unset: Unset::Value("25MiB"),
        doc: "largest WebSocket message relayed (OpenClaw's own limit)",
    },
    Setting {
        key: "proxy.asset_cache",
        kind: Kind::Size {
            min: 0,
            max: 256 * MIB,
        },
        unset: Unset::Value("8MiB"),
        doc: "memory for the Control UI's immutable assets, answered without asking the gateway (`0`: off)",
    },
    Setting {
        key: "proxy.ws_idle_timeout",
        kind: Kind::Duration {
            min: SECOND,
            max: DAY,
        },
        unset: Unset::Value("30m"),
        doc: "close a Control UI socket after this long without traffic",
    },
    Setting {
        key: "proxy.ws_per_session",
        kind: Kind::Count { min: 1, max: 1024 },
        unset: Unset::Value("16"),
        doc: "Control UI sockets one session may keep open",
    },
];

impl Setting {
    pub(super) fn env_name(&self) -> String {
        format!("CLAWHOST_{}", self.key.replace('.', "_").to_uppercase())
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

/// Every setting with what applies when unset and what it means, for `clawhost serve --help`.
pub(crate) fn help() -> String {
    let plain = |text: &str| text.replace('`', "");
    let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let mut out = String::from(
        "Settings, in the --config file (dotted keys are TOML tables) or the environment \
         (CLAWHOST_ and the key in capitals, '.' as '_'):\n",
    );
    for setting in SETTINGS {
        let unset = match setting.unset {
            Unset::Value(value) => value.to_string(),
            Unset::Means(words) => plain(words),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {} [{}; default: {unset}]",
            setting.key,
            plain(setting.doc),
            plain(&setting.kind.accepts())
        );
    }
    out
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
            Kind::Email => "an email address".into(),
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
            Kind::Email => Value::Text(values::parse_email(text)?),
        })
    }
}

/// The declaration of `key`, if there is one.
pub(super) fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README")
    }

    /// The README's configuration table, row by row, is the declaration above
    /// (`PRINT_README_TABLE=1 cargo test the_readme_lists` prints the rows it expects).
    #[test]
    fn the_readme_lists_every_setting_as_declared() {
        let readme = readme();
        let header = "| TOML key | Environment | Default | Accepts | Meaning |";
        let rows: Vec<&str> = readme
            .lines()
            .skip_while(|line| *line != header)
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect();
        let expected: Vec<String> = SETTINGS
            .iter()
            .map(|s| {
                let default = match s.unset {
                    Unset::Value(value) => format!("`{value}`"),
                    Unset::Means(words) => words.to_string(),
                };
                format!(
                    "| `{}` | `{}` | {default} | {} | {} |",
                    s.key,
                    s.env_name(),
                    s.kind.accepts(),
                    s.doc
                )
            })
            .collect();
        if std::env::var_os("PRINT_README_TABLE").is_some() {
            println!("{}", expected.join("\n"));
        }
        assert_eq!(rows, expected);
    }

    #[test]
    fn the_help_names_every_setting() {
        let help = help();
        for setting in SETTINGS {
            assert!(
                help.contains(&format!("  {} ", setting.key)),
                "{}",
                setting.key
            );
        }
        assert!(help.contains("; default: 127.0.0.1:8080]"));
        assert!(!help.contains('`'));
    }

    #[test]
    fn every_default_is_a_valid_value() {
        for setting in SETTINGS {
            if let Unset::Value(default) = setting.unset {
                assert!(setting.kind.parse(default).is_ok(), "{}", setting.key);
            }
        }
        let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len(), "each key is declared once");
    }

    #[test]
    fn bounds_are_enforced_with_what_to_write() {
        let idle = setting("session.idle_timeout").expect("declared");
        let error = idle.kind.parse("400d").err().expect("too long");
        assert!(error.contains("1s and 365d"), "{error}");
        let sockets = setting("proxy.ws_per_session").expect("declared");
        assert!(sockets.kind.parse("0").is_err());
        let heap = setting("gateway.node_heap_mb").expect("declared");
        assert!(heap.kind.parse("0").is_ok() && heap.kind.parse("100").is_err());
        let body = setting("proxy.body_limit").expect("declared");
        let error = body.kind.parse("2048MiB").err().expect("too large");
        assert!(error.contains("1KiB and 1024MiB"), "{error}");
    }
}
