//! `/api/devices`: the gateway's pairing requests and paired devices, approved, rejected and
//! removed one at a time (each a sensitive action: a fresh step-up).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::devices::{self, Answer, DeviceError, Devices, RenameError, SetupAccess, SetupCode};
use crate::gateway::status::Credential;
use crate::state::AppState;
use crate::store::{self, EventKind};
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};
use crate::web::streams::StreamOwner;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(events))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(remove))
        .routes(routes!(approve_node))
        .routes(routes!(reject_node))
        .routes(routes!(rename))
        .routes(routes!(setup_code))
}

/// The running gateway's credential, or 409: devices are the gateway's to report.
fn running(state: &AppState) -> Result<Credential, ApiError> {
    state.gateway.credential().ok_or_else(|| {
        ApiError::status(
            StatusCode::CONFLICT,
            "The gateway is not running: start it to see and answer its devices.",
        )
    })
}

impl From<DeviceError> for ApiError {
    fn from(error: DeviceError) -> Self {
        match error {
            DeviceError::Gone(_) => ApiError::status(
                StatusCode::NOT_FOUND,
                "No such request or device now: it was answered, replaced by a newer request from the same device, or expired. Look at the list again.",
            ),
            DeviceError::Gateway(error) => ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("The gateway did not answer about its devices: {error}"),
            ),
        }
    }
}

/// Pairing requests (oldest first; each expires after five minutes) and paired devices.
#[utoipa::path(get, path = "/api/devices", tag = "devices", security(("session" = [])),
    responses((status = 200, body = Devices), (status = 409, description = "The gateway is not running")))]
async fn list(State(state): State<AppState>, Owner(_): Owner) -> Result<Json<Devices>, ApiError> {
    let credential = running(&state)?;
    Ok(Json(devices::list(&credential).await?))
}

/// Server-sent events: `devices`, the same as `GET /api/devices` answers, first as they are
/// now and again whenever the gateway's devices change (a request, an answer, an expiry
/// within 30 s); `dm_requests`, the `requests` of `GET /api/channels/pairing`, the same way
/// (read every 5 s while a stream is open). `null` while the gateway is not running.
#[utoipa::path(get, path = "/api/devices/events", tag = "devices", security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn events(State(state): State<AppState>, owner: StreamOwner) -> impl IntoResponse {
    let devices = WatchStream::new(state.devices.watch())
        .filter_map(|devices| Event::default().event("devices").json_data(devices).ok());
    let dm = WatchStream::new(state.devices.watch_dm()).filter_map(|requests| {
        Event::default()
            .event("dm_requests")
            .json_data(requests)
            .ok()
    });
    owner.sse(devices.merge(dm))
}

/// Approves this one request: the device is paired when it connects again.
#[utoipa::path(post, path = "/api/devices/pending/{request_id}/approve", tag = "devices",
    security(("session" = [])), params(("request_id" = String, Path)),
    responses((status = 204, description = "Approved"), (status = 404, description = "No such request now")))]
async fn approve(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(request_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    give(&state, &client, Answer::Approve, request_id).await
}

/// Rejects this one request.
#[utoipa::path(post, path = "/api/devices/pending/{request_id}/reject", tag = "devices",
    security(("session" = [])), params(("request_id" = String, Path)),
    responses((status = 204, description = "Rejected"), (status = 404, description = "No such request now")))]
async fn reject(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(request_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    give(&state, &client, Answer::Reject, request_id).await
}

/// Lets the assistant use the commands this one node request offers (`system.run` runs any
/// command on that machine).
#[utoipa::path(post, path = "/api/devices/nodes/{request_id}/approve", tag = "devices",
    security(("session" = [])), params(("request_id" = String, Path)),
    responses((status = 204, description = "Approved"), (status = 404, description = "No such request now")))]
async fn approve_node(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(request_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    give(&state, &client, Answer::ApproveNode, request_id).await
}

/// Turns this one node request down: the assistant gets none of its commands.
#[utoipa::path(post, path = "/api/devices/nodes/{request_id}/reject", tag = "devices",
    security(("session" = [])), params(("request_id" = String, Path)),
    responses((status = 204, description = "Rejected"), (status = 404, description = "No such request now")))]
