//! The owner's pages: dashboard, setup wizard and settings. Every form posts without
//! JavaScript; `static/app.js` adds live progress, logs and inline errors on top.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::render::{form_message, render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::sessions::ActiveSession;
use crate::auth::{AuthError, ClientInfo, SessionSummary};
use crate::clock::{display, rfc3339};
use crate::gateway::logs::LogLine;
use crate::gateway::providers::{Provider, ProviderKind};
use crate::gateway::runtime;
use crate::gateway::settings::{self, SettingsError, SettingsRequest};
use crate::gateway::status::{GatewayError, GatewayState};
use crate::state::AppState;
use crate::store::EventKind;
use crate::validation::FieldError;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};
use crate::web::paging;

/// Each page with the forms it shows; signing in from any of them comes back to the page.
pub(super) fn routes() -> Router<AppState> {
    let dashboard = Router::new()
        .route("/", get(dashboard))
        .route("/gateway/start", post(start))
        .route("/gateway/stop", post(stop))
        .route("/gateway/restart", post(restart))
        .route("/gateway/rotate-credential", post(rotate));
    let setup = Router::new()
        .route("/setup", get(setup))
        .route("/setup/runtime", post(install))
        .route("/setup/provider", post(save_provider));
    let settings = Router::new()
        .route("/settings", get(settings_page))
        .route("/settings/password", post(change_password));
    ReturnTo::group("/", dashboard)
        .merge(ReturnTo::group("/setup", setup))
        .merge(ReturnTo::group("/settings", settings))
}

fn state_label(state: GatewayState) -> &'static str {
    match state {
        GatewayState::Stopped => "Stopped",
        GatewayState::Installing => "Installing",
        GatewayState::Starting => "Starting",
        GatewayState::Running => "Running",
        GatewayState::Stopping => "Stopping",
        GatewayState::Backoff => "Restarting",
        GatewayState::NeedsAttention => "Needs attention",
    }
}

fn state_id(state: GatewayState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    state: String,
    state_label: &'static str,
    provider: String,
    model: String,
    started_at: String,
    memory: String,
    openclaw_version: String,
    restarts: u32,
    attention: String,
    logs: Vec<LogLine>,
}

async fn dashboard(State(state): State<AppState>, _: PageOwner) -> Response {
    let status = state.gateway.status();
    let current = match settings::current(&state.store).await {
        Ok(current) => current,
        Err(error) => return ApiError::from(error).into_page(),
    };
    let memory = state.gateway.memory_rss_bytes().await.map_or_else(
        || "—".to_string(),
        |bytes| format!("{} MiB", bytes / (1024 * 1024)),
    );
    let dash = |value: Option<String>| value.unwrap_or_else(|| "—".into());
    let page = DashboardPage {
        state: state_id(status.state),
        state_label: state_label(status.state),
        provider: dash(current.provider),
        model: dash(current.model),
        started_at: dash(status.started_at.as_deref().map(display)),
        memory,
        openclaw_version: dash(status.openclaw_version),
        restarts: status.restarts,
        attention: status.attention.map(|a| a.reason).unwrap_or_default(),
        logs: state.gateway.logs().tail(200),
    };
    render(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    runtime_installed: bool,
    runtime_version: String,
    wanted_version: String,
    providers: Vec<Provider>,
    provider: String,
    key_set: bool,
    key_last4: String,
    base_url: String,
    model: String,
    saved: Option<String>,
    error_provider: String,
    error_api_key: String,
    error_base_url: String,
    error_model: String,
    state: String,
    state_label: &'static str,
}

#[derive(Deserialize)]
struct SetupQuery {
    saved: Option<String>,
}

async fn setup_page(
    state: &AppState,
    form: Option<&SettingsRequest>,
    errors: &[FieldError],
    saved: bool,
) -> Result<SetupPage, ApiError> {
    let installed = runtime::installed(
        &state.config.runtime_dir,
        state.config.gateway.command.as_deref(),
    )
    .await;
    let runtime_installed = installed.is_some();
    let runtime_version = installed.map(|(version, _)| version).unwrap_or_default();
    let current = settings::current(&state.store).await?;
    let error = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
            .unwrap_or_default()
    };
    let status = state.gateway.status();
    Ok(SetupPage {
        runtime_installed,
        runtime_version,
        wanted_version: state.config.gateway.openclaw_version.clone(),
        providers: ProviderKind::ALL.map(ProviderKind::describe).to_vec(),
        provider: form
            .map(|f| f.provider.clone())
            .or(current.provider)
            .unwrap_or_else(|| ProviderKind::DEFAULT.id().into()),
        key_set: current.key.set,
        key_last4: current.key.last4.unwrap_or_default(),
        base_url: form
            .and_then(|f| f.base_url.clone())
            .or(current.base_url)
            .unwrap_or_default(),
        model: form
            .and_then(|f| f.model.clone())
            .or(current.model)
            .unwrap_or_default(),
        saved: saved.then(|| "Saved.".to_string()),
        error_provider: error("provider"),
        error_api_key: error("api_key"),
        error_base_url: error("base_url"),
        error_model: error("model"),
        state: state_id(status.state),
        state_label: state_label(status.state),
    })
}

