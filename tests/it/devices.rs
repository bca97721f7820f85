//! The device inbox on a real gateway (called from the gateway's lifecycle test): devices
//! elsewhere ask to be paired, the owner approves or rejects one request at a time through
//! clawhost, and removes a paired device.
//!
//! A device here is a client of the test's own that speaks OpenClaw's device handshake
//! (Ed25519 identity, the signed `connect`), reaching the gateway as clawhost's relay does:
//! from loopback, a trusted proxy, with the device's address in `X-Forwarded-For`, so the
//! gateway treats it as remote and never pairs it silently.

use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use ring::signature::KeyPair;
use serde_json::{Value, json};
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Client, PASSWORD, eventually};

/// An OpenClaw device: its key pair, and its id (the SHA-256 of its public key, in hex).
struct Device {
    key: ring::signature::Ed25519KeyPair,
    id: String,
    public_key: String,
}

impl Device {
    fn new() -> Self {
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
        }
    }

    /// Connects from `address` with `auth` (`{"token"}` the first time, `{"deviceToken"}`
    /// once paired): the gateway's `hello-ok`, or its error.
    async fn connect(&self, port: u16, address: &str, auth: Value) -> Result<Value, Value> {
        let mut request = format!("ws://127.0.0.1:{port}/")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("x-forwarded-for", address.parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| json!({"message": e.to_string()}))?;
        let challenge = loop {
            match tokio::time::timeout(Duration::from_secs(10), next_frame(&mut socket)).await {
                Ok(Some(frame)) if frame["event"] == "connect.challenge" => {
                    break frame["payload"].clone();
                }
                Ok(Some(_)) => {}
                _ => return Err(json!({"message": "no challenge"})),
            }
        };
        let (role, scopes, client, mode) = ("operator", "operator.read", "cli", "cli");
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
        socket
            .send(Message::text(connect.to_string()))
            .await
            .map_err(|e| json!({"message": e.to_string()}))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), next_frame(&mut socket)).await {
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

    /// Connects for the first time: the gateway refuses it until paired, and names the
    /// pairing request it made.
    async fn asks(&self, port: u16, address: &str, token: &str) -> String {
        let refused = self
            .connect(port, address, json!({"token": token}))
            .await
            .expect_err("pairing required");
        assert_eq!(refused["details"]["code"], "PAIRING_REQUIRED", "{refused}");
        refused["details"]["requestId"]
            .as_str()
            .expect("request id")
            .to_owned()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON frame, or `None` once the socket closes.
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                if let Ok(frame) = serde_json::from_str(text.as_str()) {
                    return Some(frame);
                }
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn pending_ids(owner: &Client) -> Vec<String> {
    let devices = owner.json("/api/devices").await;
    devices["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .filter_map(|p| p["request_id"].as_str().map(str::to_owned))
        .collect()
}

pub async fn pairing_goes_through_the_owner(owner: &Client, port: u16, token: &str) {
    let (phone, laptop) = (Device::new(), Device::new());
    let live = owner.get("/api/devices/events").await;
    assert_eq!(live.status(), 200);
    let phone_asks = phone.asks(port, "203.0.113.5", token).await;
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
    let laptop_asks = laptop.asks(port, "198.51.100.7", token).await;

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
        .connect(port, "203.0.113.5", json!({"token": token}))
        .await
        .expect("the phone is paired");
    let device_token = hello["auth"]["deviceToken"]
        .as_str()
        .expect("a device token")
        .to_owned();
    // From now on the phone needs only its own token.
    phone
        .connect(port, "203.0.113.5", json!({"deviceToken": device_token}))
        .await
        .expect("the device token opens");

    // Rejected: the laptop is refused again, with a new request.
    let rejected = owner
        .post_empty(&format!("/api/devices/pending/{laptop_asks}/reject"))
        .await;
    assert_eq!(rejected.status(), 204);
    let again = laptop.asks(port, "198.51.100.7", token).await;
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
            .connect(port, "203.0.113.5", json!({"deviceToken": device_token}))
            .await
            .is_err(),
        "a removed device's token still opens"
    );
    let kinds = owner.event_kinds().await;
    for kind in ["device_approved", "device_rejected", "device_removed"] {
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
}
