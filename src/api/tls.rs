//! `GET /api/tls`: what clawhost's own https serves: the mode, the names, when the served
//! certificate expires, who issued it, and why the last attempt to get one failed.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::rfc3339;
use crate::state::AppState;
use crate::web::extract::Owner;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_tls))
}

#[derive(Serialize, ToSchema)]
struct TlsView {
    /// `off`, `files` or `acme`.
    mode: &'static str,
    /// The names the certificate is for.
    names: Vec<String>,
    /// When the served certificate expires (RFC 3339); null until one from the CA or the
    /// files is served.
    not_after: Option<String>,
    /// Who issued it.
    issuer: Option<String>,
    /// Why the last attempt to get or load a certificate failed; null once one succeeds.
    last_error: Option<String>,
}

/// The served certificate and its renewal.
#[utoipa::path(get, path = "/api/tls", tag = "tls", security(("session" = [])),
    responses((status = 200, body = TlsView)))]
async fn get_tls(State(state): State<AppState>, Owner(_): Owner) -> Json<TlsView> {
    let status = state.tls.snapshot();
    Json(TlsView {
        mode: status.mode,
        names: status.names,
        not_after: status.not_after.map(|s| rfc3339(s.saturating_mul(1000))),
        issuer: status.issuer,
        last_error: status.last_error,
    })
}