async fn reject_node(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(request_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    give(&state, &client, Answer::RejectNode, request_id).await
}

/// Unpairs a device: its tokens stop working and its connections close.
#[utoipa::path(delete, path = "/api/devices/{device_id}", tag = "devices",
    security(("session" = [])), params(("device_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such device")))]
async fn remove(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    give(&state, &client, Answer::Remove, device_id).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct RenameRequest {
    /// 1 to 64 characters, one line.
    pub(crate) name: String,
}

impl From<RenameError> for ApiError {
    fn from(error: RenameError) -> Self {
        match error {
            RenameError::Invalid(field) => ApiError::Validation(vec![field]),
            RenameError::Device(error) => error.into(),
        }
    }
}

/// Names a paired device as the owner calls it.
#[utoipa::path(put, path = "/api/devices/{device_id}/name", tag = "devices",
    security(("session" = [])), params(("device_id" = String, Path)), request_body = RenameRequest,
    responses((status = 204, description = "Renamed"), (status = 404, description = "No such device"),
        (status = 422, description = "Not a name")))]
async fn rename(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(_): Owner,
    Path(device_id): Path<String>,
    ApiJson(body): ApiJson<RenameRequest>,
) -> Result<StatusCode, ApiError> {
    let credential = running(&state)?;
    rename_device(&state, &client, &credential, device_id, &body.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the page and the API share: renames the device and keeps a security event (a name
/// is what the owner goes by when approving and removing).
pub(crate) async fn rename_device(
    state: &AppState,
    client: &ClientInfo,
    credential: &Credential,
    device_id: String,
    name: &str,
) -> Result<(), ApiError> {
    devices::rename(credential, &device_id, name).await?;
    let mut event = client.event(EventKind::DeviceRenamed);
    event.detail = Some(device_id);
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    Ok(())
}

/// A setup code (and its QR) for OpenClaw's mobile app or `openclaw connect`, valid ten
/// minutes, bound to the first device that uses it: a phone app that scans it is paired at
/// once, with `limited` access unless `full` is asked for. Needs `devices.remote` (the code
/// names clawhost's `/remote`).
#[utoipa::path(post, path = "/api/devices/setup-code", tag = "devices", security(("session" = [])),
    request_body(content = Option<SetupCodeRequest>),
    responses((status = 201, body = SetupCode),
        (status = 409, description = "devices.remote is off, or the gateway is not running")))]
async fn setup_code(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    body: Option<ApiJson<SetupCodeRequest>>,
) -> Result<(StatusCode, Json<SetupCode>), ApiError> {
    let access = body.map(|ApiJson(r)| r.access).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(make_setup_code(&state, &client, access).await?),
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupCodeRequest {
    /// `limited` (the default: no administration from the phone) or `full`.
    #[serde(default)]
    pub(crate) access: SetupAccess,
}

/// What the page and the API share.
pub(crate) async fn make_setup_code(
    state: &AppState,
    client: &ClientInfo,
    access: SetupAccess,
) -> Result<SetupCode, ApiError> {
    if !state.config.remote_devices {
        return Err(ApiError::status(
            StatusCode::CONFLICT,
            "Devices elsewhere connect through clawhost only with devices.remote = true; a setup code would name an address that refuses them.",
        ));
    }
    let credential = running(state)?;
    let url = crate::proxy::remote::url(&state.public_url);
    let code = devices::setup_code(&credential, &url, access).await?;
    let mut event = client.event(EventKind::DeviceSetupCode);
    event.detail = code.access.clone();
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    Ok(code)
}

/// Gives the answer on the running gateway and keeps it among the security events.
pub(crate) async fn give(
    state: &AppState,
    client: &ClientInfo,
    answer: Answer,
    id: String,
) -> Result<StatusCode, ApiError> {
    let credential = running(state)?;
    devices::answer(&credential, answer, &id).await?;
    let mut event = client.event(answer.event());
    event.detail = Some(id);
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    Ok(StatusCode::NO_CONTENT)
}
