//! clawhost serving https itself from certificate files (`tls.mode = "files"`): the chain a
//! client verifies against its CA, HSTS and the `__Host-` cookie, and a renewal picked up
//! without a restart, while a broken pair keeps the old certificate.

use std::path::Path;
use std::time::Duration;

use crate::certs;
use crate::harness::{Options, TestServer, eventually, free_port};

const NAME: &str = "claw.test";
/// What the log says when changed files cannot be used.
const KEPT: &str = "cannot be used; still serving the previous certificate";

fn https_client(dir: &Path, port: u16) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(dir.join("ca.pem")).expect("ca");
    reqwest::Client::builder()
        .resolve(NAME, ([127, 0, 0, 1], port).into())
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The certificate the server presented on a fresh connection.
async fn served(dir: &Path, port: u16) -> Vec<u8> {
    let response = https_client(dir, port)
        .get(format!("https://{NAME}:{port}/healthz"))
        .send()
        .await
        .expect("https");
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer certificate")
        .to_vec()
}

fn files_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("CLAWHOST_TLS_MODE".into(), "files".into()),
        (
            "CLAWHOST_TLS_CERT_FILE".into(),
            dir.join("cert.pem").display().to_string(),
        ),
        (
            "CLAWHOST_TLS_KEY_FILE".into(),
            dir.join("key.pem").display().to_string(),
        ),
    ]
}

/// sslyze (from PyPI) against the TLS listener: nothing below TLS 1.2, only forward-secret
/// AEAD suites, no renegotiation by the client, no compression, none of the known attacks.
#[tokio::test]
async fn sslyze_finds_no_weak_protocol_or_suite() {
    let sslyze = crate::harness::pypi_tool("SSLYZE_BIN", "sslyze", "sslyze");
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    certs::ca(dir);
    certs::leaf(dir, NAME, "cert.pem", "key.pem");
    let port = free_port();
    let _server = TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(format!("https://{NAME}:{port}")),
        env: files_env(dir),
        ..Options::default()
    });
    let report = dir.join("sslyze.json");
    let output = tokio::process::Command::new(sslyze)
        .arg("--quiet")
        .arg(format!("--json_out={}", report.display()))
        .args([
            "--sslv2",
            "--sslv3",
            "--tlsv1",
            "--tlsv1_1",
            "--tlsv1_2",
            "--tlsv1_3",
        ])
        .args([
            "--reneg",
            "--compression",
            "--heartbleed",
            "--robot",
            "--openssl_ccs",
        ])
        .args(["--fallback", "--mozilla_config=disable"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .await
        .expect("run sslyze");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let scan = &report["server_scan_results"][0]["scan_result"];
    let result = |command: &str| {
        let outcome = &scan[command];
        assert_eq!(outcome["status"], "COMPLETED", "{command}: {outcome}");
        outcome["result"].clone()
    };
    let suites = |command: &str| -> Vec<String> {
        result(command)["accepted_cipher_suites"]
            .as_array()
            .expect("suites")
            .iter()
            .map(|s| {
                s["cipher_suite"]["name"]
                    .as_str()
                    .expect("name")
                    .to_string()
            })
            .collect()
    };
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert_eq!(suites(old), Vec::<String>::new(), "{old}");
    }
    let tls12 = suites("tls_1_2_cipher_suites");
    assert!(!tls12.is_empty());
    for suite in &tls12 {
        let strong = suite.starts_with("TLS_ECDHE_")
            && (suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305"));
        assert!(strong, "weak TLS 1.2 suite {suite}");
    }
    assert!(!suites("tls_1_3_cipher_suites").is_empty());
    let renegotiation = result("session_renegotiation");
    assert_eq!(
        renegotiation["is_vulnerable_to_client_renegotiation_dos"],
        false
    );
    assert_eq!(renegotiation["client_renegotiations_success_count"], 0);
    assert_eq!(result("tls_compression")["supports_compression"], false);
    assert_eq!(result("heartbleed")["is_vulnerable_to_heartbleed"], false);
    assert_eq!(
        result("openssl_ccs_injection")["is_vulnerable_to_ccs_injection"],
        false
    );
    assert_eq!(result("tls_fallback_scsv")["supports_fallback_scsv"], true);
    let robot = result("robot")["robot_result"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(robot.starts_with("NOT_VULNERABLE"), "{robot}");
}

/// A client that offers HTTP/2 gets it (ALPN): pages, the API and a state change work, the
/// host is read from `:authority`, and a foreign one is refused as over HTTP/1.1.
#[tokio::test]
async fn http2_when_the_client_offers_it() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    certs::ca(dir);
    certs::leaf(dir, NAME, "cert.pem", "key.pem");
    let port = free_port();
    let server = TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(format!("https://{NAME}:{port}")),
        env: files_env(dir),
        ..Options::default()
    });
    let ca = std::fs::read(dir.join("ca.pem")).expect("ca");
    let client = server.https_client(NAME, Some(&ca));
    let page = client.get_html("/claim").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.version(), reqwest::Version::HTTP_2);
    assert!(page.headers().contains_key("strict-transport-security"));
    let code = server.claim_code();
    let claimed = server.claim_with(&client, &code).await;
    assert_eq!(claimed.status(), 201);
    assert_eq!(claimed.version(), reqwest::Version::HTTP_2);
    let me = client.get("/api/auth/me").await;
    assert_eq!(me.status(), 200);

    // Another name for the same address: refused like over HTTP/1.1.
    let other = "other.test";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let foreign = reqwest::Client::builder()
        .resolve(other, server.addr)
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client")
        .get(format!("https://{other}:{port}/api/auth/instance"))
        .send()
        .await
        .expect("h2");
    assert_eq!(foreign.version(), reqwest::Version::HTTP_2);
    assert_eq!(foreign.status(), 421);
}

