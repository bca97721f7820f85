//! What the command line does to ownership while the server may be running: a fresh claim
//! code, and the owner reset. Synchronous: each runs before (or beside) the server, on the
//! store directly.

use std::time::Duration;

use super::tokens;
use crate::clock::now_ms;
use crate::store::{EventKind, IssueCodeOutcome, NewEvent, Store, StoreError};

fn expiry(ttl: Duration) -> i64 {
    now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn cli_event(kind: EventKind) -> NewEvent {
    NewEvent {
        at: now_ms(),
        kind,
        ip: None,
        user_agent: Some("clawhost CLI".into()),
        detail: None,
    }
}

/// Issues a fresh claim code (the old one stops working). `None` when an owner exists.
/// Synchronous: used by the CLI and at start, before the runtime serves requests.
pub(crate) fn issue_claim_code(
    store: &dyn Store,
    ttl: Duration,
) -> Result<Option<String>, StoreError> {
    let (code, hash) = tokens::new_claim_code();
    let outcome = store.issue_claim_code(
        hash,
        now_ms(),
        expiry(ttl),
        &cli_event(EventKind::ClaimCodeIssued),
    )?;
    Ok(match outcome {
        IssueCodeOutcome::Issued => Some(code),
        IssueCodeOutcome::AlreadyClaimed => None,
    })
}

/// Removes the owner and every session; returns the new claim code.
pub(crate) fn reset_owner(store: &dyn Store, ttl: Duration) -> Result<String, StoreError> {
    let (code, hash) = tokens::new_claim_code();
    store.reset_owner(hash, expiry(ttl), &cli_event(EventKind::OwnerReset))?;
    Ok(code)
}
