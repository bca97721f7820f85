use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn home() -> HashMap<String, String> {
    env(&[("HOME", "/home/owner")])
}

#[test]
fn defaults_are_usable() {
    let config = Config::from_sources(&Flags::default(), &home()).expect("config");
    assert_eq!(config.listen, "127.0.0.1:8080");
    assert_eq!(
        config.data_dir,
        PathBuf::from("/home/owner/.local/share/clawhost")
    );
    assert_eq!(config.runtime_dir, config.data_dir.join("runtime"));
    assert_eq!(config.session_idle, Duration::from_hours(168));
    assert_eq!(config.body_limit, 1024 * 1024);
    assert!(config.public_url.is_none());
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clawhost.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\n[session]\nidle_timeout = \"1d\"\nabsolute_timeout = \"2d\"\n",
    )
    .expect("write");
    let flags = Flags {
        config: Some(file),
        public_url: Some("https://Claw.Example.com:443/".into()),
        ..Flags::default()
    };
    let mut vars = home();
    vars.insert("CLAWHOST_SESSION_IDLE_TIMEOUT".into(), "12h".into());
    let config = Config::from_sources(&flags, &vars).expect("config");
    assert_eq!(config.listen, "127.0.0.1:9000");
    assert_eq!(config.session_idle, Duration::from_hours(12));
    assert_eq!(config.session_absolute, Duration::from_hours(48));
    let public = config.public_url.expect("public url");
    assert_eq!(public.origin(), "https://claw.example.com");
    assert!(public.is_https());
}

#[test]
fn errors_say_where_the_value_came_from() {
    let mut vars = home();
    vars.insert("CLAWHOST_LISTEN".into(), "nowhere".into());
    let error = Config::from_sources(&Flags::default(), &vars)
        .expect_err("bad listen")
        .to_string();
    assert!(error.contains("CLAWHOST_LISTEN"), "{error}");
    assert!(error.contains("127.0.0.1:8080"), "{error}");
}

#[test]
fn unknown_and_secret_settings_are_refused() {
    let mut vars = home();
    vars.insert("CLAWHOST_LISTN".into(), "x".into());
    let error = Config::from_sources(&Flags::default(), &vars).expect_err("unknown");
    assert!(error.to_string().contains("CLAWHOST_LISTEN"), "{error}");

    let mut vars = home();
    vars.insert("CLAWHOST_SECRET_KEY".into(), "x".into());
    let error = Config::from_sources(&Flags::default(), &vars).expect_err("secret");
    assert!(
        error.to_string().contains("CLAWHOST_SECRET_KEY_FILE"),
        "{error}"
    );
}

#[test]
fn idle_longer_than_absolute_is_refused() {
    let mut vars = home();
    vars.insert("CLAWHOST_SESSION_IDLE_TIMEOUT".into(), "40d".into());
    assert!(Config::from_sources(&Flags::default(), &vars).is_err());
}

/// The README's example file is one clawhost takes.
#[test]
fn the_readme_example_file_loads() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let example = readme
        .split("Example `clawhost.toml`:\n\n```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the example");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clawhost.toml");
    std::fs::write(&file, example).expect("write");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let env = [("HOME".to_string(), "/home/owner".to_string())].into();
    let config = Config::from_sources(&flags, &env).expect("loads");
    assert!(config.public_url.is_some_and(|url| url.is_https()));
}

