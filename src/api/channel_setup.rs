//! `/api/channels/telegram`: Telegram set up from clawhost (the token checked with Telegram,
//! sealed, never given to the gateway), shown, and removed. Setting and removing are
//! sensitive actions (a fresh step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::channels::setup::{Setup, SetupError, TelegramSetup};
use crate::channels::telegram::{self, TelegramError};
use crate::state::AppState;
use crate::store::EventKind;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, set, remove))
}

#[derive(Serialize, ToSchema)]
struct TelegramShown {
    /// `null` while Telegram is not set up from clawhost.
    telegram: Option<TelegramSetup>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelegramRequest {
    /// From @BotFather: `123456789:AAH…`.
    #[schema(max_length = 200)]
    pub(crate) bot_token: String,
    /// A Telegram Bot API server of your own; Telegram's when left out.
    #[schema(max_length = 2000)]
    pub(crate) api_root: Option<String>,
}

impl From<SetupError> for ApiError {
    fn from(error: SetupError) -> Self {
        match error {
            SetupError::Telegram(TelegramError::Invalid { field, message }) => {
                ApiError::field(field, message)
            }
            SetupError::Telegram(error @ TelegramError::Refused(_)) => {
                ApiError::field("bot_token", error.to_string())
            }
            SetupError::Telegram(error @ TelegramError::Unreachable(_)) => {
                ApiError::status(StatusCode::BAD_GATEWAY, error.to_string())
            }
            SetupError::Store(error) => error.into(),
            SetupError::Failed(why) => ApiError::internal(why),
        }
    }
}

pub(crate) fn setup(state: &AppState) -> Setup<'_> {
    Setup {
        store: &state.store,
        sealer: &state.sealer,
        egress: &state.egress,
        gateway: &state.gateway,
    }
}

/// Telegram as set up from clawhost (never the token: its last four characters).
#[utoipa::path(get, path = "/api/channels/telegram", tag = "channels", security(("session" = [])),
    responses((status = 200, body = TelegramShown)))]
async fn show(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<TelegramShown>, ApiError> {
    Ok(Json(TelegramShown {
        telegram: setup(&state).telegram().await?,
    }))
}

/// Sets Telegram up, or gives it a new token: checked with Telegram (`getMe`) before
/// anything is kept; a running gateway takes it at once (no restart), a stopped one at its
/// next start. 422 names the field Telegram or the format refused; 502 when Telegram cannot
/// be reached.
#[utoipa::path(put, path = "/api/channels/telegram", tag = "channels", security(("session" = [])),
    request_body = TelegramRequest,
    responses((status = 200, body = TelegramSetup)))]
async fn set(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(request): ApiJson<TelegramRequest>,
) -> Result<Json<TelegramSetup>, ApiError> {
    let set = setup_telegram(&state, &client, &request).await?;
    Ok(Json(set))
}

/// What the page's form and the API share.
pub(crate) async fn setup_telegram(
    state: &AppState,
    client: &ClientInfo,
    request: &TelegramRequest,
) -> Result<TelegramSetup, ApiError> {
    let mut event = client.event(EventKind::ChannelSet);
    event.detail = Some(telegram::CHANNEL.into());
    Ok(setup(state)
        .set_telegram(&request.bot_token, request.api_root.as_deref(), event)
        .await?)
}

/// Removes Telegram as set up from clawhost (`DELETE /api/channels/{id}` for the channel
/// `telegram`): its token is forgotten and the running gateway stops the channel at once.
#[utoipa::path(delete, path = "/api/channels/telegram", tag = "channels", security(("session" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not set up here")))]
async fn remove(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    let mut event = client.event(EventKind::ChannelRemoved);
    event.detail = Some(telegram::CHANNEL.into());
    if setup(&state).remove_telegram(event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "Telegram is not set up from clawhost.",
        ))
    }
}
