//! The settings page's card of `openclaw.json`'s earlier versions, the page of what changed
//! since one, and putting one back (a sensitive action: confirmed when the password was not
//! given in the last minutes).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::render::{Moment, render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::gateway::config_history::{Change, History};
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

pub(super) fn routes() -> Router<AppState> {
    let pages = Router::new()
        .route("/settings/config-history/{id}", get(changes_page))
        .route("/settings/config-history/{id}/restore", post(put_back));
    ReturnTo::group("/settings", pages)
}

pub(super) struct VersionRow {
    pub(super) id: String,
    pub(super) at: Moment,
    pub(super) why: String,
}

/// The versions kept, newest first (none when the history cannot be read: the page stays).
pub(super) async fn config_history_card(state: &AppState) -> Vec<VersionRow> {
    let history = History::new(&state.config.data_dir);
    tokio::task::spawn_blocking(move || history.list())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
        .into_iter()
        .map(|v| VersionRow {
            at: Moment::of(&v.at),
            why: v.why,
            id: v.id,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "config_changes.html")]
struct ChangesPage {
    id: String,
    changes: Vec<Change>,
}

async fn changes_page(
    State(state): State<AppState>,
    _: PageOwner,
    Path(id): Path<String>,
) -> Response {
    let history = History::new(&state.config.data_dir);
    let config = state.gateway.paths().config_file();
    let shown = id.clone();
    let changes = tokio::task::spawn_blocking(move || history.changes(&id, &config)).await;
    match changes {
        Ok(Ok(changes)) => render(StatusCode::OK, ChangesPage { id: shown, changes }),
        Ok(Err(error)) => ApiError::from(error).into_page(),
        Err(error) => ApiError::internal(error).into_page(),
    }
}

async fn put_back(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    if let Err(page) = form
        .confirmed(&state, "Putting an earlier configuration back")
        .await
    {
        return page;
    }
    match crate::api::config_history::put_back_version(&state, id).await {
        Ok(()) => see_other("/settings?config=restored#config-history", None),
        Err(error) => error.into_page(),
    }
}