#[tokio::test]
async fn https_from_certificate_files_renews_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    certs::ca(dir);
    certs::leaf(dir, NAME, "cert.pem", "key.pem");
    let first = certs::first_der(&dir.join("cert.pem"));
    let port = free_port();
    let plain_port = free_port();
    let server = TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{port}")),
        public_url: Some(format!("https://{NAME}:{port}")),
        env: [
            files_env(dir),
            vec![(
                "CLAWHOST_HTTP_REDIRECT_LISTEN".into(),
                format!("127.0.0.1:{plain_port}"),
            )],
        ]
        .concat(),
        ..Options::default()
    });

    // The chain verifies against the CA, for the name; the answers are the https ones.
    assert_eq!(served(dir, port).await, first);
    let page = https_client(dir, port)
        .get(format!("https://{NAME}:{port}/claim"))
        .send()
        .await
        .expect("claim page");
    assert!(page.headers().contains_key("strict-transport-security"));
    // Plain http on the redirect listener goes to the same page over https, at the public
    // URL whatever host the request names.
    let redirected = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{plain_port}/claim?next=%2Fsetup"))
        .header("host", "elsewhere.example")
        .send()
        .await
        .expect("plain http");
    assert_eq!(redirected.status(), 308);
    assert_eq!(
        redirected.headers()["location"],
        format!("https://{NAME}:{port}/claim?next=%2Fsetup")
    );
    // Plain http to the TLS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.expect("answer").status().is_success());

    // Renewed by something else: written in place, served on the next connection.
    certs::leaf(dir, NAME, "cert.pem", "key.pem");
    let second = certs::first_der(&dir.join("cert.pem"));
    assert_ne!(first, second);
    let renewed = eventually(Duration::from_secs(30), || async {
        served(dir, port).await == second
    })
    .await;
    assert!(
        renewed.is_some(),
        "the renewed certificate was never served"
    );
    assert!(
        server.log().contains("serving the renewed certificate"),
        "{}",
        server.log()
    );

    // A key that is not the certificate's: the old pair stays, and the log says why. (The
    // renewal above may have been caught halfway once too, so a new warning is waited for.)
    let warned = server.log().matches(KEPT).count();
    certs::leaf(dir, NAME, "other-cert.pem", "other-key.pem");
    std::fs::copy(dir.join("other-key.pem"), dir.join("key.pem")).expect("copy");
    let refused = eventually(Duration::from_secs(30), || async {
        server.log().matches(KEPT).count() > warned
    })
    .await;
    assert!(refused.is_some(), "{}", server.log());
    assert_eq!(
        served(dir, port).await,
        second,
        "the old pair is still served"
    );
}
