//! `/api/status`: the replaced wrapper's "status checks", kept for scripts that use them.
//! `POST` stays open (as before) but is rate-limited per client address unless the owner's
//! session makes it; `GET` is the owner's, newest first, by cursor. Names are checked
//! (1–255 characters after trimming, no control characters), ids are UUIDv7, times RFC 3339.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::auth::limiter::retry_after_secs;
use crate::clock::{now_ms, rfc3339};
use crate::crypto::{hex, random_bytes};
use crate::state::AppState;
use crate::store::{self, StatusBudget, StatusCheck};
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, ApiQuery, MaybeOwner, Owner};
use crate::web::paging;

pub(super) const MAX_NAME_CHARS: usize = 255;
/// The owner's checks kept; the oldest go first.
const OWNER_BUDGET: StatusBudget = StatusBudget {
    rows: 100_000,
    bytes: 100_000 * MAX_NAME_CHARS * 4,
};
/// Anonymous checks kept, far fewer: strangers can neither push out the owner's history nor
/// fill the disk. The oldest anonymous ones go first.
pub(super) const ANONYMOUS_BUDGET: StatusBudget = StatusBudget {
    rows: 1_000,
    bytes: 128 * 1024,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit counter that keeps ids made
/// in the same millisecond in creation order (RFC 9562 §6.2, method 1), then random bits.
fn uuid_v7(ms: i64) -> String {
    static LAST: std::sync::Mutex<(u64, u16)> = std::sync::Mutex::new((0, 0));
    let (ms, counter) = {
        let mut last = LAST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = u64::try_from(ms).unwrap_or(0);
        *last = if ms > last.0 {
            (ms, 0)
        } else if last.1 < 0x0fff {
            (last.0, last.1 + 1)
        } else {
            (last.0 + 1, 0)
        };
        *last
    };
    let mut bytes = random_bytes::<16>();
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (counter >> 8) as u8;
    bytes[7] = (counter & 0xff) as u8;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// 1–255 characters once spaces at either end are trimmed; no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    client_name: String,
}

#[derive(Serialize, ToSchema)]
struct Item {
    /// A UUIDv7: ids sort in creation order.
    #[schema(format = "uuid")]
    id: String,
    client_name: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    timestamp: String,
}

fn item(check: StatusCheck) -> Item {
    Item {
        timestamp: rfc3339(check.created_at),
        id: check.id,
        client_name: check.client_name,
    }
}

fn check_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::field(
            "client_name",
            format!("Use 1 to {MAX_NAME_CHARS} characters (spaces at either end do not count)."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "client_name",
            "Control characters (line breaks, tabs, …) are not allowed.",
        ));
    }
    Ok(name.to_string())
}

/// Records a status check (open to anyone, rate-limited per client address unless the
/// owner's session makes it).
#[utoipa::path(post, path = "/api/status", tag = "status", request_body = CreateRequest,
    responses((status = 201, body = Item)))]
async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(owner): MaybeOwner,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    if owner.is_none() {
        state
            .status_limit
            .take(&client.limit_key, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(wait),
            })?;
    }
    let client_name = check_name(&body.client_name)?;
    let now = now_ms();
    let check = StatusCheck {
        id: uuid_v7(now),
        client_name,
        created_at: now,
        anonymous: owner.is_none(),
    };
    let budget = if check.anonymous {
        ANONYMOUS_BUDGET
    } else {
        OWNER_BUDGET
    };
    let saved = check.clone();
    store::run(&state.store, move |s| s.insert_status_check(&saved, budget)).await?;
    Ok((StatusCode::CREATED, Json(item(check))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Items per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Page {
    items: Vec<Item>,
    next_cursor: Option<String>,
}

fn valid_cursor(cursor: &str) -> bool {
    cursor.len() == 36 && cursor.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Status checks, newest first, a page at a time.
#[utoipa::path(get, path = "/api/status", tag = "status", security(("session" = [])),
    params(ListQuery), responses((status = 200, body = Page)))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = paging::page_limit(query.limit)?;
    let cursor = query.cursor.filter(|c| !c.is_empty());
    if cursor.as_deref().is_some_and(|c| !valid_cursor(c)) {
        return Err(ApiError::field(
            "cursor",
            "Use the next_cursor of a previous page.",
        ));
    }
    let rows = store::run(&state.store, move |s| {
        s.status_checks(cursor.as_deref(), limit + 1)
    })
    .await?;
    let (rows, next_cursor) = paging::split(rows, limit, |r| r.id.clone());
    Ok(Json(Page {
        items: rows.into_iter().map(item).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_7_and_ordered() {
        let a = uuid_v7(1_000);
        let b = uuid_v7(2_000);
        let same: Vec<String> = (0..100).map(|_| uuid_v7(3_000)).collect();
        assert!(
            same.windows(2).all(|w| w[0] < w[1]),
            "same-millisecond ids stay ordered"
        );
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert!(a < b);
        assert!(valid_cursor(&a));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  probe-1 ").ok().as_deref(), Some("probe-1"));
        assert!(check_name("   ").is_err());
        assert!(check_name(&"x".repeat(256)).is_err());
        assert!(check_name(&"é".repeat(255)).is_ok());
        assert!(check_name("a\u{7}b").is_err());
        assert!(
            check_name("{\"$gt\": \"\"}").is_ok(),
            "stored as text, never interpreted"
        );
    }
}
