//! Each Control UI request: the owner's session (and for a socket, the exact Origin) is
//! checked before anything reaches the gateway; then plain HTTP is forwarded and a socket is
//! relayed, holding one of the session's socket slots until it closes.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{headers, http, ws};
use crate::auth::sessions::SessionEnd;
use crate::gateway::status::{Credential, GatewayState};
use crate::state::AppState;
use crate::web::extract::{current_session, sign_in_redirect};
use crate::web::problems::{ABOUT_BLANK, Link, PageError, html_error, problem, wants_html};
use crate::web::streams::{self, session_ended};

/// How long the gateway may take to accept a WebSocket.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(10);
/// The longest answer that is not watched for the session's end (see [`is_short`]).
const SHORT_BODY: u64 = 1024 * 1024;
/// Per-socket read buffer. Control UI frames are small; tungstenite's 128 KiB default would
/// cost half a megabyte per relayed socket pair for nothing.
const READ_BUFFER: usize = 8 * 1024;
const X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

fn refuse(request: &Request, status: StatusCode, detail: &str) -> Response {
    if wants_html(request.uri().path(), request.headers()) {
        html_error(status, detail)
    } else {
        problem(status, ABOUT_BLANK, Some(detail), None)
    }
}

pub(crate) async fn handle(State(state): State<AppState>, request: Request) -> Response {
    if !is_control_ui_path(request.uri().path()) {
        return refuse(
            &request,
            StatusCode::BAD_REQUEST,
            "This path is not one of the Control UI's: it names a parent, an encoded separator, dot or percent sign, a backslash or NUL.",
        );
    }
    let upgrade = headers::is_websocket_upgrade(request.headers());
    let session = match current_session(request.headers(), &state).await {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    let Some(session) = session else {
        if !upgrade && wants_html(request.uri().path(), request.headers()) {
            let target = request
                .uri()
                .path_and_query()
                .map_or("/openclaw/", |p| p.as_str());
            return sign_in_redirect(target);
        }
        return problem(
            StatusCode::UNAUTHORIZED,
            ABOUT_BLANK,
            Some("Sign in to clawhost to use the Control UI."),
            None,
        );
    };
    if upgrade {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if origin != Some(state.public_url.origin()) {
            tracing::warn!(
                origin = origin.unwrap_or("none"),
                "Control UI socket from a foreign origin refused"
            );
            return problem(
                StatusCode::FORBIDDEN,
                ABOUT_BLANK,
                Some("This socket was opened from another origin than clawhost's public URL."),
                None,
            );
        }
    }
    let page = !upgrade && wants_html(request.uri().path(), request.headers());
    // Read before the credential: an answer is kept under the run it may have come from.
    let generation = state.gateway.generation();
    let Some(credential) = state.gateway.credential() else {
        if page {
            return gateway_not_running(state.gateway.status().state);
        }
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            ABOUT_BLANK,
            Some("The OpenClaw gateway is not running. Start it from the dashboard."),
            None,
        );
    };
    let token = state
        .cookie
        .read(request.headers())
        .unwrap_or_default()
        .to_owned();
    if upgrade {
        return websocket(state, session.id, token, credential, request).await;
    }
    match plain_http(&state, &credential, request, generation).await {
        Ok(response) if is_short(&response) => counted(response, &state),
        // A long answer (a stream, a large download) stops when the session ends.
        Ok(response) => counted(
            response.map(|body| streams::until(body, session_ended(&state, &token))),
            &state,
        ),
        Err(failure @ (http::Failure::Unreachable | http::Failure::Timeout)) if page => PageError {
            status: failure.status(),
            title: "The gateway is not answering",
            detail: failure.detail(),
            hint: "The Control UI opens here by itself as soon as the gateway answers again.",
            link: Link::DASHBOARD,
            refresh: 3,
        }
        .into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// The answer, its body's bytes counted as they go out while the metrics are on.
fn counted(response: Response, state: &AppState) -> Response {
    if !state.config.metrics.enabled {
        return response;
    }
    response.map(|body| {
        Body::new(body.map_frame(|frame| {
            if let Some(data) = frame.data_ref() {
                crate::metrics::proxied(crate::metrics::Direction::FromGateway, data.len());
            }
            frame
        }))
    })
}

/// Plain HTTP: from the asset cache when it has the answer, else from the gateway, keeping a
/// short answer when it may be kept (a kept answer broken off on its way is unreachable).
async fn plain_http(
    state: &AppState,
    credential: &Credential,
    request: Request,
    generation: u64,
) -> Result<Response, http::Failure> {
    let proxy = &state.proxy;
    let kept = proxy.assets.key(&request);
    if let Some(key) = &kept
        && let Some(answer) = proxy.assets.answer(key, generation)
    {
        return Ok(answer);
    }
    let response = http::forward(
        &proxy.client,
        credential,
        request,
        proxy.config.body_limit,
        proxy.config.response_timeout,
    )
    .await?;
    match kept {
        Some(key) if is_short(&response) => proxy
            .assets
            .keep(key, generation, response)
            .await
            .map_err(|_| http::Failure::Unreachable),
        _ => Ok(response),
    }
}

/// Whether the answer has a length that is read to its end in moments. Only longer or
/// open-ended ones (an event stream, a download) are watched for the session's end.
fn is_short(response: &Response) -> bool {
    response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|length| length <= SHORT_BODY)
}

/// The page a browser gets at the Control UI's address while the gateway is not running:
/// what is happening in words, and a page that opens the Control UI once it can.
fn gateway_not_running(state: GatewayState) -> Response {
    let (title, detail, refresh) = match state {
        GatewayState::Starting | GatewayState::Backoff => (
            "The gateway is starting",
            "OpenClaw is starting up; the Control UI opens here by itself as soon as it is ready.",
            3,
        ),
        GatewayState::Installing => (
            "OpenClaw is being installed",
            "Once it is installed and started, the Control UI opens here.",
            5,
        ),
        GatewayState::Stopping => (
            "The gateway is stopping",
            "If it is restarting, the Control UI opens here by itself once it is back; otherwise start it from the dashboard.",
            3,
        ),
        GatewayState::NeedsAttention => (
            "The gateway needs attention",
            "It stopped and will not start by itself; the dashboard says why and what to change.",
            0,
        ),
        GatewayState::Stopped | GatewayState::Running => (
            "The gateway is not running",
            "Start it from the dashboard; the Control UI is here while it runs.",
            5,
        ),
    };
    PageError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title,
        detail,
        hint: "",
        link: Link::DASHBOARD,
        refresh,
    }
    .into_response()
}

