//! `/api/channels/{telegram|discord|slack}`: channels set up from clawhost (each token
//! checked with its channel before anything is kept, then sealed), shown, and removed.
//! Setting and removing are sensitive actions (a fresh step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::channels::check::CheckError;
use crate::channels::setup::{Setup, SetupError, TelegramSetup, TokenChannelSetup};
use crate::channels::{discord, slack, telegram};
use crate::state::AppState;
use crate::store::EventKind;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, set, remove))
        .routes(routes!(show_discord, set_discord, remove_discord))
        .routes(routes!(show_slack, set_slack, remove_slack))
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
            SetupError::Check(CheckError::Invalid { field, message }) => {
                ApiError::field(field, message)
            }
            SetupError::Check(error @ CheckError::Unreachable(_)) => {
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
        apis: &state.config.gateway,
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
    Ok(setup(state)
        .set_telegram(
            &request.bot_token,
            request.api_root.as_deref(),
            set_event(client, telegram::CHANNEL),
        )
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
    remove_channel(&state, &client, telegram::CHANNEL).await
}

/// What the pages and the API share: forgets `channel`'s token; 404 when it was not set up here.
pub(crate) async fn remove_channel(
    state: &AppState,
    client: &ClientInfo,
    channel: &'static str,
) -> Result<StatusCode, ApiError> {
    let mut event = client.event(EventKind::ChannelRemoved);
    event.detail = Some(channel.into());
    if setup(state).remove(channel, event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::status(
            StatusCode::NOT_FOUND,
            format!("{} is not set up from clawhost.", display_name(channel)),
        ))
    }
}

/// How the pages and problems name a channel set up from clawhost.
pub(crate) fn display_name(channel: &str) -> &'static str {
    match channel {
        discord::CHANNEL => "Discord",
        slack::CHANNEL => "Slack",
        _ => "Telegram",
    }
}

fn set_event(client: &ClientInfo, channel: &str) -> crate::store::NewEvent {
    let mut event = client.event(EventKind::ChannelSet);
    event.detail = Some(channel.into());
    event
}

#[derive(Serialize, ToSchema)]
struct DiscordShown {
    /// `null` while Discord is not set up from clawhost.
    discord: Option<TokenChannelSetup>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscordRequest {
    /// The bot's token, from the Developer Portal's Bot page (Reset Token).
    #[schema(max_length = 300)]
    pub(crate) token: String,
    /// Read guild messages only when the bot is mentioned: for an application without the
    /// Message Content intent (refused otherwise). Default `false`.
    #[serde(default)]
    pub(crate) mention_only: bool,
}

/// Discord as set up from clawhost (never the token: its last four characters).
#[utoipa::path(get, path = "/api/channels/discord", tag = "channels", security(("session" = [])),
    responses((status = 200, body = DiscordShown)))]
async fn show_discord(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<DiscordShown>, ApiError> {
    Ok(Json(DiscordShown {
        discord: setup(&state).token_channel(discord::CHANNEL).await?,
    }))
}

/// Sets Discord up, or gives it a new token: checked with Discord (`users/@me`, and the
/// application's Message Content intent unless `mention_only`) before anything is kept; a
/// running gateway restarts to take it (`restarting`), a stopped one takes it at its next
/// start. 422 names the field Discord or the form refused; 502 when Discord cannot be
/// reached.
#[utoipa::path(put, path = "/api/channels/discord", tag = "channels", security(("session" = [])),
    request_body = DiscordRequest,
    responses((status = 200, body = TokenChannelSetup)))]
async fn set_discord(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(request): ApiJson<DiscordRequest>,
) -> Result<Json<TokenChannelSetup>, ApiError> {
    Ok(Json(setup_discord(&state, &client, &request).await?))
}

/// What the page's form and the API share.
pub(crate) async fn setup_discord(
    state: &AppState,
    client: &ClientInfo,
    request: &DiscordRequest,
) -> Result<TokenChannelSetup, ApiError> {
    Ok(setup(state)
        .set_discord(
            &request.token,
            request.mention_only,
            set_event(client, discord::CHANNEL),
        )
        .await?)
}

/// Removes Discord as set up from clawhost: its token is forgotten and the running gateway
/// stops the channel at once (no restart).
#[utoipa::path(delete, path = "/api/channels/discord", tag = "channels", security(("session" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not set up here")))]
async fn remove_discord(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    remove_channel(&state, &client, discord::CHANNEL).await
}

#[derive(Serialize, ToSchema)]
struct SlackShown {
    /// `null` while Slack is not set up from clawhost.
    slack: Option<TokenChannelSetup>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlackRequest {
    /// The Bot User OAuth Token, `xoxb-…` (Install App).
    #[schema(max_length = 300)]
    pub(crate) bot_token: String,
    /// The app-level token for Socket Mode, `xapp-…` (Basic Information → App-Level Tokens,
    /// scope `connections:write`).
    #[schema(max_length = 300)]
    pub(crate) app_token: String,
}

/// Slack as set up from clawhost (never a token: the bot token's last four characters).
#[utoipa::path(get, path = "/api/channels/slack", tag = "channels", security(("session" = [])),
    responses((status = 200, body = SlackShown)))]
async fn show_slack(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<SlackShown>, ApiError> {
    Ok(Json(SlackShown {
        slack: setup(&state).token_channel(slack::CHANNEL).await?,
    }))
}

/// Sets Slack up in Socket Mode, or gives it new tokens: the bot token checked with
/// `auth.test` and the app-level token with `apps.connections.open` before anything is kept;
/// a running gateway restarts to take them (`restarting`), a stopped one at its next start.
/// 422 names the token Slack or the form refused; 502 when Slack cannot be reached.
#[utoipa::path(put, path = "/api/channels/slack", tag = "channels", security(("session" = [])),
    request_body = SlackRequest,
    responses((status = 200, body = TokenChannelSetup)))]
async fn set_slack(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(request): ApiJson<SlackRequest>,
) -> Result<Json<TokenChannelSetup>, ApiError> {
    Ok(Json(setup_slack(&state, &client, &request).await?))
}

/// What the page's form and the API share.
pub(crate) async fn setup_slack(
    state: &AppState,
    client: &ClientInfo,
    request: &SlackRequest,
) -> Result<TokenChannelSetup, ApiError> {
    Ok(setup(state)
        .set_slack(
            &request.bot_token,
            &request.app_token,
            set_event(client, slack::CHANNEL),
        )
        .await?)
}

/// Removes Slack as set up from clawhost: its tokens are forgotten and the running gateway
/// stops the channel at once (no restart).
#[utoipa::path(delete, path = "/api/channels/slack", tag = "channels", security(("session" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not set up here")))]
async fn remove_slack(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    remove_channel(&state, &client, slack::CHANNEL).await
}
