//! A passkey ceremony as the API carries it: its start (options for the browser) and the
//! browser's answer, shared by the passkey endpoints and the step-up.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub(super) struct Ceremony {
    /// Sent back with the answer, within five minutes; good once.
    pub(super) ceremony: String,
    /// For the browser: `{"publicKey": {…}}` (WebAuthn's JSON form).
    #[schema(value_type = Object)]
    pub(super) options: serde_json::Value,
}

/// The browser's answer to a ceremony.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Answer {
    pub(super) ceremony: String,
    /// `PublicKeyCredential.toJSON()`.
    #[schema(value_type = Object)]
    pub(super) credential: serde_json::Value,
}
