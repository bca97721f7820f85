//! Every setting, declared once: its key, what kind of value it takes (with its bounds), what
//! applies when it is not set, and what it means. Loading, the environment names, the
//! "unknown setting" errors and the README's configuration table all come from [`SETTINGS`].

use std::fmt::Write as _;
use std::time::Duration;

pub(super) use super::kinds::{Kind, Value};
use super::values::OPENCLAW_VERSION;

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
        key: "auth.oidc.issuer",
        kind: Kind::ServiceUrl,
        unset: Unset::Means("no OpenID Connect sign-in"),
        doc: "the OpenID Connect issuer the owner may sign in with, exactly as its discovery document names it, e.g. `https://accounts.google.com`; the redirect URI to register there is `<public_url>/auth/oidc/callback`",
    },
    Setting {
        key: "auth.oidc.client_id",
        kind: Kind::Text,
        unset: Unset::Means("none; needed with `auth.oidc.issuer`"),
        doc: "the client id the issuer gave clawhost",
    },
    Setting {
        key: "auth.oidc.client_secret_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("none: a public client (PKCE only)"),
        doc: "a file holding the client secret the issuer gave clawhost; clawhost refuses to start when others may read it (`chmod 600`)",
    },
    Setting {
        key: "auth.oidc.scopes",
        kind: Kind::Text,
        unset: Unset::Value("openid email profile"),
        doc: "the scopes asked for, space-separated (`openid` is always asked for)",
    },
    Setting {
        key: "auth.oidc.display_name",
        kind: Kind::Text,
        unset: Unset::Means("`Google` for Google's issuer, else the issuer's host"),
        doc: "the name on the \"Sign in with …\" button",
    },
    Setting {
        key: "auth.require_second_factor",
        kind: Kind::Bool,
        unset: Unset::Value("false"),
        doc: "after the password, a passkey too (once the owner has one); a passkey alone still signs in",
    },
    Setting {
        key: "auth.session_exchange.url",
        kind: Kind::ServiceUrl,
        unset: Unset::Means("off"),
        doc: "the replaced wrapper's sign-in broker: called with the session id the browser brings (`X-Session-ID`), it must answer the owner's verified email",
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
        doc: "how long the gateway may take from its spawn to answer `/readyz` (what clawhost prepares before, such as installing a channel plugin, does not count)",
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
    Setting {
        key: "backup.schedule",
        kind: Kind::Schedule {
            min: SECOND,
            max: DAY.saturating_mul(31),
        },
        unset: Unset::Value("daily"),
        doc: "how often clawhost backs itself up into `<data_dir>/backups` (`off`: only when asked)",
    },
    Setting {
        key: "backup.keep",
        kind: Kind::Count { min: 1, max: 1000 },
        unset: Unset::Value("7"),
        doc: "how many backups `<data_dir>/backups` keeps (the oldest go first)",
    },
    Setting {
        key: "backup.passphrase_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("scheduled backups are not encrypted and hold no secret key"),
        doc: "a 0600 file whose passphrase encrypts scheduled backups (age, scrypt), which then hold the secret key too",
    },
    Setting {
        key: "usage.daily_token_limit",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000_000,
        },
        unset: Unset::Means("no daily limit"),
        doc: "tokens (input and output, as the provider counts them) the assistant may use in a day (UTC); beyond it the egress proxy refuses its requests until the next day",
    },
    Setting {
        key: "usage.monthly_token_limit",
        kind: Kind::Count {
            min: 1,
            max: 1_000_000_000_000,
        },
        unset: Unset::Means("no monthly limit"),
        doc: "tokens the assistant may use in a calendar month (UTC); beyond it the egress proxy refuses its requests until the next month",
    },
    Setting {
        key: "channels.discord_api_url",
        kind: Kind::ServiceUrl,
        unset: Unset::Value("https://discord.com/api/v10"),
        doc: "Discord's REST API (with its version) for the Discord channel set up from clawhost: its token's check and the gateway's channel (a relay of your own; OpenClaw turns Discord voice off when it is changed)",
    },
    Setting {
        key: "channels.slack_api_url",
        kind: Kind::ServiceUrl,
        unset: Unset::Value("https://slack.com/api/"),
        doc: "Slack's Web API for the Slack channel set up from clawhost: its tokens' check and the gateway's channel (a relay of your own)",
    },
    Setting {
        key: "metrics.enabled",
        kind: Kind::Bool,
        unset: Unset::Value("false"),
        doc: "serve Prometheus metrics at `/metrics`: on `metrics.listen` when set, otherwise on the main listener with `Authorization: Bearer` and the token in `metrics.token_file`",
    },
    Setting {
        key: "metrics.listen",
        kind: Kind::Address,
        unset: Unset::Means("none: `/metrics` on the main listener, with the token"),
        doc: "an address of its own for `/metrics`, answered without a token (keep it on loopback or a private network)",
    },
    Setting {
        key: "metrics.token_file",
        kind: Kind::AbsolutePath,
        unset: Unset::Means("none; needed by `metrics.enabled` without `metrics.listen`"),
        doc: "a file holding the bearer token `/metrics` on the main listener asks for (16 characters or more)",
    },
    Setting {
        key: "devices.remote",
        kind: Kind::Bool,
        unset: Unset::Value("false"),
        doc: "OpenClaw's apps and CLI on other machines may connect through clawhost at `/remote` (wss on the public URL's host); each is let in only once the owner pairs it on the Devices page",
    },
];

impl Setting {
    pub(super) fn env_name(&self) -> String {
        format!("CLAWHOST_{}", self.key.replace('.', "_").to_uppercase())
    }
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
