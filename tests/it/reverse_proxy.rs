//! The README's nginx configuration, run as written (names, ports and paths replaced) in
//! front of clawhost over real TLS: the Host passes, an owner claims and signs in, a start's
//! progress streams without being held back, and a Control UI socket reaches clawhost as a
//! socket.

use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Options, PASSWORD, TestServer, free_port};

const NAME: &str = "claw.test";

/// The README's first fenced block of `language` that holds `marker`.
fn readme_block(language: &str, marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let fence = format!("```{language}\n");
    readme
        .split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no {language} block with {marker} in the README"))
        .to_string()
}

/// `text` with `from` replaced by `to`, which must be there: a README that drifted from
/// what this test replaces fails here, not later with a puzzling error.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the README's nginx block no longer has `{from}`"
    );
    text.replace(from, to)
}

/// nginx in the foreground, one process, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(dir: &Path, site: &str, https: u16) -> Nginx {
    std::fs::write(dir.join("clawhost.conf"), site).expect("site");
    // As root, nginx would hand requests to workers running as nobody, who cannot use this
    // private temp dir; one process does it all here.
    let root = std::fs::metadata("/proc/self").expect("self").uid() == 0;
    let main = format!(
        "{user}daemon off;\nmaster_process off;\nerror_log {dir}/error.log info;\npid {dir}/nginx.pid;\n\
events {{ worker_connections 64; }}\n\
http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
  include {dir}/clawhost.conf;\n}}\n",
        user = if root { "user root;\n" } else { "" },
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("nginx.conf");
    let nginx = if Path::new("/usr/sbin/nginx").is_file() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let conf = dir.join("nginx.conf");
    let command = || {
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null());
        command
    };
    let check = command()
        .arg("-t")
        .output()
        .expect("nginx -t (scripts/test installs nginx)");
    assert!(check.status.success(), "nginx -t: {check:?}");
    let child = command().spawn().expect("nginx");
    let nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", https)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[tokio::test]
async fn the_readmes_nginx_configuration_works() {
    let dir = tempfile::tempdir().expect("dir");
    crate::certs::ca(dir.path());
    crate::certs::leaf(dir.path(), NAME, "fullchain.pem", "privkey.pem");
    std::fs::create_dir_all(dir.path().join("www")).expect("www");
    let (https, http) = (free_port(), free_port());
    let origin = format!("https://{NAME}:{https}");

    // clawhost as the README's clawhost.toml sets it (its listen address aside).
    let toml = readme_block("toml", "trusted_proxies");
    assert!(
        toml.contains("public_url = \"https://claw.example.com\""),
        "{toml}"
    );
    assert!(
        toml.contains("trusted_proxies = \"127.0.0.1, ::1\""),
        "{toml}"
    );
    let server = TestServer::start_with(Options {
        public_url: Some(origin.clone()),
        env: vec![(
            "CLAWHOST_HTTP_TRUSTED_PROXIES".into(),
            "127.0.0.1, ::1".into(),
        )],
        ..Options::default()
    });

    let mut site = readme_block("nginx", "proxy_pass");
    let dir_text = dir.path().display().to_string();
    // Where this machine has no IPv6 loopback, nginx listens on IPv4 only.
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let v6 = |listen: String| {
        if ipv6 {
            listen
        } else {
            "# no IPv6 loopback on this machine".to_string()
        }
    };
    for (from, to) in [
        ("claw.example.com", NAME.to_string()),
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        (
            "listen [::]:443 ssl;",
            v6(format!("listen [::1]:{https} ssl;")),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("listen [::]:80;", v6(format!("listen [::1]:{http};"))),
        ("/etc/letsencrypt/live/claw.test/", format!("{dir_text}/")),
        ("/var/www/html", format!("{dir_text}/www")),
        ("http://127.0.0.1:8080", server.base.clone()),
    ] {
        site = replaced(&site, from, &to);
    }
    let _nginx = start_nginx(dir.path(), &site, https);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(dir.path().join("ca.pem")).expect("ca");
    let client = reqwest::Client::builder()
        .resolve(NAME, ([127, 0, 0, 1], https).into())
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca"))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = |path: &str| format!("{origin}{path}");

    // Plain http is sent to https.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{http}/login"))
        .header("host", NAME)
        .send()
        .await
        .expect("http");
    assert_eq!(plain.status(), 301);
    assert_eq!(plain.headers()["location"], format!("https://{NAME}/login"));

    // HSTS arrives once, from clawhost (the sample adds none of its own).
    let page = client.get(url("/login")).send().await.expect("login page");
    assert_eq!(
        page.headers()
            .get_all("strict-transport-security")
            .iter()
            .count(),
        1
    );

    // The Host passes as the browser sent it, so clawhost answers; the claim's Origin too.
    assert_eq!(
        client
            .get(url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let code = server.claim_code();
    let claimed = client
        .post(url("/api/auth/claim"))
        .header("origin", &origin)
        .json(&json!({"code": code, "password": PASSWORD}))
        .send()
        .await
        .expect("claim");
    assert_eq!(claimed.status(), 201, "{:?}", claimed.text().await);
    let me: serde_json::Value = client
        .get(url("/api/auth/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert!(me["session"]["id"].is_string(), "{me}");

    // A start's progress streams at once, not when nginx's buffer is full.
    let mut events = client
        .get(url("/api/gateway/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("the first event arrives through nginx within 10 s")
        .expect("chunk")
        .expect("a chunk");
    assert!(
        String::from_utf8_lossy(&first).contains("event:"),
        "{first:?}"
    );
    drop(events);

    // A Control UI socket reaches clawhost as a socket, with its Origin: from another origin
    // clawhost refuses it (403), which it does only for an upgrade; from its own, it is
    // answered (503: no gateway runs in this test).
    let socket = |from: &str| {
        client
            .get(url("/openclaw/"))
            .header("origin", from)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let foreign = socket("https://elsewhere.test").await.expect("socket");
    assert_eq!(foreign.status(), 403, "the upgrade did not reach clawhost");
    let own = socket(&origin).await.expect("socket");
    assert_eq!(own.status(), 503, "{:?}", own.text().await);
    server.secret(&code);
}