async fn websocket(
    state: AppState,
    session_id: String,
    cookie_token: String,
    credential: Credential,
    request: Request,
) -> Response {
    let generation = state.gateway.watch_generation();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/openclaw", |p| p.as_str())
        .to_owned();
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Some(slot) = state.proxy.sockets.claim(&session_id) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            ABOUT_BLANK,
            Some("Too many Control UI sockets are open for this session; close some tabs."),
            None,
        );
    };
    let max_message = state.proxy.config.ws_max_message;
    let upstream =
        match connect_upstream(credential.port, &path, max_message, Upstream::Local).await {
            Ok(upstream) => upstream,
            Err(detail) => return socket_refused(&detail),
        };
    let limits = ws::Limits {
        max_message,
        idle: state.proxy.config.ws_idle_timeout,
        counted: state.config.metrics.enabled,
    };
    sized(upgrade, max_message).on_upgrade(move |socket| async move {
        let _open = crate::metrics::Open::new(crate::metrics::Stream::ControlUi);
        let _slot = slot;
        let ended = ended(session_ended(&state, &cookie_token), generation);
        ws::relay(
            socket,
            upstream,
            credential.token.as_str(),
            ws::Peer::ControlUi,
            async |_: &str| Ok(()),
            limits,
            ended,
        )
        .await;
    })
}