async fn setup(
    State(state): State<AppState>,
    _: PageOwner,
    Query(query): Query<SetupQuery>,
) -> Response {
    match setup_page(&state, None, &[], query.saved.is_some()).await {
        Ok(page) => render(StatusCode::OK, page),
        Err(error) => error.into_page(),
    }
}

async fn install(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    if let Err(page) = form.confirmed(&state, "Installing OpenClaw").await {
        return page;
    }
    let version = state.config.gateway.openclaw_version.clone();
    match state.gateway.install(version).await {
        Ok(_) => see_other("/setup#step-runtime", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[derive(Deserialize)]
struct ProviderForm {
    provider: String,
    api_key: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
}

async fn save_provider(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<ProviderForm>,
) -> Response {
    let form = match form.confirmed(&state, "Saving the provider settings").await {
        Ok((_, form)) => form,
        Err(page) => return page,
    };
    let request = SettingsRequest {
        provider: form.provider,
        api_key: form.api_key.filter(|k| !k.is_empty()),
        base_url: form.base_url,
        model: form.model,
    };
    let echo = SettingsRequest {
        provider: request.provider.clone(),
        api_key: None,
        base_url: request.base_url.clone(),
        model: request.model.clone(),
    };
    let event = client.event(EventKind::GatewaySettingsChanged);
    match settings::save(&state.store, &state.sealer, event, request).await {
        Ok(_) => see_other("/setup?saved=1#step-provider", None),
        Err(SettingsError::Invalid(errors)) => {
            match setup_page(&state, Some(&echo), &errors, false).await {
                Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, page),
                Err(error) => error.into_page(),
            }
        }
        Err(error) => ApiError::from(error).into_page(),
    }
}

/// Back to the dashboard once the supervisor took the command.
fn gateway_done(outcome: Result<GatewayState, GatewayError>) -> Response {
    match outcome {
        Ok(_) => see_other("/", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn start(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.start().await)
}

async fn stop(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.stop().await)
}

async fn restart(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.restart().await)
}

async fn rotate(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    if let Err(page) = form
        .confirmed(&state, "Giving the gateway a new credential")
        .await
    {
        return page;
    }
    gateway_done(state.gateway.rotate_credential().await)
}

struct EventRow {
    at: String,
    kind: String,
    ip: String,
    user_agent: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    password_message: Option<String>,
    password_ok: bool,
    sessions: Vec<SessionSummary>,
    events: Vec<EventRow>,
    next_cursor: Option<String>,
    paged: bool,
}

#[derive(Deserialize)]
struct SettingsQuery {
    cursor: Option<String>,
}

const EVENTS_PER_PAGE: usize = 20;

async fn settings_view(
    state: &AppState,
    current: &ActiveSession,
    cursor: Option<i64>,
    password_message: Option<(String, bool)>,
) -> Result<SettingsPage, AuthError> {
    let sessions = state
        .auth
        .session_summaries(current)
        .await?
        .into_iter()
        .map(|mut s| {
            s.created_at = display(&s.created_at);
            s.last_seen_at = display(&s.last_seen_at);
            s
        })
        .collect();
    let rows = state.auth.events(cursor, EVENTS_PER_PAGE + 1).await?;
    let (rows, next_cursor) = paging::split(rows, EVENTS_PER_PAGE, |e| e.id.to_string());
    let events = rows
        .into_iter()
        .map(|e| EventRow {
            at: display(&rfc3339(e.at)),
            kind: e.kind.replace('_', " "),
            ip: e.ip.unwrap_or_default(),
            user_agent: e.user_agent.unwrap_or_default(),
        })
        .collect();
    let (password_message, password_ok) = match password_message {
        Some((message, ok)) => (Some(message), ok),
        None => (None, false),
    };
    Ok(SettingsPage {
        password_message,
        password_ok,
        sessions,
        events,
        next_cursor,
        paged: cursor.is_some(),
    })
}

async fn settings_page(
    State(state): State<AppState>,
    PageOwner(current): PageOwner,
    Query(query): Query<SettingsQuery>,
) -> Response {
    let cursor = query
        .cursor
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| *c > 0);
    match settings_view(&state, &current, cursor, None).await {
        Ok(page) => render(StatusCode::OK, page),
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    PageOwner(current): PageOwner,
    Form(form): Form<PasswordForm>,
) -> Response {
    let outcome = state
        .auth
        .change_password(
            &current,
            &form.current_password,
            &form.new_password,
            &client,
        )
        .await;
    let (status, message) = match outcome {
        Ok(()) => (
            StatusCode::OK,
            (
                "Password changed; every other session is signed out.".to_string(),
                true,
            ),
        ),
        Err(error) => match form_message(error) {
            Ok((status, message)) => (status, (message, false)),
            Err(error) => return error.into_page(),
        },
    };
    match settings_view(&state, &current, None, Some(message)).await {
        Ok(page) => render(status, page),
        Err(error) => ApiError::from(error).into_page(),
    }
}
