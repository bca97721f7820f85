//! `tls.mode = "acme"` against a real ACME server (pebble): a DNS name by TLS-ALPN-01 and an
//! IP address by HTTP-01 (after TLS-ALPN-01 fails under `auto`), each chain verified against
//! pebble's root; renewal of short-lived certificates; a CA that is down at the first start.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Client, Options, TestServer, eventually, free_port};
use crate::pebble::PebbleConfig;

pub const NAME: &str = "clawhost.test";
/// The acceptance bound: a certificate from the CA within this long of the start.
const FIRST_CERTIFICATE: Duration = Duration::from_secs(30);

/// The certificate the server presents to a new client (no session to resume, whose
/// certificate would be the old one), if that client accepts it.
async fn presented(server: &TestServer, name: &str, root: Option<&[u8]>) -> Option<Vec<u8>> {
    let client = server.https_client(name, root);
    let response = client.http.get(client.url("/healthz")).send().await.ok()?;
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
}

fn start(dir: &Path, ca: &PebbleConfig, names: &str, challenge: &str) -> TestServer {
    let mut env = ca.clawhost_env(dir);
    env.push(("CLAWHOST_TLS_ACME_NAMES".into(), names.into()));
    env.push(("CLAWHOST_TLS_ACME_CHALLENGE".into(), challenge.into()));
    TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{}", ca.tls_port)),
        env,
        ..Options::default()
    })
}

/// A client of `server` at `name` that trusts only what chains to `root` (pebble's), once
/// the server presents such a certificate.
pub async fn trusting(server: &TestServer, name: &str, root: &[u8]) -> Client {
    let issued = eventually(FIRST_CERTIFICATE, || async {
        presented(server, name, Some(root)).await.is_some()
    })
    .await;
    assert!(
        issued.is_some(),
        "no certificate from the CA within {FIRST_CERTIFICATE:?}:\n{}",
        server.log()
    );
    server.https_client(name, Some(root))
}

pub async fn claim(server: &TestServer, client: &Client) {
    let code = server.claim_code();
    let response = server.claim_with(client, &code).await;
    assert_eq!(response.status(), 201, "claim over https");
}

async fn event_kinds(client: &Client) -> Vec<String> {
    let events = client.json("/api/auth/events?limit=100").await;
    events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("file").permissions().mode() & 0o777
}

