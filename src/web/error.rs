//! The edge's one error type, and the one translation of every domain error into it: which
//! status, and which sentence for the person who must act. The JSON API renders it as an
//! RFC 9457 problem, pages as a readable page or a message next to a form; both read the
//! same translation.
//!
//! What the client reads is separate from what the log gets: a 5xx never carries internal
//! detail, only the request id to quote.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::problems::{ABOUT_BLANK, html_error, problem};
use crate::auth::AuthError;
use crate::auth::exchange::ExchangeError;
use crate::auth::limiter::retry_after_secs;
use crate::auth::oidc::OidcError;
use crate::auth::passkeys::PasskeyError;
use crate::backup::{ArchiveError, BackupError};
use crate::channels::whatsapp_link::LinkError;
use crate::gateway::config_history::HistoryError;
use crate::gateway::settings::SettingsError;
use crate::gateway::status::GatewayError;
use crate::store::StoreError;
use crate::update::UpdateError;
use crate::validation::FieldError;

/// The problem type of [`ApiError::ReauthenticationRequired`]; clients (and `app.js`) match
/// its end.
pub(crate) const REAUTHENTICATION_REQUIRED: &str = "urn:clawhost:problem:reauthentication-required";

#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400, 401, 403, 404, 409, … with a human sentence.
    Status { status: StatusCode, detail: String },
    /// 422 with one entry per offending field.
    Validation(Vec<FieldError>),
    /// 429; the client may retry after this many seconds.
    TooManyRequests { retry_after_secs: u64 },
    /// 403: a sensitive action, and the password was not given recently in this session.
    ReauthenticationRequired,
    /// 500; the cause is logged, never shown.
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::Status {
            status,
            detail: detail.into(),
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::status(
            StatusCode::UNAUTHORIZED,
            "Sign in as the owner to continue.",
        )
    }

    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub(crate) fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Status { status, .. } => *status,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ReauthenticationRequired => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the person reads; `None` for a server failure, which says only that it failed.
    pub(crate) fn sentence(&self) -> Option<String> {
        match self {
            ApiError::Status { detail, .. } => Some(detail.clone()),
            ApiError::Validation(errors) => Some(
                errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ApiError::TooManyRequests { retry_after_secs } => Some(format!(
                "Too many attempts. Try again in {}.",
                wait_in_words(*retry_after_secs)
            )),
            ApiError::ReauthenticationRequired => Some(
                "Confirm your password for this (POST /api/auth/reauthenticate), then try again."
                    .into(),
            ),
            ApiError::Internal(_) => None,
        }
    }

    /// The same error as a page for a browser.
    pub(crate) fn into_page(self) -> Response {
        if let Some(sentence) = self.sentence() {
            html_error(self.status_code(), &sentence)
        } else {
            log_internal(&self);
            html_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server. The log has the details.",
            )
        }
    }
}

fn log_internal(error: &ApiError) {
    if let ApiError::Internal(cause) = error {
        // The request id is already on the span; the response says only that it failed.
        tracing::error!(%cause, "internal error");
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        match &self {
            ApiError::Status { detail, .. } => problem(status, ABOUT_BLANK, Some(detail), None),
            ApiError::Validation(errors) => problem(
                status,
                "urn:clawhost:problem:validation",
                Some("Some fields are not valid; see errors."),
                Some(errors),
            ),
            ApiError::TooManyRequests { retry_after_secs } => {
                let mut response = problem(
                    status,
                    "urn:clawhost:problem:rate-limited",
                    self.sentence().as_deref(),
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                response
            }
            ApiError::ReauthenticationRequired => problem(
                status,
                REAUTHENTICATION_REQUIRED,
                self.sentence().as_deref(),
                None,
            ),
            ApiError::Internal(_) => {
                log_internal(&self);
                problem(
                    status,
                    ABOUT_BLANK,
                    Some(
                        "Something went wrong on the server. The log has the details under this response's x-request-id.",
                    ),
                    None,
                )
            }
        }
    }
}

impl From<OidcError> for ApiError {
    fn from(error: OidcError) -> Self {
        match error {
            OidcError::NotConfigured => ApiError::status(
                StatusCode::NOT_FOUND,
                "Signing in with an identity provider is not set up here (auth.oidc.issuer).",
            ),
            OidcError::Unreachable(cause) => {
                tracing::warn!(%cause, "the OpenID Connect issuer could not be used");
                ApiError::status(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "The identity provider could not be reached ({cause}). Sign in with the password, or try again later."
                    ),
                )
            }
            OidcError::NoSuchFlow => ApiError::status(
                StatusCode::BAD_REQUEST,
                "This sign-in is not under way here any more: it took longer than 10 minutes, was used already, or began in another browser. Start it again.",
            ),
            OidcError::Refused(said) => ApiError::status(
                StatusCode::FORBIDDEN,
                format!("The identity provider did not sign you in: {said}"),
            ),
            OidcError::Invalid(cause) => {
                tracing::warn!(%cause, "an OpenID Connect answer was refused");
                ApiError::status(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The identity provider's answer was refused, so nobody was signed in: {cause}."
                    ),
                )
            }
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(error: PasskeyError) -> Self {
        match error {
            PasskeyError::Unavailable(why) => ApiError::status(
                StatusCode::CONFLICT,
                format!("Passkeys cannot be used here: {why}."),
            ),
            PasskeyError::NoSuchCeremony => ApiError::status(
                StatusCode::BAD_REQUEST,
                "This passkey request has expired or was used already. Try again.",
            ),
            PasskeyError::Malformed(why) => ApiError::field("credential", why),
            PasskeyError::Refused(why) => ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, why),
            PasskeyError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => {
                ApiError::status(StatusCode::UNAUTHORIZED, "The password is not correct.")
            }
            AuthError::TooManyAttempts { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(retry_after),
            },
            AuthError::AlreadyClaimed => ApiError::status(
                StatusCode::CONFLICT,
                "This instance already has an owner. Sign in at /login.",
            ),
            AuthError::InvalidClaimCode => ApiError::status(
                StatusCode::FORBIDDEN,
                "The claim code is wrong or has expired. Run 'clawhost claim-code' on the server for a new one.",
            ),
            AuthError::InvalidField { field, message } => ApiError::field(field, message),
            AuthError::NoSuchSession => {
                ApiError::status(StatusCode::NOT_FOUND, "There is no such session.")
            }
            // The same words for everyone: nothing about who the owner is.
            AuthError::NotTheOwner => ApiError::status(
                StatusCode::FORBIDDEN,
                "This instance has an owner, and this identity is not linked to it. Nobody was signed in.",
            ),
            AuthError::NotAccepted(why) => ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, why),
            AuthError::NoSuchPasskey => {
                ApiError::status(StatusCode::NOT_FOUND, "There is no such passkey.")
            }
            AuthError::PasskeyRefused => ApiError::status(
                StatusCode::UNAUTHORIZED,
                "This passkey does not sign in here.",
            ),
            AuthError::LastWayIn => ApiError::status(
                StatusCode::CONFLICT,
                "That would leave no way to sign in: with the password off, a passkey that works here, or the linked identity, must remain. Turn the password back on first, or add another passkey.",
            ),
            AuthError::PasswordSignInOff => ApiError::status(
                StatusCode::UNAUTHORIZED,
                "Signing in with the password is off here: use a passkey, or your identity provider.",
            ),
            AuthError::SecondFactorRequired => ApiError::status(
                StatusCode::UNAUTHORIZED,
                "This instance asks for a passkey to sign in, not the password alone: sign in with your passkey.",
            ),
            AuthError::Passkey(error) => error.into(),
            AuthError::Exchange(ExchangeError::NotConfigured) => ApiError::status(
                StatusCode::NOT_FOUND,
                "Signing in through a session broker is not set up here (auth.session_exchange.url).",
            ),
            // The session is not confirmed, so nobody is signed in: a refusal, not a failure
            // of clawhost's (and never a 5xx for what the broker does).
            AuthError::Exchange(ExchangeError::Unreachable(why)) => {
                tracing::warn!(%why, "the session broker could not confirm a session");
                ApiError::status(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "The sign-in broker could not confirm this session: {why}. Sign in with the password, or try again later."
                    ),
                )
            }
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Conflict(detail) => ApiError::status(StatusCode::CONFLICT, detail),
            GatewayError::Gone => ApiError::internal(error),
        }
    }
}

