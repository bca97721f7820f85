//! The device inbox on a real gateway (called from the gateway's lifecycle test): devices
//! elsewhere ask to be paired, the owner approves or rejects one request at a time through
//! clawhost, and removes a paired device.
//!
//! A device here is a client of the test's own that speaks OpenClaw's device handshake
//! (Ed25519 identity, the signed `connect`), reaching the gateway through clawhost's `/remote`
//! as it would behind a reverse proxy (the test's server trusts loopback's
//! `X-Forwarded-For`): clawhost adds the gateway's credential, the gateway treats the device
//! as remote and never pairs it silently, and nothing that comes back carries the credential.

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use ring::signature::KeyPair;
use serde_json::{Value, json};
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Client, Options, PASSWORD, TestServer, assert_problem, eventually};

/// An OpenClaw device: its key pair, its id (the SHA-256 of its public key, in hex), and
/// every frame it was sent.
pub struct Device {
    key: ring::signature::Ed25519KeyPair,
    id: String,
    public_key: String,
    received: std::sync::Mutex<Vec<String>>,
    /// The `Host` it names, when clawhost answers only its public URL's.
    host: Option<String>,
}

impl Device {
    pub fn new() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
        let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let public = key.public_key().as_ref().to_vec();
        let id = sha2::Sha256::digest(&public)
            .iter()
            .fold(String::new(), |mut hex, b| {
                use std::fmt::Write;
                let _ = write!(hex, "{b:02x}");
                hex
            });
        Self {
            key,
            id,
            public_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&public),
            received: std::sync::Mutex::default(),
            host: None,
        }
    }

    /// The same device, naming `host` (`name:port`) in its requests.
    pub fn at_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// Connects through clawhost (`base`, its http URL) from `address` with `auth` (a
    /// password of its own the first time, as the `openclaw` CLI must give one; its
    /// `{"deviceToken"}` once paired): the gateway's `hello-ok`, or its error.
    async fn connect(&self, base: &str, address: &str, auth: Value) -> Result<Value, Value> {
        self.connect_via(base, Via::Remote(address), auth).await
    }

    async fn connect_via(&self, base: &str, via: Via<'_>, auth: Value) -> Result<Value, Value> {
        let path = match via {
            Via::Remote(_) => "/remote",
            Via::ControlUi { .. } => "/openclaw/",
        };
        let url = format!("{}{path}", base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("request");
        let headers = request.headers_mut();
        match via {
            Via::Remote(address) => {
                headers.insert("x-forwarded-for", address.parse().expect("header"));
            }
            Via::ControlUi { session, .. } => {
                let cookie = format!("clawhost_session={session}");
                headers.insert("cookie", cookie.parse().expect("header"));
                headers.insert("origin", base.parse().expect("header"));
            }
        }
        if let Some(host) = &self.host {
            request
                .headers_mut()
                .insert("host", host.parse().expect("header"));
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| json!({"message": e.to_string()}))?;
        let challenge = loop {
            match tokio::time::timeout(Duration::from_secs(10), self.next_frame(&mut socket)).await
            {
                Ok(Some(frame)) if frame["event"] == "connect.challenge" => {
                    break frame["payload"].clone();
                }
                Ok(Some(_)) => {}
                _ => return Err(json!({"message": "no challenge"})),
            }
        };
        // Through the Control UI's proxy it says it is the Control UI, as a page there would.
        let (client, mode) = match via {
            Via::Remote(_) => ("cli", "cli"),
            Via::ControlUi { .. } => ("openclaw-control-ui", "webchat"),
        };
        let (role, scopes) = ("operator", "operator.read");
        let nonce = challenge["nonce"].as_str().expect("nonce");
        let signed_at = challenge["ts"].as_i64().expect("ts");
        let token = auth["token"]
            .as_str()
            .or_else(|| auth["deviceToken"].as_str())
            .unwrap_or_default();
        let signed = format!(
            "v3|{}|{client}|{mode}|{role}|{scopes}|{signed_at}|{token}|{nonce}|linux|",
            self.id
        );
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.key.sign(signed.as_bytes()).as_ref());
        let connect = json!({"type": "req", "id": "connect", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": client, "displayName": "a test device", "version": "2026.9.6",
                       "platform": "linux", "mode": mode},
            "role": role, "scopes": [scopes], "auth": auth,
            "device": {"id": self.id, "publicKey": self.public_key, "signature": signature,
                       "signedAt": signed_at, "nonce": nonce},
        }});
        let mut connect = connect;
        if let Via::ControlUi {
            build: Some(build), ..
        } = via
        {
            connect["params"]["client"]["buildId"] = json!(build);
        }
        socket
            .send(Message::text(connect.to_string()))
            .await
            .map_err(|e| json!({"message": e.to_string()}))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.next_frame(&mut socket)).await
            {
                Ok(Some(frame)) if frame["type"] == "res" && frame["id"] == "connect" => {
                    let _ = socket.close(None).await;
                    return if frame["ok"] == true {
                        Ok(frame["payload"].clone())
                    } else {
                        Err(frame["error"].clone())
                    };
                }
                Ok(Some(_)) => {}
                _ => return Err(json!({"message": "no answer to connect"})),
            }
        }
    }

    /// The next JSON frame, or `None` once the socket closes.
    async fn next_frame(&self, socket: &mut Socket) -> Option<Value> {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    self.received
                        .lock()
                        .expect("frames")
                        .push(text.as_str().to_owned());
                    if let Ok(frame) = serde_json::from_str(text.as_str()) {
                        return Some(frame);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    self.received
                        .lock()
                        .expect("frames")
                        .push(format!("closed: {reason}"));
                    return None;
                }
                Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Connects for the first time: the gateway refuses it until paired, and names the
    /// pairing request it made.
    pub async fn asks(&self, base: &str, address: &str) -> String {
        let refused = self
            .connect(base, address, FIRST_TIME.clone())
            .await
            .expect_err("pairing required");
        assert_eq!(refused["details"]["code"], "PAIRING_REQUIRED", "{refused}");
        refused["details"]["requestId"]
            .as_str()
            .expect("request id")
            .to_owned()
    }
}

