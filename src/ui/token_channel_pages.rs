//! `/channels/discord` and `/channels/slack`: Discord and Slack set up from clawhost, each
//! token checked with its channel before it is kept (a fresh step-up), the channel's health
//! from the running gateway, and removal the same way.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::render::{render, see_other};
use super::step_up::{Confirmable, NoFields};
use super::telegram_page::health;
use crate::api::channel_setup::{self, DiscordRequest, SlackRequest};
use crate::channels::setup::TokenChannelSetup;
use crate::channels::{Channel, discord, slack};
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

pub(super) fn routes() -> Router<AppState> {
    let discord = Router::new()
        .route("/channels/discord", get(discord_page).post(set_discord))
        .route("/channels/discord/remove", post(remove_discord));
    let slack = Router::new()
        .route("/channels/slack", get(slack_page).post(set_slack))
        .route("/channels/slack/remove", post(remove_slack));
    ReturnTo::group("/channels/discord", discord).merge(ReturnTo::group("/channels/slack", slack))
}

#[derive(Template)]
#[template(path = "token_channel.html")]
struct TokenChannelPage {
    channel: &'static str,
    name: &'static str,
    discord: bool,
    setup: Option<TokenChannelSetup>,
    /// The channel as the running gateway reports it.
    health: Option<Channel>,
    running: bool,
    done: Option<&'static str>,
    mention_only: bool,
    error_token: String,
    error_mention_only: String,
    error_bot_token: String,
    error_app_token: String,
    /// The channel could not be asked, or something else went wrong.
    failed: String,
}

impl TokenChannelPage {
    async fn now(state: &AppState, channel: &'static str) -> Result<Self, ApiError> {
        let setup = channel_setup::setup(state).token_channel(channel).await?;
        let credential = state.gateway.credential();
        let mut health = match (&setup, &credential) {
            (Some(_), Some(credential)) => health(credential, channel).await,
            _ => None,
        };
        // OpenClaw reports the missing intent even when mention-only mode does without it.
        if let (Some(health), Some(setup)) = (&mut health, &setup)
            && setup.mention_only
        {
            health.issues.retain(|issue| issue.kind != "intent");
        }
        Ok(Self {
            channel,
            name: channel_setup::display_name(channel),
            discord: channel == discord::CHANNEL,
            mention_only: setup.as_ref().is_some_and(|s| s.mention_only),
            setup,
            health,
            running: credential.is_some(),
            done: None,
            error_token: String::new(),
            error_mention_only: String::new(),
            error_bot_token: String::new(),
            error_app_token: String::new(),
            failed: String::new(),
        })
    }

    /// The page after a refused setup: each error by its field.
    fn refused(mut self, error: ApiError) -> Response {
        let status = error.status_code();
        match error {
            ApiError::Validation(errors) => {
                for error in errors {
                    let slot = match error.field.as_str() {
                        "mention_only" => &mut self.error_mention_only,
                        "bot_token" => &mut self.error_bot_token,
                        "app_token" => &mut self.error_app_token,
                        _ => &mut self.error_token,
                    };
                    *slot = error.message;
                }
            }
            other => match other.sentence() {
                Some(sentence) => self.failed = sentence,
                // A server failure has its own page, with the request's id.
                None => return other.into_page(),
            },
        }
        render(status, self)
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn page(state: &AppState, channel: &'static str, done: Option<&str>) -> Response {
    match TokenChannelPage::now(state, channel).await {
        Ok(mut page) => {
            page.done = match done {
                Some("restarting") => Some(
                    "Set up. The gateway is restarting to take it; the first time it also installs the channel's OpenClaw plugin (about a minute). Its health shows here once it runs.",
                ),
                Some("set") => Some("Set up: the gateway takes it at its next start."),
                Some("removed") => Some("Removed: its token is forgotten."),
                _ => None,
            };
            render(StatusCode::OK, page)
        }
        Err(error) => error.into_page(),
    }
}

async fn discord_page(
    State(state): State<AppState>,
    _: PageOwner,
    Query(query): Query<DoneQuery>,
) -> Response {
    page(&state, discord::CHANNEL, query.done.as_deref()).await
}

async fn slack_page(
    State(state): State<AppState>,
    _: PageOwner,
    Query(query): Query<DoneQuery>,
) -> Response {
    page(&state, slack::CHANNEL, query.done.as_deref()).await
}

/// Where a successful setup goes.
fn set_up(channel: &str, setup: &TokenChannelSetup) -> Response {
    let done = if setup.restarting {
        "restarting"
    } else {
        "set"
    };
    see_other(&format!("/channels/{channel}?done={done}"), None)
}

#[derive(Deserialize)]
struct DiscordForm {
    token: String,
    mention_only: Option<String>,
}

async fn set_discord(State(state): State<AppState>, form: Confirmable<DiscordForm>) -> Response {
    let client = form.client().clone();
    let form = match form.confirmed(&state, "Setting Discord up").await {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    let request = DiscordRequest {
        token: form.token,
        mention_only: form.mention_only.is_some_and(|v| v == "true"),
    };
    match channel_setup::setup_discord(&state, &client, &request).await {
        Ok(setup) => set_up(discord::CHANNEL, &setup),
        Err(error) => match TokenChannelPage::now(&state, discord::CHANNEL).await {
            Ok(mut page) => {
                page.mention_only = request.mention_only;
                page.refused(error)
            }
            Err(error) => error.into_page(),
        },
    }
}

#[derive(Deserialize)]
struct SlackForm {
    bot_token: String,
    app_token: String,
}

async fn set_slack(State(state): State<AppState>, form: Confirmable<SlackForm>) -> Response {
    let client = form.client().clone();
    let form = match form.confirmed(&state, "Setting Slack up").await {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    let request = SlackRequest {
        bot_token: form.bot_token,
        app_token: form.app_token,
    };
    match channel_setup::setup_slack(&state, &client, &request).await {
        Ok(setup) => set_up(slack::CHANNEL, &setup),
        Err(error) => match TokenChannelPage::now(&state, slack::CHANNEL).await {
            Ok(page) => page.refused(error),
            Err(error) => error.into_page(),
        },
    }
}

async fn remove(state: &AppState, form: Confirmable<NoFields>, channel: &'static str) -> Response {
    let client = form.client().clone();
    let what = format!("Removing {}", channel_setup::display_name(channel));
    if let Err(page) = form.confirmed(state, &what).await {
        return page;
    }
    match channel_setup::remove_channel(state, &client, channel).await {
        Ok(_) => see_other(&format!("/channels/{channel}?done=removed"), None),
        Err(error) => error.into_page(),
    }
}

async fn remove_discord(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    remove(&state, form, discord::CHANNEL).await
}

async fn remove_slack(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    remove(&state, form, slack::CHANNEL).await
}
