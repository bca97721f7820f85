//! The dashboard's Usage card: the tokens the provider counted today and this month, against
//! the limits, and the switch that pauses the assistant's access to the model.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::render::see_other;
use super::step_up::Confirmable;
use crate::egress::Refusal;
use crate::state::AppState;
use crate::store::EventKind;
use crate::web::error::ApiError;
use crate::web::extract::ReturnTo;

pub(super) fn routes() -> Router<AppState> {
    ReturnTo::group("/", Router::new().route("/usage/access", post(access)))
}

pub(super) struct UsageCard {
    pub(super) today: String,
    pub(super) month: String,
    pub(super) paused: bool,
    /// A limit reached, in the words the agent gets.
    pub(super) reached: Option<String>,
}

/// "1 234 tokens", and "of 50 000" when there is a limit.
fn allowance(used: u64, limit: Option<usize>) -> String {
    match limit {
        Some(limit) => format!("{} of {} tokens", grouped(used), grouped(limit as u64)),
        None => format!("{} tokens (no limit)", grouped(used)),
    }
}

/// Digits in groups of three, for reading at a glance.
fn grouped(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

pub(super) fn usage_card(state: &AppState) -> UsageCard {
    let used = state.egress.used();
    let limits = state.egress.limits();
    let reached = match state.egress.limit_reached(used) {
        Some(Refusal::DailyLimit(_)) => Some(
            "The daily limit is reached: the assistant's requests are refused until midnight UTC.",
        ),
        Some(Refusal::MonthlyLimit(_)) => Some(
            "The monthly limit is reached: the assistant's requests are refused until the 1st (UTC).",
        ),
        Some(Refusal::Paused) | None => None,
    };
    UsageCard {
        today: allowance(used.today, limits.daily),
        month: allowance(used.month, limits.monthly),
        paused: state.egress.paused(),
        reached: reached.map(str::to_owned),
    }
}

#[derive(Deserialize)]
struct AccessForm {
    /// `pause` or `resume`.
    access: String,
}

async fn access(State(state): State<AppState>, form: Confirmable<AccessForm>) -> Response {
    let client = form.client().clone();
    let (_, form) = match form
        .confirmed(&state, "Pausing or resuming the assistant's model access")
        .await
    {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    let (paused, kind, done) = match form.access.as_str() {
        "pause" => (true, EventKind::ModelAccessPaused, "/?done=paused"),
        "resume" => (false, EventKind::ModelAccessResumed, "/?done=resumed"),
        _ => return ApiError::field("access", "Choose pause or resume.").into_page(),
    };
    match state.egress.set_paused(paused, client.event(kind)).await {
        Ok(()) => see_other(done, None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_in_groups() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1\u{202f}000");
        assert_eq!(grouped(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(allowance(5, Some(1000)), "5 of 1\u{202f}000 tokens");
    }
}