/// Where a device's socket goes in through clawhost.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// `/remote`, from this address (behind the test's trusted proxy).
    Remote(&'a str),
    /// The Control UI's proxy, with the owner's session, as a page on clawhost's origin.
    /// The Control UI's build must match the gateway's (`client.buildId`).
    ControlUi {
        session: &'a str,
        build: Option<&'a str>,
    },
}

/// What a device sends the first time: a password of its own (the CLI insists on one), which
/// clawhost replaces with the gateway's credential.
static FIRST_TIME: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| json!({"password": "clawhost"}));

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn pending_ids(owner: &Client) -> Vec<String> {
    let devices = owner.json("/api/devices").await;
    devices["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter_map(|p| p["request_id"].as_str().map(str::to_owned))
        .collect()
}

/// `base`: clawhost's http URL; `token`: the gateway's credential, which no device ever sees.
pub async fn pairing_goes_through_the_owner(owner: &Client, base: &str, token: &str) {
    let (phone, laptop) = (Device::new(), Device::new());
    let live = owner.get("/api/devices/events").await;
    assert_eq!(live.status(), 200);
    let phone_asks = phone.asks(base, "203.0.113.5").await;
    // Told at once, from the gateway's event (the list is read again every 30 s without one).
    crate::gateway::read_events(live, Duration::from_secs(5), |name, devices| {
        name == "devices"
            && devices["pending"]
                .as_array()
                .is_some_and(|p| p.iter().any(|r| r["request_id"] == phone_asks.as_str()))
    })
    .await;
    let dashboard = owner.page_text("/").await;
    assert!(dashboard.contains("1 device asks to pair"), "{dashboard}");
    // In the inbox within 2 s, with what the gateway knows of it.
    let listed = eventually(Duration::from_secs(2), || async {
        pending_ids(owner).await.contains(&phone_asks)
    })
    .await;
    assert!(listed.is_some(), "{}", owner.json("/api/devices").await);
    let devices = owner.json("/api/devices").await;
    let request = devices["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .find(|p| p["request_id"] == phone_asks.as_str())
        .expect("the phone's request")
        .clone();
    assert_eq!(request["device_id"], phone.id.as_str(), "{request}");
    assert_eq!(request["remote_ip"], "203.0.113.5", "{request}");
    assert_eq!(request["client"], "cli", "{request}");
    assert_eq!(request["scopes"], json!(["operator.read"]), "{request}");
    let laptop_asks = laptop.asks(base, "198.51.100.7").await;

    // One request at a time: approving the phone's leaves the laptop's waiting.
    let reauth = owner
        .post("/api/auth/reauthenticate", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(reauth.status(), 204);
    let approved = owner
        .post_empty(&format!("/api/devices/pending/{phone_asks}/approve"))
        .await;
    assert_eq!(approved.status(), 204);
    let waiting = pending_ids(owner).await;
    assert!(
        waiting.contains(&laptop_asks) && !waiting.contains(&phone_asks),
        "{waiting:?}"
    );
    let hello = phone
        .connect(base, "203.0.113.5", FIRST_TIME.clone())
        .await
        .expect("the phone is paired");
    let device_token = hello["auth"]["deviceToken"]
        .as_str()
        .expect("a device token")
        .to_owned();
    // From now on the phone needs only its own token.
    phone
        .connect(base, "203.0.113.5", json!({"deviceToken": device_token}))
        .await
        .expect("the device token opens");

    // Named by the owner: shown instead of the name it gave itself; a name that is not one,
    // or a device the gateway does not know, changes nothing.
    let named = |name: &str| json!({"name": name});
    let path = format!("/api/devices/{}/name", phone.id);
    let renamed = owner.put(&path, &named("  Anna phone ")).await;
    assert_eq!(renamed.status(), 204);
    for bad in ["", "two\nlines", &"x".repeat(65)] {
        let refused = owner.put(&path, &named(bad)).await;
        let problem = assert_problem(refused, 422).await;
        assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    }
    let unknown = owner
        .put(
            &format!("/api/devices/{}/name", "0".repeat(64)),
            &named("x"),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let page_renamed = owner
        .post_form(
            &format!("/devices/paired/{}/rename", laptop.id),
            &[("name", "never paired")],
        )
        .await;
    assert_eq!(page_renamed.status(), 404);
    let devices = owner.json("/api/devices").await;
    let phone_now = devices["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .find(|d| d["device_id"] == phone.id.as_str())
        .expect("the phone is paired")
        .clone();
    assert_eq!(phone_now["name"], "Anna phone", "{phone_now}");
    assert!(
        owner
            .page_text("/devices")
            .await
            .contains(r#"value="Anna phone""#)
    );

    // A device paired silently as a local client through the Control UI's proxy (as script on
    // clawhost's origin or a stolen session could, with a key of its own) never gets in from
    // elsewhere: its first message there is refused before the gateway.
    let local = Device::new();
    let session = owner.session_token().expect("session");
    let as_control_ui = |build| Via::ControlUi {
        session: &session,
        build,
    };
    let first = local
        .connect_via(base, as_control_ui(None), json!({}))
        .await;
    // The gateway names its build when the page's is not it, as a reloaded page learns it.
    let build = first.as_ref().err().and_then(|e| {
        (e["details"]["code"] == "PROTOCOL_MISMATCH")
            .then(|| e["details"]["gatewayBuildId"].as_str().map(str::to_owned))
            .flatten()
    });
    if let Some(build) = build {
        local
            .connect_via(base, as_control_ui(Some(&build)), json!({}))
            .await
            .expect("paired silently as a local client");
    } else {
        first.expect("paired silently as a local client");
    }
    let refused = local.connect(base, "203.0.113.9", FIRST_TIME.clone()).await;
    assert!(refused.is_err(), "{refused:?}");
    let closed = local.received.lock().expect("frames").clone();
    assert!(
        closed
            .iter()
            .any(|f| f.contains("paired on the gateway's own machine")),
        "{closed:?}"
    );
    let removed = owner.delete(&format!("/api/devices/{}", local.id)).await;
    assert_eq!(removed.status(), 204);

    // Strangers cannot make clawhost hold many unread first messages: one address has at most
    // 2 sockets waiting to say who they are; the next waits (429) until one of them speaks.
    let from_one_address = || {
        let mut request = format!("{}/remote", base.replacen("http://", "ws://", 1))
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("x-forwarded-for", "203.0.113.77".parse().expect("header"));
        request
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let (socket, _) = tokio_tungstenite::connect_async(from_one_address())
            .await
            .expect("a socket");
        held.push(socket);
    }
    let third = tokio_tungstenite::connect_async(from_one_address()).await;
    assert!(
        matches!(&third, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429),
        "{third:?}"
    );
    held[0]
        .send(Message::text(r#"{"type":"req"}"#))
        .await
        .expect("send");
    // The gateway's challenge may come first; then the refusal closes the socket.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = held[0].next().await {
            if matches!(message, Message::Close(_)) {
                return true;
            }
        }
        true
    })
    .await;
    assert_eq!(closed, Ok(true));
    let again = tokio_tungstenite::connect_async(from_one_address()).await;
    assert!(again.is_ok(), "{again:?}");
    drop((held, again));

    // Rejected: the laptop is refused again, with a new request.
    let rejected = owner
        .post_empty(&format!("/api/devices/pending/{laptop_asks}/reject"))
        .await;
    assert_eq!(rejected.status(), 204);
    let again = laptop.asks(base, "198.51.100.7").await;
    assert_ne!(again, laptop_asks);
    // An answered request is gone: 404, never the gateway's words as a 500.
    let gone = owner
        .post_empty(&format!("/api/devices/pending/{laptop_asks}/approve"))
        .await;
    assert_eq!(gone.status(), 404);
    let odd = owner.post_empty("/api/devices/pending/a%2Fb/approve").await;
    assert_eq!(odd.status(), 404);

    // Paired, as approved by the owner; removed, its token opens nothing.
    let devices = owner.json("/api/devices").await;
    let paired = devices["paired"]
        .as_array()
        .expect("paired")
        .iter()
        .find(|d| d["device_id"] == phone.id.as_str())
        .expect("the phone is paired")
        .clone();
    assert_eq!(paired["approved_via"], "owner", "{paired}");
    let removed = owner.delete(&format!("/api/devices/{}", phone.id)).await;
    assert_eq!(removed.status(), 204);
    assert!(
        phone
            .connect(base, "203.0.113.5", json!({"deviceToken": device_token}))
            .await
            .is_err(),
        "a removed device's token still opens"
    );
    // Every frame either device was sent came from the gateway through clawhost, and none
    // carried the gateway's credential.
    for device in [&phone, &laptop] {
        let received = device.received.lock().expect("frames");
        assert!(received.len() >= 4, "{received:?}");
        assert!(received.iter().all(|frame| !frame.contains(token)));
    }
    let kinds = owner.event_kinds().await;
    for kind in [
        "device_approved",
        "device_rejected",
        "device_removed",
        "device_renamed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }

    // The page shows the laptop's new request with where it came from, and answers it with
    // the same fresh step-up.
    let page = owner.page_text("/devices").await;
    assert!(
        page.contains(&again) && page.contains("198.51.100.7") && page.contains("cli on linux"),
        "{page}"
    );
    assert!(page.contains("No device is paired."), "{page}");
    let answered = owner
        .post_form(&format!("/devices/pending/{again}/reject"), &[])
        .await;
    assert_eq!(answered.status(), 303);
    assert_eq!(answered.headers()["location"], "/devices");
    assert!(!pending_ids(owner).await.contains(&again));
    let gone = owner
        .post_form(&format!("/devices/pending/{again}/approve"), &[])
        .await;
    assert_eq!(gone.status(), 404);
    assert!(gone.text().await.expect("page").contains("<html"));

    // New identities are bounded from every address together: a flood of them cannot fill
    // the owner's inbox (a burst of 10, then one every 10 s).
    let mut asked = Vec::new();
    let mut cut_off = None;
    for n in 1..=20 {
        let stranger = Device::new();
        let address = format!("198.18.0.{n}");
        match stranger.connect(base, &address, FIRST_TIME.clone()).await {
            Err(refused) if refused["details"]["code"] == "PAIRING_REQUIRED" => {
                asked.push(
                    refused["details"]["requestId"]
                        .as_str()
                        .expect("id")
                        .to_owned(),
                );
            }
            Err(_) => {
                cut_off = Some(stranger);
                break;
            }
            Ok(hello) => panic!("a new device got in: {hello}"),
        }
    }
    let cut_off = cut_off.expect("the flood was never cut off");
    assert!((1..=10).contains(&asked.len()), "{asked:?}");
    let closed = cut_off.received.lock().expect("frames").clone();
    assert!(
        closed.iter().any(|f| f.contains("too many new devices")),
        "{closed:?}"
    );
    for request in asked {
        let rejected = owner
            .post_empty(&format!("/api/devices/pending/{request}/reject"))
            .await;
        assert_eq!(rejected.status(), 204);
    }
}

/// An upgrade request to `/remote`, as OpenClaw's apps send it (no Origin), from `address`
/// when given (the test's server trusts loopback's `X-Forwarded-For`).
fn upgrade(server: &TestServer, address: Option<&str>) -> reqwest::RequestBuilder {
    let request = server
        .bare_client()
        .get(server.url("/remote"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    match address {
        Some(address) => request.header("x-forwarded-for", address),
        None => request,
    }
}

#[tokio::test]
async fn remote_clients_are_refused_before_the_gateway() {
    // Off by default: nothing answers at /remote.
    let off = TestServer::start();
    let refused = upgrade(&off, Some("203.0.113.5"))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(refused, 404).await;
    assert!(problem.to_string().contains("devices.remote"), "{problem}");
    // …and no setup code names it.
    let owner = off.claimed().await;
    let problem = assert_problem(owner.post_empty("/api/devices/setup-code").await, 409).await;
    assert!(problem.to_string().contains("devices.remote"), "{problem}");
    drop(off);

    let server = TestServer::start_with(Options {
        env: vec![
            ("CLAWHOST_DEVICES_REMOTE".into(), "true".into()),
            ("CLAWHOST_HTTP_TRUSTED_PROXIES".into(), "127.0.0.1".into()),
        ],
        ..Options::default()
    });
    // Not a socket: where to point the CLI instead.
    let page = server
        .bare_client()
        .get(server.url("/remote"))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(page, 426).await;
    assert!(
        problem
            .to_string()
            .contains("openclaw system presence --url"),
        "{problem}"
    );
    // A browser page (any Origin, ours too) never opens it: the Control UI is the browser's.
    for origin in [server.origin.as_str(), "https://elsewhere.example"] {
        let browser = upgrade(&server, Some("203.0.113.5"))
            .header("origin", origin)
            .send()
            .await
            .expect("send");
        assert_problem(browser, 403).await;
    }
    // From this machine with no proxy naming a client: the gateway would take it as local and
    // pair it silently.
    let local = upgrade(&server, None).send().await.expect("send");
    let problem = assert_problem(local, 403).await;
    assert!(
        problem.to_string().contains("http.trusted_proxies"),
        "{problem}"
    );
    // A device elsewhere gets as far as the gateway, which is not running.
    let stopped = upgrade(&server, Some("203.0.113.5"))
        .send()
        .await
        .expect("send");
    assert_problem(stopped, 503).await;

    // A flood from one address is cut off (with when to come back); another address is not.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let response = upgrade(&server, Some("198.51.100.9"))
            .send()
            .await
            .expect("send");
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    let cut = statuses
        .iter()
        .position(|&s| s == 429)
        .expect("rate limited");
    assert!((15..=21).contains(&cut), "{statuses:?}");
    assert!(statuses[cut..].iter().all(|&s| s == 429), "{statuses:?}");
    let other = upgrade(&server, Some("198.51.100.10"))
        .send()
        .await
        .expect("send");
    assert_problem(other, 503).await;
}
