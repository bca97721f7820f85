//! The JSON API: thin handlers that parse, call a domain module, and shape the answer.

pub mod auth;
pub mod channels;
pub mod gateway;
pub mod status;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(auth::routes())
        .merge(gateway::routes())
        .merge(status::routes())
        .merge(channels::routes())
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