impl From<BackupError> for ApiError {
    fn from(error: BackupError) -> Self {
        match error {
            BackupError::Busy | BackupError::Refused(_) => {
                ApiError::status(StatusCode::CONFLICT, error.to_string())
            }
            BackupError::NotFound(_) => ApiError::status(StatusCode::NOT_FOUND, error.to_string()),
            BackupError::TooLarge(_) => {
                ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
            }
            BackupError::Passphrase(message) => ApiError::field("passphrase", message),
            BackupError::Archive(ArchiveError::NotABackup) => {
                ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
            }
            BackupError::Archive(_)
            | BackupError::Store(_)
            | BackupError::OpenClaw(_)
            | BackupError::Io { .. } => ApiError::internal(error),
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(error: UpdateError) -> Self {
        ApiError::status(StatusCode::CONFLICT, error.to_string())
    }
}

impl From<HistoryError> for ApiError {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::NotFound(_) => ApiError::status(StatusCode::NOT_FOUND, error.to_string()),
            HistoryError::Io(_) => ApiError::internal(error),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> Self {
        match error {
            SettingsError::Invalid(errors) => ApiError::Validation(errors),
            SettingsError::NothingSaved => {
                ApiError::status(StatusCode::CONFLICT, "Save a provider first.")
            }
            SettingsError::Store(_) | SettingsError::Key(_) => ApiError::internal(error),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::GatewayNotRunning => {
                ApiError::status(StatusCode::CONFLICT, error.to_string())
            }
        }
    }
}

/// A wait as people say it: seconds under a minute, else whole minutes (rounded up).
fn wait_in_words(secs: u64) -> String {
    match secs {
        1 => "1 second".into(),
        0..60 => format!("{secs} seconds"),
        60 => "1 minute".into(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12, defect 9: "Wait 1 seconds" and "900 s" are not how people say it.
    #[test]
    fn waits_are_said_in_words() {
        assert_eq!(wait_in_words(1), "1 second");
        assert_eq!(wait_in_words(45), "45 seconds");
        assert_eq!(wait_in_words(90), "2 minutes");
        assert_eq!(wait_in_words(60), "1 minute");
        assert_eq!(wait_in_words(900), "15 minutes");
    }

    /// Pages and the API read one translation: the same status and the same sentence.
    #[test]
    fn pages_and_the_api_say_the_same() {
        let error = ApiError::from(AuthError::TooManyAttempts {
            retry_after: std::time::Duration::from_millis(1500),
        });
        assert_eq!(error.status_code(), StatusCode::TOO_MANY_REQUESTS);
        let sentence = error.sentence().expect("shown");
        assert!(sentence.contains("Try again in 2 seconds."), "{sentence}");
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");

        let error = ApiError::from(AuthError::Internal("disk on fire".into()));
        assert_eq!(error.sentence(), None, "internal causes are never shown");
        assert_eq!(
            error.into_page().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
