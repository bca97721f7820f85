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
        env: vec![
            ("CLAWHOST_TLS_MODE".into(), "files".into()),
            (
                "CLAWHOST_TLS_CERT_FILE".into(),
                dir.join("cert.pem").display().to_string(),
            ),
            (
                "CLAWHOST_TLS_KEY_FILE".into(),
                dir.join("key.pem").display().to_string(),
            ),
            (
                "CLAWHOST_HTTP_REDIRECT_LISTEN".into(),
                format!("127.0.0.1:{plain_port}"),
            ),
        ],
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