#[tokio::test]
async fn a_dns_name_by_tls_alpn_01_is_served_and_renewed() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    // Only TLS-ALPN-01 is answered (`tls.acme.challenge`), on the https listener.
    let mut ca = PebbleConfig::new(free_port(), free_port());
    ca.validity_secs = 30;
    let pebble = ca.start(dir).await;
    let server = start(dir, &ca, NAME, "tls-alpn-01");
    let client = trusting(&server, NAME, &pebble.root_pem).await;
    let root = Some(pebble.root_pem.as_slice());
    let first = presented(&server, NAME, root).await.expect("a certificate");

    claim(&server, &client).await;
    let tls = client.json("/api/tls").await;
    assert_eq!(tls["mode"], "acme");
    assert_eq!(tls["names"], serde_json::json!([NAME]));
    assert!(
        tls["issuer"].as_str().is_some_and(|i| i.contains("Pebble")),
        "{tls}"
    );
    assert!(
        tls["not_after"].is_string() && tls["last_error"].is_null(),
        "{tls}"
    );
    // HSTS over https.
    let page = client.get_html("/").await;
    assert!(page.headers().contains_key("strict-transport-security"));
    let dashboard = client.get_html("/").await.text().await.expect("page");
    assert!(
        dashboard.contains("Pebble"),
        "the dashboard names the issuer"
    );

    // Kept privately in the data directory.
    let acme = server.data_dir().join("acme");
    for file in ["account.json", "certificate.pem", "certificate.key"] {
        assert_eq!(mode(&acme.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&acme), 0o700);

    // A third of 30 s left: renewed, and the new one served without a restart.
    let renewed = eventually(Duration::from_secs(45), || async {
        presented(&server, NAME, root)
            .await
            .is_some_and(|now| now != first)
    })
    .await;
    assert!(renewed.is_some(), "never renewed:\n{}", server.log());
    let events = client.json("/api/auth/events?limit=100").await;
    assert!(events.to_string().contains("by tls-alpn-01"), "{events}");
    let kinds = event_kinds(&client).await;
    assert!(
        kinds.iter().any(|k| k == "certificate_issued")
            && kinds.iter().any(|k| k == "certificate_renewed"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn an_ip_address_by_http_01_when_tls_alpn_01_cannot_be_reached() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let http_port = free_port();
    // Pebble checks TLS-ALPN-01 on a port nothing listens on: under `auto` the first attempt
    // fails and the next one answers HTTP-01 on the plain-http listener.
    let ca = PebbleConfig::new(http_port, free_port());
    let pebble = ca.start(dir).await;
    let port = free_port();
    let mut env = ca.clawhost_env(dir);
    env.push(("CLAWHOST_TLS_ACME_NAMES".into(), "127.0.0.1".into()));
    let server = TestServer::start_with(Options {
        listen: Some(format!("127.0.0.1:{port}")),
        env,
        ..Options::default()
    });
    // The public URL is the IP's; a client checks the certificate names the IP.
    let client = trusting(&server, "127.0.0.1", &pebble.root_pem).await;
    claim(&server, &client).await;
    let tls = client.json("/api/tls").await;
    assert_eq!(tls["names"], serde_json::json!(["127.0.0.1"]), "{tls}");
    let kinds = event_kinds(&client).await;
    assert!(kinds.iter().any(|k| k == "certificate_failed"), "{kinds:?}");
    let events = client.json("/api/auth/events?limit=100").await;
    let issued = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "certificate_issued")
        .expect("issued");
    assert!(
        issued["detail"]
            .as_str()
            .is_some_and(|d| d.contains("http-01")),
        "{issued}"
    );

    // Plain http: 308 to the https public URL, without HSTS; the challenge path answers
    // nothing once the order is done.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirected = plain
        .get(format!("http://127.0.0.1:{http_port}/dashboard"))
        .send()
        .await
        .expect("plain http");
    assert_eq!(redirected.status(), 308);
    assert_eq!(
        redirected.headers()["location"],
        format!("https://127.0.0.1:{port}/dashboard")
    );
    assert!(
        !redirected
            .headers()
            .contains_key("strict-transport-security")
    );
    let stale = plain
        .get(format!(
            "http://127.0.0.1:{http_port}/.well-known/acme-challenge/old"
        ))
        .send()
        .await
        .expect("plain http");
    assert_eq!(stale.status(), 404);
}

#[tokio::test]
async fn a_ca_that_is_down_at_the_first_start_is_tried_again() {
    let dir = tempfile::tempdir().expect("dir");
    let dir = dir.path();
    let ca = PebbleConfig::new(free_port(), free_port());
    let server = start(dir, &ca, NAME, "auto");

    // clawhost is up, serving its stand-in, and says why there is no certificate yet.
    let stand_in = server.https_client(NAME, None);
    claim(&server, &stand_in).await;
    let failed = eventually(Duration::from_secs(20), || async {
        stand_in.json("/api/tls").await["last_error"].is_string()
    })
    .await;
    assert!(failed.is_some(), "{}", server.log());
    let tls = stand_in.json("/api/tls").await;
    assert!(tls["not_after"].is_null(), "{tls}");
    let error = tls["last_error"].as_str().expect("error");
    assert!(error.contains(&ca.directory()), "{error}");
    let dashboard = stand_in.get_html("/").await.text().await.expect("page");
    assert!(dashboard.contains("The last attempt to get a certificate failed"));

    // The CA comes up: the next attempt gets a certificate, and the error is gone.
    let pebble = ca.start(dir).await;
    let issued = eventually(Duration::from_mins(1), || async {
        presented(&server, NAME, Some(&pebble.root_pem))
            .await
            .is_some()
    })
    .await;
    assert!(issued.is_some(), "{}", server.log());
    let tls = stand_in.json("/api/tls").await;
    assert!(
        tls["last_error"].is_null() && tls["not_after"].is_string(),
        "{tls}"
    );

    // Restarted while the CA is gone: the kept certificate is served from the first
    // handshake, and nothing is asked of the CA before renewal is due.
    let root = pebble.root_pem.clone();
    drop(pebble);
    let data = server.into_data();
    let mut env = ca.clawhost_env(dir);
    env.push(("CLAWHOST_TLS_ACME_NAMES".into(), NAME.into()));
    let server = TestServer::start_in(
        data,
        Options {
            listen: Some(format!("127.0.0.1:{}", ca.tls_port)),
            env,
            ..Options::default()
        },
    );
    assert!(
        presented(&server, NAME, Some(&root)).await.is_some(),
        "the kept certificate is not served:\n{}",
        server.log()
    );
    let owner = server.https_client(NAME, Some(&root));
    let response = owner
        .post(
            "/api/auth/login",
            &serde_json::json!({"password": crate::harness::PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tls = owner.json("/api/tls").await;
    assert!(
        tls["not_after"].is_string() && tls["last_error"].is_null(),
        "{tls}"
    );
}

/// The other two pairings: an IP address by TLS-ALPN-01 (the CA asks for its reverse-DNS
/// name in SNI) and a DNS name by HTTP-01.
#[tokio::test]
async fn an_ip_by_tls_alpn_01_and_a_name_by_http_01() {
    for (name, challenge) in [("127.0.0.1", "tls-alpn-01"), (NAME, "http-01")] {
        let dir = tempfile::tempdir().expect("dir");
        let dir = dir.path();
        let ca = PebbleConfig::new(free_port(), free_port());
        let pebble = ca.start(dir).await;
        let server = start(dir, &ca, name, challenge);
        let client = trusting(&server, name, &pebble.root_pem).await;
        claim(&server, &client).await;
        let events = client.json("/api/auth/events?limit=100").await;
        assert!(
            events
                .to_string()
                .contains(&format!("{name} by {challenge}")),
            "{events}"
        );
    }
}
