//! `/remote`: OpenClaw's own apps and CLI on other machines reach the hosted gateway through
//! clawhost (`devices.remote = true`; off by default).
//!
//! Nobody is signed in here: the gateway admits a remote client only by its device identity,
//! once the owner has paired that device in the inbox. clawhost adds what the gateway needs to
//! take the request at all (its credential, and the client's address as its trusted proxy, so
//! it is never "local" and never paired silently), and refuses before the gateway what cannot
//! be a device: a browser page, a socket from this machine, a first message without a device,
//! and more upgrades than a device makes.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::handler::{Upstream, connect_upstream, sized, socket_refused};
use super::{headers, ws};
use crate::auth::ClientInfo;
use crate::auth::limiter::{RateLimit, retry_after_secs};
use crate::config::PublicUrl;
use crate::devices;
use crate::gateway::status::Credential;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::problems::{ABOUT_BLANK, problem};
use crate::web::slots::Slot;

/// Where remote clients connect: `wss://<public host>/remote`.
pub(crate) const PATH: &str = "/remote";
/// `wss://host/remote` for an https public URL (`ws://` for a plain one).
pub(crate) fn url(public_url: &PublicUrl) -> String {
    let origin = public_url.origin();
    let socket = origin
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            origin
                .strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| origin.to_owned());
    format!("{socket}{PATH}")
}

fn refuse(status: StatusCode, detail: &str) -> Response {
    problem(status, ABOUT_BLANK, Some(detail), None)
}

pub(crate) async fn handle(
    State(state): State<AppState>,
    client: ClientInfo,
    request: Request,
) -> Response {
    if !state.config.remote_devices {
        return refuse(
            StatusCode::NOT_FOUND,
            "Remote OpenClaw clients are off on this instance (devices.remote).",
        );
    }
    if !headers::is_websocket_upgrade(request.headers()) {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "This is where OpenClaw's apps and CLI connect (a WebSocket), for example `openclaw system presence --url wss://<this host>/remote --password clawhost`.",
        );
    }
    // Browsers use the Control UI (signed in); a page elsewhere must not open this socket.
    if request.headers().contains_key(header::ORIGIN) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Browsers use the Control UI at /openclaw/; this address is for OpenClaw's apps and CLI.",
        );
    }
    if let Err(wait) = state
        .proxy
        .remote
        .upgrades
        .take(&client.limit_key, Instant::now())
    {
        return ApiError::TooManyRequests {
            retry_after_secs: retry_after_secs(wait),
        }
        .into_response();
    }
    if let Some(refused) = unattributed(&state, &client) {
        return refused;
    }
    let Some(credential) = state.gateway.credential() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "The OpenClaw gateway is not running; try again once the owner has started it.",
        );
    };
    let generation = state.gateway.watch_generation();
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let places = match Places::claim(&state, &client) {
        Ok(places) => places,
        Err(refused) => return refused.into_response(),
    };
    let max_message = state.proxy.config.ws_max_message;
    let upstream = match connect_upstream(
        credential.port,
        "/",
        max_message,
        Upstream::ForwardedFor(client.ip),
    )
    .await
    {
        Ok(upstream) => upstream,
        Err(detail) => return socket_refused(&detail),
    };
    tracing::info!(client = %client.ip, "remote client connected");
    let limits = ws::Limits {
        max_message,
        idle: state.proxy.config.ws_idle_timeout,
        counted: state.config.metrics.enabled,
    };
    let shutdown = state.auth.sessions.subscribe();
    sized(upgrade, max_message).on_upgrade(move |socket| async move {
        let _open = crate::metrics::Open::new(crate::metrics::Stream::Remote);
        let Places {
            socket: place,
            here,
            waiting,
            waiting_here,
        } = places;
        let _places = (place, here);
        let token = credential.token.as_str();
        let ended = ended(shutdown, generation);
        // Admitted or not, the first message ends the socket's wait: its place goes back.
        let admitting = credential.clone();
        let limits_state = state.clone();
        let admit = async move |text: &str| {
            drop((waiting, waiting_here));
            admit(&admitting, &limits_state.proxy.remote.new_devices, text).await
        };
        ws::relay(
            socket,
            upstream,
            token,
            ws::Peer::RemoteDevice,
            admit,
            limits,
            ended,
        )
        .await;
    })
}