/// Every setting, given a value, is read as the type its declaration promises; one that
/// is not would make every start fail.
#[test]
fn every_setting_reads_as_its_declared_kind() {
    let sample = |key: &str| match key {
        "public_url" => "https://claw.example.com",
        "http.trusted_proxies" => "127.0.0.1, 10.0.0.0/8",
        "http.allowed_hosts" => "claw.internal, 10.0.0.5:8080",
        "gateway.command" => "/usr/local/bin/openclaw",
        "http.redirect_listen" => "[::]:80",
        "metrics.listen" => "127.0.0.1:9464",
        "tls.acme.names" => "claw.example.com, 203.0.113.5",
        "tls.acme.email" => "owner@example.com",
        "auth.oidc.issuer" => "https://accounts.google.com",
        "auth.oidc.client_id" | "auth.oidc.display_name" => "clawhost",
        "auth.session_exchange.url" => "https://auth.example.com/session-data",
        "usage.daily_token_limit" | "usage.monthly_token_limit" => "1000000",
        _ => "/srv/clawhost",
    };
    let mut vars = home();
    for setting in settings::SETTINGS {
        let value = match setting.unset {
            settings::Unset::Value(value) => value,
            settings::Unset::Means(_) => sample(setting.key),
        };
        vars.insert(setting.env_name(), value.to_string());
    }
    let config = Config::from_sources(&Flags::default(), &vars).expect("every kind reads");
    assert_eq!(config.data_dir, PathBuf::from("/srv/clawhost"));
    assert_eq!(config.trusted_proxies.len(), 2);
    assert_eq!(config.allowed_hosts.len(), 2);
    assert!(config.gateway.command.is_some() && config.public_url.is_some());
    assert_eq!(config.redirect_listen.as_deref(), Some("[::]:80"));
    assert_eq!(config.tls.acme.names.len(), 2);
    assert!(config.tls.acme.email.is_some() && config.tls.acme.ca_file.is_some());
    assert!(
        config
            .oidc
            .is_some_and(|oidc| oidc.client_secret_file.is_some())
    );
}

fn acme_env(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars = home();
    vars.insert("CLAWHOST_TLS_MODE".into(), "acme".into());
    for (name, value) in extra {
        vars.insert((*name).into(), (*value).into());
    }
    Config::from_sources(&Flags::default(), &vars)
}

/// Under ACME the names come from the public URL when not given, port 80 answers plain
/// http, and a mode without names says what to set.
#[test]
fn acme_names_default_to_the_public_urls_host() {
    let config =
        acme_env(&[("CLAWHOST_PUBLIC_URL", "https://Claw.Example.com:8443")]).expect("loads");
    assert_eq!(
        config.tls.acme.names,
        vec![AcmeName::Dns("claw.example.com".into())]
    );
    assert_eq!(
        config.redirect_listen.as_deref(),
        Some(DEFAULT_REDIRECT_LISTEN)
    );
    let config = acme_env(&[("CLAWHOST_PUBLIC_URL", "https://[2001:db8::5]")]).expect("loads");
    assert_eq!(
        config.tls.acme.names,
        vec![AcmeName::Ip("2001:db8::5".parse().expect("ip"))]
    );
    let error = acme_env(&[]).expect_err("no names").to_string();
    assert!(error.contains("tls.acme.names"), "{error}");
    let error = acme_env(&[("CLAWHOST_PUBLIC_URL", "http://claw.example.com")])
        .expect_err("plain http public URL")
        .to_string();
    assert!(error.contains("https://"), "{error}");
}

#[test]
fn acme_names_are_dns_names_or_ip_addresses() {
    let config = acme_env(&[(
        "CLAWHOST_TLS_ACME_NAMES",
        "claw.example.com, 203.0.113.5, [2001:db8::1], claw.example.com.",
    )])
    .expect("loads");
    assert_eq!(
        config.tls.acme.names.len(),
        3,
        "{:?}",
        config.tls.acme.names
    );
    for bad in [
        "*.example.com",
        "claw_example.com",
        "-claw.example.com",
        "a..b",
        "",
    ] {
        let error = acme_env(&[("CLAWHOST_TLS_ACME_NAMES", bad)])
            .expect_err(bad)
            .to_string();
        assert!(error.contains("tls.acme.names"), "{bad}: {error}");
    }
    for (name, bad) in [
        (
            "CLAWHOST_TLS_ACME_DIRECTORY",
            "http://acme.example/directory",
        ),
        ("CLAWHOST_TLS_ACME_EMAIL", "mailto:owner@example.com"),
        ("CLAWHOST_TLS_ACME_CHALLENGE", "dns-01"),
    ] {
        let extra = [("CLAWHOST_TLS_ACME_NAMES", "claw.example.com"), (name, bad)];
        assert!(acme_env(&extra).is_err(), "{name}={bad} was taken");
    }
}

/// A TOML list is the comma-separated value.
#[test]
fn a_toml_list_of_names_loads() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clawhost.toml");
    std::fs::write(
        &file,
        "[tls]\nmode = \"acme\"\n[tls.acme]\nnames = [\"claw.example.com\", \"203.0.113.5\"]\n",
    )
    .expect("write");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let config = Config::from_sources(&flags, &home()).expect("loads");
    assert_eq!(config.tls.acme.names.len(), 2);
}
