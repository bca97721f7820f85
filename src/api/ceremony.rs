//! A passkey ceremony as the API carries it: its start (options for the browser) and the
//! browser's answer, shared by the passkey endpoints and the step-up; and the proof an
//! owner gives in a request: the password, or a passkey's answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::ClientInfo;
use crate::auth::sessions::ActiveSession;
use crate::auth::step_up::Proof;
use crate::state::AppState;
use crate::web::error::ApiError;

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

/// The owner confirms it is them in this request: the password, or the answer to a passkey
/// ceremony from `POST /api/auth/passkeys/login/start`. One of them.
#[derive(Deserialize, ToSchema)]
pub(super) struct ProofFields {
    password: Option<String>,
    passkey: Option<Answer>,
}

impl ProofFields {
    /// Checks the proof for the owner of `session`: without one, 403
    /// `reauthentication-required`; with both, 422.
    pub(super) async fn check(
        self,
        state: &AppState,
        session: &ActiveSession,
        client: &ClientInfo,
    ) -> Result<(), ApiError> {
        let proof = match (self.password, self.passkey) {
            (Some(password), None) => Proof::Password(password),
            (None, Some(answer)) => Proof::Passkey {
                ceremony: answer.ceremony,
                credential: answer.credential,
            },
            (None, None) => return Err(ApiError::ReauthenticationRequired),
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "password",
                    "Give the password, or a passkey answer, not both.",
                ));
            }
        };
        Ok(state
            .auth
            .prove(&state.passkeys, session, proof, client)
            .await?)
    }
}
