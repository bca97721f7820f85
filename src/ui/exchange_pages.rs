//! The session broker's card of the settings page (`auth.session_exchange.url`): the email
//! the broker must answer for the owner, set or forgotten after a step-up. The sign-in
//! itself happens on the sign-in page: `static/app.js` hands the session id in the URL's
//! fragment to `POST /api/auth/session-exchange`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use super::render::see_other;
use super::step_up::{Confirmable, NoFields};
use crate::auth::{AuthError, ClientInfo};
use crate::state::AppState;
use crate::web::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/session-exchange", post(set))
        .route("/settings/session-exchange/remove", post(remove))
}

pub(super) struct ExchangeCard {
    pub(super) email: Option<String>,
}

/// The card, when a broker is configured.
pub(super) async fn exchange_card(state: &AppState) -> Result<Option<ExchangeCard>, AuthError> {
    if state.exchange.is_none() {
        return Ok(None);
    }
    Ok(Some(ExchangeCard {
        email: state.auth.exchange_email().await?,
    }))
}

#[derive(serde::Deserialize)]
struct EmailForm {
    email: String,
}

async fn set(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<EmailForm>,
) -> Response {
    let email = match form
        .confirmed_now(&state, "Setting the broker's email")
        .await
    {
        Ok((_, EmailForm { email })) => email,
        Err(page) => return page,
    };
    match state.auth.set_exchange_email(Some(&email), &client).await {
        Ok(_) => see_other("/settings#session-exchange", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn remove(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<NoFields>,
) -> Response {
    if let Err(page) = form
        .confirmed(&state, "Forgetting the broker's email")
        .await
    {
        return page;
    }
    match state.auth.set_exchange_email(None, &client).await {
        Ok(_) => see_other("/settings#session-exchange", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}
