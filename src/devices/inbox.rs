//! The inbox, live: the devices the running gateway reports and the people asking to message
//! the assistant on a channel, kept current by one backend connection. Devices are listed
//! again at each of the gateway's pairing events; events are best effort (the gateway drops
//! them for a slow client) and a request expires without one, so the list is also read every
//! [`RELIST`]. DM requests have no events at all: they are read every [`RELIST`], or every
//! [`WATCHED`] while someone watches them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Devices, list_on};
use crate::channels::pairing::{self, DmRequest};
use crate::gateway::rpc::{RpcClient, RpcError};
use crate::gateway::status::Credential;
use crate::gateway::supervisor::Gateway;

/// How often the list is read with no event: a pending request lasts five minutes.
const RELIST: Duration = Duration::from_secs(30);
/// How often DM requests are read while a page or a stream shows them.
const WATCHED: Duration = Duration::from_secs(5);
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before connecting again after the connection failed.
const RETRY: Duration = Duration::from_secs(2);

/// What the gateway reports now, and a way to hear of every change.
pub(crate) struct Inbox {
    /// `None` while the gateway is not running (or has not answered yet).
    now: watch::Sender<Option<Devices>>,
    /// The same for DM requests.
    dm: watch::Sender<Option<Vec<DmRequest>>>,
    /// Someone began to watch DM requests: read them now.
    wake: tokio::sync::Notify,
}

impl Inbox {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(None),
            dm: watch::Sender::new(None),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub(crate) fn now(&self) -> Option<Devices> {
        self.now.borrow().clone()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Option<Devices>> {
        self.now.subscribe()
    }

    pub(crate) fn dm_now(&self) -> Option<Vec<DmRequest>> {
        self.dm.borrow().clone()
    }

    pub(crate) fn watch_dm(&self) -> watch::Receiver<Option<Vec<DmRequest>>> {
        self.wake.notify_one();
        self.dm.subscribe()
    }

    fn publish(&self, devices: Option<Devices>) {
        tell(&self.now, devices);
    }

    /// Follows the gateway's runs until `stopped`: at each run's start it connects, lists,
    /// and lists again at every pairing event and every [`RELIST`].
    pub(crate) async fn follow(&self, gateway: Arc<Gateway>, mut stopped: watch::Receiver<bool>) {
        let mut runs = gateway.watch_generation();
        loop {
            runs.borrow_and_update();
            let following = async {
                if let Some(credential) = gateway.credential() {
                    let why = self.follow_run(&credential).await;
                    tracing::debug!(error = %why, "device inbox: the gateway's connection ended");
                    tokio::time::sleep(RETRY).await;
                } else {
                    self.publish(None);
                    tell(&self.dm, None);
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = following => {}
                changed = runs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = stopped.changed() => return,
            }
        }
    }

    /// One connection to one run of the gateway; returns why it ended.
    async fn follow_run(&self, credential: &Credential) -> RpcError {
        let mut client =
            match RpcClient::connect(credential.port, &credential.token, RPC_TIMEOUT).await {
                Ok(client) => client,
                Err(error) => return error,
            };
        let (mut devices_due, mut dm_due) = (Instant::now(), Instant::now());
        loop {
            let now = Instant::now();
            if now >= devices_due {
                match list_on(&mut client).await {
                    Ok(devices) => self.publish(Some(devices)),
                    Err(error) => return error,
                }
                devices_due = now + RELIST;
            }
            if now >= dm_due {
                match client
                    .call("channels.pairing.list", json!({}), RPC_TIMEOUT)
                    .await
                {
                    Ok(payload) => tell(&self.dm, Some(pairing::from_list(&payload))),
                    // A gateway without DM pairing has none to tell.
                    Err(RpcError::Refused(_)) => tell(&self.dm, Some(Vec::new())),
                    Err(error) => return error,
                }
                let watched = self.dm.receiver_count() > 0;
                dm_due = now + if watched { WATCHED } else { RELIST };
            }
            let left = devices_due
                .min(dm_due)
                .saturating_duration_since(Instant::now());
            tokio::select! {
                event = client.next_event(left) => match event {
                    Ok(event) if is_pairing(&event) => devices_due = Instant::now(),
                    Ok(_) | Err(RpcError::Timeout) => {}
                    Err(error) => return error,
                },
                () = self.wake.notified() => dm_due = Instant::now(),
            }
        }
    }
}

/// Sets `value` and tells the watchers, if it changed.
fn tell<T: PartialEq>(sender: &watch::Sender<T>, value: T) {
    sender.send_if_modified(|now| {
        let changed = *now != value;
        *now = value;
        changed
    });
}

/// `device.pair.requested`, `…resolved`, `…changed`, and the same for nodes.
fn is_pairing(event: &serde_json::Value) -> bool {
    event["event"]
        .as_str()
        .is_some_and(|name| name.starts_with("device.pair.") || name.starts_with("node.pair."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_events_are_told_apart() {
        let event = |name: &str| serde_json::json!({"type": "event", "event": name});
        assert!(is_pairing(&event("device.pair.requested")));
        assert!(is_pairing(&event("device.pair.resolved")));
        assert!(is_pairing(&event("node.pair.requested")));
        assert!(!is_pairing(&event("tick")));
        assert!(!is_pairing(&event("presence")));
    }

    #[test]
    fn only_a_change_is_told() {
        let inbox = Inbox::new();
        let mut seen = inbox.watch();
        let devices = Devices {
            pending: Vec::new(),
            paired: Vec::new(),
            nodes: Vec::new(),
        };
        inbox.publish(Some(devices.clone()));
        assert!(seen.has_changed().expect("open"));
        seen.borrow_and_update();
        inbox.publish(Some(devices));
        assert!(!seen.has_changed().expect("open"));
        inbox.publish(None);
        assert!(seen.has_changed().expect("open"));
    }
}
