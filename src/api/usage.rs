//! `/api/usage`: what the assistant asked of the provider through the egress proxy, per day
//! and model, as the provider's answers counted it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::state::AppState;
use crate::store::{EventKind, UsageRow};
use crate::web::error::ApiError;
use crate::web::extract::{ApiQuery, FreshOwner, Owner};

/// The longest span one request may ask for.
const MAX_DAYS: i64 = 366;
/// The span when none is asked for: the last 30 days, today included.
const DEFAULT_DAYS: i64 = 30;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UsageQuery {
    /// First day (UTC, `YYYY-MM-DD`); 29 days before `to` when not given.
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    from: Option<String>,
    /// Last day (UTC, `YYYY-MM-DD`), included; today when not given.
    #[param(pattern = r"^\d{4}-\d{2}-\d{2}$")]
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Usage {
    from: String,
    to: String,
    /// A row per day and model that saw a request, oldest first.
    days: Vec<UsageRow>,
    totals: UsageTotals,
    /// Whether the owner paused the assistant's access to the model.
    paused: bool,
    /// Tokens today (UTC) and the limit, if any (`usage.daily_token_limit`).
    today: Allowance,
    /// Tokens this month (UTC) and the limit, if any (`usage.monthly_token_limit`).
    month: Allowance,
}

#[derive(Serialize, ToSchema)]
struct Allowance {
    tokens: u64,
    limit: Option<u64>,
}

#[derive(Serialize, ToSchema, Default)]
struct UsageTotals {
    requests: u64,
    errors: u64,
    input_tokens: u64,
    output_tokens: u64,
}

/// Requests to the provider, their errors, and the tokens the provider reported, per day
/// (UTC) and model; at most 366 days at once.
#[utoipa::path(get, path = "/api/usage", tag = "usage", security(("session" = [])),
    params(UsageQuery), responses((status = 200, body = Usage)))]
async fn usage(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let to = match &query.to {
        Some(to) => day("to", to)?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let from = match &query.from {
        Some(from) => day("from", from)?,
        None => to - time::Duration::days(DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err(ApiError::field(
            "from",
            "The first day comes after the last.",
        ));
    }
    if (to - from).whole_days() >= MAX_DAYS {
        return Err(ApiError::field("from", "Ask for 366 days at most."));
    }
    let (from, to) = (show(from), show(to));
    let days = state.egress.usage(&from, &to).await?;
    let totals = days.iter().fold(UsageTotals::default(), |mut sum, row| {
        sum.requests += row.requests;
        sum.errors += row.errors;
        sum.input_tokens += row.input_tokens;
        sum.output_tokens += row.output_tokens;
        sum
    });
    let used = state.egress.used();
    let limits = state.egress.limits();
    Ok(Json(Usage {
        from,
        to,
        days,
        totals,
        paused: state.egress.paused(),
        today: Allowance {
            tokens: used.today,
            limit: limits.daily.map(|l| l as u64),
        },
        month: Allowance {
            tokens: used.month,
            limit: limits.monthly.map(|l| l as u64),
        },
    }))
}

/// Pauses the assistant's access to the model, without a restart: the egress proxy refuses
/// its next request with words the agent shows, until resumed. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/usage/pause", tag = "usage", security(("session" = [])),
    responses((status = 204, description = "Paused")))]
async fn pause(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    set_paused(&state, &client, true).await
}

/// Lets the assistant's requests through to the model again. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/usage/resume", tag = "usage", security(("session" = [])),
    responses((status = 204, description = "Resumed")))]
async fn resume(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    set_paused(&state, &client, false).await
}

async fn set_paused(
    state: &AppState,
    client: &ClientInfo,
    paused: bool,
) -> Result<StatusCode, ApiError> {
    let kind = if paused {
        EventKind::ModelAccessPaused
    } else {
        EventKind::ModelAccessResumed
    };
    state.egress.set_paused(paused, client.event(kind)).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn day(field: &str, text: &str) -> Result<time::Date, ApiError> {
    let parts: Vec<&str> = text.split('-').collect();
    let parsed = match parts.as_slice() {
        [year, month, day] if year.len() == 4 && month.len() == 2 && day.len() == 2 => {
            let month = month
                .parse::<u8>()
                .ok()
                .and_then(|m| time::Month::try_from(m).ok());
            match (year.parse::<i32>(), month, day.parse::<u8>()) {
                (Ok(year), Some(month), Ok(day)) => {
                    time::Date::from_calendar_date(year, month, day).ok()
                }
                _ => None,
            }
        }
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::field(field, "A day as YYYY-MM-DD, e.g. 2026-12-07."))
}

/// `YYYY-MM-DD`, as the store keeps days.
fn show(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}
