//! `/channels/telegram`: Telegram set up from clawhost, the bot token checked with Telegram
//! before it is kept (a fresh step-up), and removed the same way.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::render::{render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::api::channel_setup::{self, TelegramRequest};
use crate::channels::setup::TelegramSetup;
use crate::channels::{self, Channel, telegram};
use crate::gateway::rpc::call_once;
use crate::gateway::status::Credential;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

const PAGE: &str = "/channels/telegram";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) fn routes() -> Router<AppState> {
    let routes = Router::new()
        .route(PAGE, get(page).post(set))
        .route("/channels/telegram/remove", post(remove));
    ReturnTo::group(PAGE, routes)
}

#[derive(Template)]
#[template(path = "telegram.html")]
struct TelegramPage {
    telegram: Option<TelegramSetup>,
    /// The channel as the running gateway reports it.
    health: Option<Channel>,
    done: Option<&'static str>,
    api_root: String,
    error_bot_token: String,
    error_api_root: String,
    /// Telegram could not be asked, or something else went wrong.
    failed: String,
}

impl TelegramPage {
    async fn now(state: &AppState) -> Result<Self, ApiError> {
        let telegram = channel_setup::setup(state).telegram().await?;
        let health = match (&telegram, state.gateway.credential()) {
            (Some(_), Some(credential)) => health(&credential, telegram::CHANNEL).await,
            _ => None,
        };
        Ok(Self {
            health,
            api_root: telegram
                .as_ref()
                .and_then(|t| t.api_root.clone())
                .unwrap_or_default(),
            telegram,
            done: None,
            error_bot_token: String::new(),
            error_api_root: String::new(),
            failed: String::new(),
        })
    }
}

/// `channel`'s entry in `channels.status`; `None` when the gateway does not say in time (the
/// page never waits long for it).
pub(super) async fn health(credential: &Credential, channel: &str) -> Option<Channel> {
    let payload = call_once(credential, "channels.status", json!({}), HEALTH_TIMEOUT)
        .await
        .ok()?;
    channels::from_status(&payload)
        .into_iter()
        .find(|c| c.id == channel)
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    _: PageOwner,
    Query(query): Query<DoneQuery>,
) -> Response {
    match TelegramPage::now(&state).await {
        Ok(mut page) => {
            page.done = match query.done.as_deref() {
                Some("set") => Some("Telegram is set up: write to your bot to try it."),
                Some("removed") => Some("Telegram is removed: its token is forgotten."),
                _ => None,
            };
            render(StatusCode::OK, page)
        }
        Err(error) => error.into_page(),
    }
}

#[derive(Deserialize)]
struct TelegramForm {
    bot_token: String,
    api_root: Option<String>,
}

async fn set(State(state): State<AppState>, form: Confirmable<TelegramForm>) -> Response {
    let client = form.client().clone();
    let form = match form.confirmed(&state, "Setting Telegram up").await {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    let request = TelegramRequest {
        bot_token: form.bot_token,
        api_root: form.api_root.filter(|r| !r.trim().is_empty()),
    };
    let Err(error) = channel_setup::setup_telegram(&state, &client, &request).await else {
        return see_other(&format!("{PAGE}?done=set"), None);
    };
    let mut page = match TelegramPage::now(&state).await {
        Ok(page) => page,
        Err(error) => return error.into_page(),
    };
    page.api_root = request.api_root.unwrap_or_default();
    let status = error.status_code();
    match error {
        ApiError::Validation(errors) => {
            for error in errors {
                match error.field.as_str() {
                    "api_root" => page.error_api_root = error.message,
                    _ => page.error_bot_token = error.message,
                }
            }
        }
        other => match other.sentence() {
            Some(sentence) => page.failed = sentence,
            // A server failure has its own page, with the request's id.
            None => return other.into_page(),
        },
    }
    render(status, page)
}

async fn remove(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    let client = form.client().clone();
    if let Err(page) = form.confirmed(&state, "Removing Telegram").await {
        return page;
    }
    match channel_setup::remove_channel(&state, &client, telegram::CHANNEL).await {
        Ok(_) => see_other(&format!("{PAGE}?done=removed"), None),
        Err(error) => error.into_page(),
    }
}