/// The answer when the gateway does not take a socket.
pub(super) fn socket_refused(detail: &str) -> Response {
    tracing::warn!(%detail, "cannot open the gateway's socket");
    problem(
        StatusCode::BAD_GATEWAY,
        ABOUT_BLANK,
        Some("The gateway did not accept the connection; it may be restarting."),
        None,
    )
}

/// The client side of a relayed socket: a small read buffer, and each relayed message
/// flushed at once (no write buffer to fill, lower latency).
pub(super) fn sized(upgrade: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * max_message)
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

/// Only a plain path under the Control UI's base path reaches the gateway: no `.` or `..`
/// segment, no percent-encoded `/`, `\`, `.`, NUL or `%` (a second round of encoding), no
/// backslash. The gateway would resolve
/// any of these, and `/openclaw/../tools/invoke` would reach its operator API.
fn is_control_ui_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/openclaw") else {
        return false;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    let encoded = ["%2f", "%5c", "%2e", "%00", "%25"]
        .iter()
        .any(|e| lower.contains(e));
    !encoded
        && !path.contains(['\\', '\0'])
        && !path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// Who the gateway is told it is talking to.
pub(super) enum Upstream {
    /// The Control UI, as a direct local client: loopback Origin and Host, no forwarding
    /// headers (our own Origin check has already passed).
    Local,
    /// A device elsewhere, by its address in `X-Forwarded-For` (clawhost is the gateway's
    /// trusted proxy): the gateway treats it as remote and never pairs it silently.
    ForwardedFor(IpAddr),
}

/// Opens the gateway's socket.
pub(super) async fn connect_upstream(
    port: u16,
    path: &str,
    max_message: usize,
    upstream: Upstream,
) -> Result<ws::Upstream, String> {
    let mut request = format!("ws://127.0.0.1:{port}{path}")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let (name, value) = match upstream {
        Upstream::Local => (header::ORIGIN, format!("http://127.0.0.1:{port}")),
        Upstream::ForwardedFor(address) => (X_FORWARDED_FOR, address.to_string()),
    };
    let value = HeaderValue::from_str(&value).map_err(|e| e.to_string())?;
    request.headers_mut().insert(name, value);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * max_message)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(UPSTREAM_CONNECT, connect).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// Resolves when the socket must close: its session ended (1008), or the gateway stopped,
/// restarted or changed credential (1012).
pub(super) async fn ended(
    session: impl Future<Output = SessionEnd>,
    mut generation: watch::Receiver<u64>,
) -> (u16, &'static str) {
    tokio::select! {
        end = session => match end {
            SessionEnd::Ended => (ws::CLOSE_POLICY, "session ended"),
            SessionEnd::ShuttingDown => (ws::CLOSE_GOING_AWAY, "clawhost is shutting down"),
        },
        _ = generation.changed() => (ws::CLOSE_RESTART, "gateway restarting"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_control_ui_paths_pass() {
        for ok in [
            "/openclaw",
            "/openclaw/",
            "/openclaw/assets/index-1.js",
            "/openclaw/chat?x=../y",
        ] {
            let path = ok.split('?').next().unwrap_or(ok);
            assert!(is_control_ui_path(path), "{ok}");
        }
        for bad in [
            "/openclaw/../tools/invoke",
            "/openclaw/./assets",
            "/openclaw/assets/..",
            "/openclaw/%2e%2e/tools/invoke",
            "/openclaw/%2E./x",
            "/openclaw/..%2ftools",
            "/openclaw/..%5Ctools",
            "/openclaw/a\\b",
            "/openclaw/a%00b",
            "/openclaw/%252e%252e/tools/invoke",
            "/openclawx/",
            "/tools/invoke",
        ] {
            assert!(!is_control_ui_path(bad), "{bad}");
        }
    }
}