/// A remote socket's places: among all and among its address's, and among those still
/// waiting for their first message (given back once it comes).
struct Places {
    socket: OwnedSemaphorePermit,
    here: Slot,
    waiting: OwnedSemaphorePermit,
    waiting_here: Slot,
}

impl Places {
    fn claim(state: &AppState, client: &ClientInfo) -> Result<Self, ApiError> {
        let remote = &state.proxy.remote;
        let address = client.limit_key.to_string();
        let Ok(socket) = remote.sockets.clone().try_acquire_owned() else {
            return Err(ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many remote clients are connected; try again later.",
            ));
        };
        let Some(here) = remote.per_address.claim(&address) else {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 10,
            });
        };
        let waiting = remote.pending.clone().try_acquire_owned().ok();
        let waiting_here = remote.pending_per_address.claim(&address);
        let (Some(waiting), Some(waiting_here)) = (waiting, waiting_here) else {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: 2,
            });
        };
        Ok(Self {
            socket,
            here,
            waiting,
            waiting_here,
        })
    }
}

/// Why a first message is refused, in its close frame (which holds at most 123 bytes).
const PAIRED_LOCALLY: &str =
    "paired on the gateway's own machine: it cannot connect from elsewhere";
const NO_ANSWER: &str = "the gateway did not say whether this device may connect; try again";
const TOO_MANY_NEW: &str = "too many new devices are asking to pair; try again in a minute";

/// Whether the device of this `connect` may come from elsewhere: not one the gateway paired
/// silently as a local client (the Control UI's browser, say), which script on clawhost's
/// origin or a stolen session could have paired with a key of its own.
/// A device not paired yet asks the owner: those connects are bounded from everywhere
/// together (`new_devices`), so a flood of new identities cannot fill the inbox.
async fn admit(
    credential: &Credential,
    new_devices: &RateLimit<()>,
    text: &str,
) -> Result<(), &'static str> {
    let Some(device_id) = ws::device_id(text) else {
        return Ok(());
    };
    match devices::approved_via(credential, &device_id).await {
        Ok(Some(via)) if via == "silent" => Err(PAIRED_LOCALLY),
        Ok(Some(_)) => Ok(()),
        Ok(None) => new_devices
            .take(&(), Instant::now())
            .map_err(|_| TOO_MANY_NEW),
        Err(_) => Err(NO_ANSWER),
    }
}

/// A refusal when the client's address does not name a device elsewhere.
fn unattributed(state: &AppState, client: &ClientInfo) -> Option<Response> {
    // A socket from this machine would reach the gateway as a local client, which it pairs
    // without asking; a proxy on this host must be named in http.trusted_proxies.
    if client.ip.to_canonical().is_loopback() || client.ip.is_unspecified() {
        tracing::warn!("remote client socket from this machine refused");
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "Remote clients must come from another machine. If a reverse proxy on this host forwards to clawhost, list it in http.trusted_proxies.",
        ));
    }
    // A client that resolves to one of the trusted proxies was not named by them (a hop
    // that could not be read): every device behind it would share one identity.
    if state
        .config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(client.ip))
    {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "The reverse proxy in front of clawhost did not name the client (X-Forwarded-For); remote clients are refused until it does.",
        ));
    }
    None
}

/// Resolves when the socket must close: clawhost is stopping (1001), or the gateway stopped,
/// restarted or changed credential (1012; the client reconnects).
async fn ended(
    mut shutdown: watch::Receiver<i64>,
    mut generation: watch::Receiver<u64>,
) -> (u16, &'static str) {
    loop {
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() {
                return (ws::CLOSE_GOING_AWAY, "clawhost is shutting down");
            },
            _ = generation.changed() => return (ws::CLOSE_RESTART, "gateway restarting"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_fit_a_close_frame() {
        for reason in [PAIRED_LOCALLY, NO_ANSWER, TOO_MANY_NEW] {
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
