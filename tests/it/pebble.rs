//! A real ACME server for the tests: Debian's `pebble`, with `pebble-challtestsrv` as its DNS
//! (every name is 127.0.0.1), validating challenges against the ports clawhost listens on.
//! Its own https uses a certificate from a throwaway CA, which clawhost is told to trust with
//! `tls.acme.ca_file`; the root it issues under is fetched from its management interface.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::certs;
use crate::harness::free_port;

/// Where pebble listens and what it validates against, chosen before it starts (so clawhost
/// can be started first, against a CA that is not there yet).
pub struct PebbleConfig {
    /// clawhost's plain-http port, where HTTP-01 is checked.
    pub http_port: u16,
    /// clawhost's https port, where TLS-ALPN-01 is checked.
    pub tls_port: u16,
    /// Lifetime of the certificates it issues, in seconds.
    pub validity_secs: u64,
    acme_port: u16,
    management_port: u16,
}

impl PebbleConfig {
    pub fn new(http_port: u16, tls_port: u16) -> Self {
        Self {
            http_port,
            tls_port,
            validity_secs: 7 * 24 * 3600,
            acme_port: free_port(),
            management_port: free_port(),
        }
    }

    pub fn directory(&self) -> String {
        format!("https://localhost:{}/dir", self.acme_port)
    }

    /// The environment that points clawhost at this CA, trusting its https through `dir`'s
    /// throwaway CA (made here if it is not there yet).
    pub fn clawhost_env(&self, dir: &Path) -> Vec<(String, String)> {
        if !dir.join("ca.pem").exists() {
            certs::ca(dir);
        }
        vec![
            ("CLAWHOST_TLS_MODE".into(), "acme".into()),
            ("CLAWHOST_TLS_ACME_DIRECTORY".into(), self.directory()),
            (
                "CLAWHOST_TLS_ACME_CA_FILE".into(),
                dir.join("ca.pem").display().to_string(),
            ),
            (
                "CLAWHOST_HTTP_REDIRECT_LISTEN".into(),
                format!("127.0.0.1:{}", self.http_port),
            ),
        ]
    }

    /// Starts pebble and its DNS, and waits until the directory answers.
    pub async fn start(&self, dir: &Path) -> Pebble {
        if !dir.join("ca.pem").exists() {
            certs::ca(dir);
        }
        certs::leaf_for(
            dir,
            "localhost",
            "DNS:localhost,IP:127.0.0.1",
            "pebble-cert.pem",
            "pebble-key.pem",
        );
        let dns_port = free_port();
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{}", self.acme_port),
            "managementListenAddress": format!("127.0.0.1:{}", self.management_port),
            "certificate": dir.join("pebble-cert.pem"),
            "privateKey": dir.join("pebble-key.pem"),
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": self.validity_secs,
        }});
        let config_file = dir.join("pebble.json");
        std::fs::write(&config_file, config.to_string()).expect("pebble config");

        let mut children = Vec::new();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble-challtestsrv (scripts/test installs pebble)");
        let dns = ready(dns, "Starting challenge servers");
        children.push(dns);
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pebble");
        children.push(ready(pebble, "ACME directory available at"));

        let ca = std::fs::read(dir.join("ca.pem")).expect("ca");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
            .build()
            .expect("client");
        let management = |what: &str| {
            let request = client.get(format!(
                "https://127.0.0.1:{}/{what}/0",
                self.management_port
            ));
            async move {
                let response = request.send().await.expect("pebble's management");
                response.bytes().await.expect("a certificate").to_vec()
            }
        };
        Pebble {
            root_pem: management("roots").await,
            intermediate_pem: management("intermediates").await,
            children,
        }
    }
}

/// Waits (up to 30 s) for `child` to print `line` on stdout; its output is drained after.
fn ready(mut child: Child, line: &str) -> Child {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let wanted = line.to_string();
    std::thread::spawn(move || {
        for text in BufReader::new(stdout).lines() {
            let Ok(text) = text else { break };
            if text.contains(&wanted) {
                let _ = tx.send(());
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("{line:?} was never printed");
    }
    child
}

pub struct Pebble {
    /// The root its certificates chain to (made anew at each start).
    pub root_pem: Vec<u8>,
    /// The intermediate it signs with, which the served chain carries.
    pub intermediate_pem: Vec<u8>,
    children: Vec<Child>,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
