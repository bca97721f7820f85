//! What the rest of clawhost sees of the supervised gateway: its state and status, the
//! progress of a start or an install, the running gateway's credential, and the errors a
//! command to the supervisor can end in.

use std::sync::Arc;

use serde::Serialize;
use zeroize::Zeroizing;

use super::install_report::InstallFailure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// The API document has named it `State` since the first release.
#[schema(as = State)]
pub(crate) enum GatewayState {
    Stopped,
    Installing,
    Starting,
    Running,
    Stopping,
    Backoff,
    NeedsAttention,
}

impl GatewayState {
    pub(crate) const ALL: [&'static str; 7] = [
        "stopped",
        "installing",
        "starting",
        "running",
        "stopping",
        "backoff",
        "needs_attention",
    ];

    /// Its name in the API (`needs_attention`, …).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Stopped => "stopped",
            Self::Installing => "installing",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Backoff => "backoff",
            Self::NeedsAttention => "needs_attention",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Exit {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
    pub(crate) at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Attention {
    pub(crate) reason: String,
    pub(crate) log_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Status {
    pub(crate) state: GatewayState,
    pub(crate) pid: Option<u32>,
    pub(crate) started_at: Option<String>,
    pub(crate) restarts: u32,
    pub(crate) last_exit: Option<Exit>,
    pub(crate) openclaw_version: Option<String>,
    pub(crate) attention: Option<Attention>,
    /// The last install's failure, until the owner dismisses it or installs again.
    pub(crate) install_failure: Option<InstallFailure>,
}

impl Status {
    pub(crate) fn stopped() -> Self {
        Self {
            state: GatewayState::Stopped,
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
            openclaw_version: None,
            attention: None,
            install_failure: None,
        }
    }
}

/// One step of a start or an install, for the progress bar.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) phase: &'static str,
    pub(crate) elapsed_ms: u64,
    pub(crate) timeout_ms: u64,
    pub(crate) detail: String,
    /// How far the whole is done (0–100), where that is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) percent: Option<u8>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    #[error("{0}")]
    Conflict(String),
    #[error("the gateway supervisor is not running")]
    Gone,
}

/// The credential of the running gateway: in memory only.
#[derive(Clone)]
pub(crate) struct Credential {
    pub(crate) port: u16,
    pub(crate) token: Arc<Zeroizing<String>>,
}
