//! The owner's pages: dashboard, setup wizard and settings. Every form posts without
//! JavaScript; `static/app.js` adds live progress, logs and inline errors on top.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::backup_pages::{BackupCard, backup_card};
use super::exchange_pages::{ExchangeCard, exchange_card};
use super::oidc_pages::{IdentityCard, identity_card};
use super::passkey_pages::{PasskeyCard, passkey_card};
use super::render::{Moment, form_message, render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::sessions::ActiveSession;
use crate::auth::{ClientInfo, SessionSummary};
use crate::clock::rfc3339;
use crate::gateway::first_run::{self, Step};
use crate::gateway::install_report::InstallFailure;
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
        .route("/setup/runtime/dismiss", post(dismiss_install_failure))
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

/// A gateway button: the states it works in (for the page's script too) and, when it cannot
/// work now, why.
struct Action {
    when: String,
    enabled: bool,
    why: &'static str,
}

fn action(now: GatewayState, when: &[GatewayState], why: &'static str) -> Action {
    Action {
        when: when
            .iter()
            .map(|s| state_id(*s))
            .collect::<Vec<_>>()
            .join(" "),
        enabled: when.contains(&now),
        why,
    }
}

/// Every gateway button of the pages, with the rule of when it can work stated once.
struct Actions {
    start: Action,
    stop: Action,
    restart: Action,
    while_running: Action,
    /// The reasons of the buttons that cannot work now, in a sentence each.
    why_disabled: String,
}

fn actions(now: GatewayState, first_run: first_run::FirstRun) -> Actions {
    use GatewayState::{Backoff, NeedsAttention, Running, Starting, Stopped};
    // Before OpenClaw is installed and a provider saved, no state lets Start work.
    let start = if first_run.can_start() {
        action(
            now,
            &[Stopped, NeedsAttention],
            "Start works while the gateway is stopped.",
        )
    } else {
        action(
            now,
            &[],
            "Start works once OpenClaw is installed and a provider is saved (Setup).",
        )
    };
    let stop = action(
        now,
        &[Running, Starting, Backoff],
        "Stop and Restart work while it runs.",
    );
    let restart = action(now, &[Running, Backoff], stop.why);
    let while_running = action(
        now,
        &[Running],
        "The Control UI and linking WhatsApp need the gateway running.",
    );
    let mut why: Vec<&str> = Vec::new();
    for button in [&start, &stop, &restart, &while_running] {
        if !button.enabled && !why.contains(&button.why) {
            why.push(button.why);
        }
    }
    Actions {
        why_disabled: why.join(" "),
        start,
        stop,
        restart,
        while_running,
    }
}

/// What the owner should do next while the first run is not done, as the dashboard says it.
struct NextStep {
    title: &'static str,
    text: &'static str,
    href: &'static str,
    button: &'static str,
}

fn next_step(step: Step) -> NextStep {
    match step {
        Step::Install => NextStep {
            title: "Next: install OpenClaw",
            text: "clawhost downloads Node and OpenClaw for you; it takes a few minutes.",
            href: "/setup#step-runtime",
            button: "Install OpenClaw",
        },
        Step::ChooseProvider => NextStep {
            title: "Next: choose a model provider",
            text: "Pick the LLM provider your assistant uses and paste its API key.",
            href: "/setup#step-provider",
            button: "Choose a provider",
        },
        Step::Start => NextStep {
            title: "Next: start the gateway",
            text: "Start it, watch it come up, then talk to your assistant in the Control UI.",
            href: "/setup#step-start",
            button: "Go to Start",
        },
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    done: Option<&'static str>,
    next: Option<NextStep>,
    actions: Actions,
    state: String,
    state_label: &'static str,
    provider: String,
    model: String,
    started_at: Option<Moment>,
    memory: String,
    openclaw_version: String,
    restarts: u32,
    attention: String,
    logs: Vec<LogLine>,
    https: Option<super::https_card::HttpsCard>,
    backups: BackupCard,
    update: super::update_card::UpdateCard,
    usage: super::usage_card::UsageCard,
    devices: Option<super::devices_page::DevicesCard>,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn dashboard(
    State(state): State<AppState>,
    _: PageOwner,
    Query(query): Query<DoneQuery>,
) -> Response {
    let status = state.gateway.status();
    let current = match settings::current(&state.store).await {
        Ok(current) => current,
        Err(error) => return ApiError::from(error).into_page(),
    };
    let first_run = match state.first_run().await {
        Ok(progress) => progress,
        Err(error) => return ApiError::from(error).into_page(),
    };
    let backups = match backup_card(&state).await {
        Ok(card) => card,
        Err(error) => return error.into_page(),
    };
    let memory = state.gateway.memory_rss_bytes().await.map_or_else(
        || "—".to_string(),
        |bytes| format!("{} MiB", bytes / (1024 * 1024)),
    );
    let dash = |value: Option<String>| value.unwrap_or_else(|| "—".into());
    let page = DashboardPage {
        done: super::notices::gateway_done(query.done.as_deref()),
        next: first_run.next().map(next_step),
        actions: actions(status.state, first_run),
        state: state_id(status.state),
        state_label: state_label(status.state),
        provider: dash(current.provider),
        model: dash(current.model),
        started_at: status.started_at.as_deref().map(Moment::of),
        memory,
        openclaw_version: dash(status.openclaw_version),
        restarts: status.restarts,
        attention: status.attention.map(|a| a.reason).unwrap_or_default(),
        logs: state.gateway.logs().tail(200),
        https: super::https_card::https_card(&state.tls),
        backups,
        update: super::update_card::update_card(&state).await,
        usage: super::usage_card::usage_card(&state),
        devices: super::devices_page::devices_card(&state),
    };
    render(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
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
    actions: Actions,
    done: Option<&'static str>,
    /// Saved while the gateway runs: it goes on with the old settings until restarted.
    restart_to_apply: bool,
    install_failure: Option<InstallFailure>,
    installing: bool,
    first_run: first_run::FirstRun,
}

#[derive(Deserialize)]
struct SetupQuery {
    saved: Option<String>,
    done: Option<String>,
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
    let first_run = first_run::progress(&state.store, async { installed.is_some() }).await?;
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
        restart_to_apply: saved && status.state == GatewayState::Running,
        install_failure: status.install_failure.clone(),
        installing: status.state == GatewayState::Installing,
        actions: actions(status.state, first_run),
        done: None,
        first_run,
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
        Ok(mut page) => {
            page.done = super::notices::gateway_done(query.done.as_deref());
            render(StatusCode::OK, page)
        }
        Err(error) => error.into_page(),
    }
}

async fn install(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    if let Err(page) = form.confirmed(&state, "Installing OpenClaw").await {
        return page;
    }
    let version = state.config.gateway.openclaw_version.clone();
    match state.gateway.install(version).await {
        Ok(_) => see_other("/setup?done=install#step-runtime", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn dismiss_install_failure(State(state): State<AppState>, _: PageOwner) -> Response {
    state.gateway.dismiss_install_failure();
    see_other("/setup#step-runtime", None)
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
    match settings::save(&state.store, &state.sealer, &state.egress, event, request).await {
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

/// Back to the dashboard once the supervisor took the command, which says what is happening.
fn gateway_done(outcome: Result<GatewayState, GatewayError>, done: &str) -> Response {
    match outcome {
        Ok(_) => see_other(&format!("/?done={done}"), None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn start(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.start().await, "start")
}

async fn stop(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.stop().await, "stop")
}

async fn restart(State(state): State<AppState>, _: PageOwner) -> Response {
    gateway_done(state.gateway.restart().await, "restart")
}

async fn rotate(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    if let Err(page) = form
        .confirmed(&state, "Giving the gateway a new credential")
        .await
    {
        return page;
    }
    gateway_done(state.gateway.rotate_credential().await, "rotate")
}

struct SessionRow {
    id: String,
    created_at: Moment,
    last_seen_at: Moment,
    ip: String,
    user_agent: String,
    current: bool,
}

struct EventRow {
    at: Moment,
    kind: String,
    ip: String,
    user_agent: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    identity: Option<IdentityCard>,
    passkeys: PasskeyCard,
    exchange: Option<ExchangeCard>,
    password_message: Option<String>,
    password_ok: bool,
    sessions: Vec<SessionRow>,
    events: Vec<EventRow>,
    next_cursor: Option<String>,
    paged: bool,
    backups: BackupCard,
    backup_done: Option<&'static str>,
    config_versions: Vec<super::config_history_pages::VersionRow>,
}

#[derive(Deserialize)]
struct SettingsQuery {
    cursor: Option<String>,
    backup: Option<String>,
    config: Option<String>,
}

const EVENTS_PER_PAGE: usize = 20;

async fn settings_view(
    state: &AppState,
    current: &ActiveSession,
    cursor: Option<i64>,
    password_message: Option<(String, bool)>,
    backup_done: Option<&'static str>,
) -> Result<SettingsPage, ApiError> {
    let sessions = state
        .auth
        .session_summaries(current)
        .await?
        .into_iter()
        .map(|s: SessionSummary| SessionRow {
            created_at: Moment::of(&s.created_at),
            last_seen_at: Moment::of(&s.last_seen_at),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        })
        .collect();
    let rows = state.auth.events(cursor, EVENTS_PER_PAGE + 1).await?;
    let (rows, next_cursor) = paging::split(rows, EVENTS_PER_PAGE, |e| e.id.to_string());
    let events = rows
        .into_iter()
        .map(|e| EventRow {
            at: Moment::of(&rfc3339(e.at)),
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
        identity: identity_card(state).await?,
        passkeys: passkey_card(state).await?,
        exchange: exchange_card(state).await?,
        password_message,
        password_ok,
        sessions,
        events,
        next_cursor,
        paged: cursor.is_some(),
        backups: BackupCard {
            upload_now: state.auth.is_fresh(current),
            ..backup_card(state).await?
        },
        backup_done,
        config_versions: super::config_history_pages::config_history_card(state).await,
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
    let done = super::notices::backup_done(query.backup.as_deref()).or_else(|| {
        query.config.as_deref().filter(|c| *c == "restored").map(
            |_| "The earlier version of openclaw.json is back; a running gateway restarts with it.",
        )
    });
    match settings_view(&state, &current, cursor, None, done).await {
        Ok(page) => render(StatusCode::OK, page),
        Err(error) => error.into_page(),
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
    match settings_view(&state, &current, None, Some(message), None).await {
        Ok(page) => render(status, page),
        Err(error) => error.into_page(),
    }
}
