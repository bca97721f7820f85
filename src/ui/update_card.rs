//! The dashboard's OpenClaw card: the version installed, what the npm registry offers, an
//! update that rolls itself back, and a switch back to the version before the last update.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::render::{Moment, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::config;
use crate::gateway::runtime;
use crate::state::AppState;
use crate::store::EventKind;
use crate::web::error::ApiError;
use crate::web::extract::ReturnTo;

pub(super) fn routes() -> Router<AppState> {
    let forms = Router::new()
        .route("/gateway/update", post(update))
        .route("/gateway/rollback", post(rollback));
    ReturnTo::group("/", forms)
}

pub(super) struct UpdateCard {
    pub(super) installed: String,
    pub(super) pinned: String,
    /// Releases newer than the one installed, newest first.
    pub(super) newer: Vec<String>,
    pub(super) available_error: Option<String>,
    pub(super) previous: Option<String>,
    pub(super) updating: bool,
    pub(super) last: Option<LastUpdate>,
    /// Why updates are not clawhost's to make here (`gateway.command`).
    pub(super) not_ours: bool,
}

pub(super) struct LastUpdate {
    pub(super) at: Moment,
    pub(super) ok: bool,
    pub(super) detail: String,
    pub(super) log_tail: Vec<String>,
    pub(super) advice: Vec<String>,
}

pub(super) async fn update_card(state: &AppState) -> UpdateCard {
    let updater = &state.updater;
    let installed = runtime::installed(
        &state.config.runtime_dir,
        state.config.gateway.command.as_deref(),
    )
    .await
    .map(|(version, _)| version)
    .unwrap_or_default();
    let (available, available_error) = updater.available();
    let newer = crate::update::newer_than(&installed, available);
    UpdateCard {
        pinned: state.config.gateway.openclaw_version.clone(),
        installed,
        newer,
        available_error,
        previous: runtime::previous(updater.runtime_dir()).map(|m| m.openclaw_version),
        updating: updater.updating(),
        last: updater.last().map(|o| LastUpdate {
            at: Moment::of(&o.at),
            ok: o.result == "updated" || o.result == "switched_back",
            detail: o.detail,
            log_tail: o.log_tail,
            advice: o.advice,
        }),
        not_ours: state.config.gateway.command.is_some(),
    }
}

#[derive(Deserialize)]
struct UpdateForm {
    version: String,
}

fn not_ours(state: &AppState) -> Option<Response> {
    state.config.gateway.command.is_some().then(|| {
        ApiError::status(
            axum::http::StatusCode::CONFLICT,
            "clawhost runs the openclaw configured in gateway.command; update that install instead.",
        )
        .into_page()
    })
}

async fn update(State(state): State<AppState>, form: Confirmable<UpdateForm>) -> Response {
    let client = form.client().clone();
    let (_, form) = match form.confirmed(&state, "Updating OpenClaw").await {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    if let Some(page) = not_ours(&state) {
        return page;
    }
    let version = match config::parse_version(&form.version) {
        Ok(version) => version,
        Err(message) => return ApiError::field("version", message).into_page(),
    };
    match state
        .updater
        .start_update(version, client.event(EventKind::OpenclawUpdated))
    {
        Ok(()) => see_other("/?done=update", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn rollback(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    let client = form.client().clone();
    if let Err(page) = form
        .confirmed(&state, "Going back to the earlier OpenClaw")
        .await
    {
        return page;
    }
    if let Some(page) = not_ours(&state) {
        return page;
    }
    match state
        .updater
        .start_rollback(client.event(EventKind::OpenclawSwitchedBack))
    {
        Ok(()) => see_other("/?done=rollback", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}
