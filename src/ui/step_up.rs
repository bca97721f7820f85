//! Step-up on pages: a form of a sensitive action, posted when the password was not given in
//! this session in the last few minutes, is answered with a page asking for it. That page
//! posts the very same fields again, with the password, so the action carries on and nothing
//! the owner entered is lost. (With JavaScript the enhanced forms fall back to posting
//! themselves when the API asks for the password, and meet the same page.)

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::render::{form_message, render};
use crate::auth::ClientInfo;
use crate::auth::passkey_sign_in::Proof;
use crate::auth::sessions::ActiveSession;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

/// A form of no fields of its own (a button).
#[derive(serde::Deserialize)]
pub(super) struct NoFields {}

/// The fields the confirmation page adds: the password, or (with script) a passkey's answer
/// as JSON (`{"ceremony", "credential"}`).
const PASSWORD_FIELD: &str = "reauth_password";
const PASSKEY_FIELD: &str = "reauth_passkey";

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    what: &'a str,
    action: &'a str,
    back: &'a str,
    fields: &'a [(String, String)],
    error: Option<String>,
    /// Whether a passkey may confirm instead (with WebAuthn in the browser).
    passkeys: bool,
    /// Whether the password may (the owner may have turned it off).
    password: bool,
}

/// A page form that may need the password first: its fields, the owner's session, and the
/// password when the confirmation page sent one.
pub(super) struct Confirmable<T> {
    session: ActiveSession,
    client: ClientInfo,
    action: String,
    back: &'static str,
    fields: Vec<(String, String)>,
    proof: Option<Proof>,
    form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Confirmable<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let PageOwner(session) = PageOwner::from_request_parts(&mut parts, state).await?;
        let Ok(client) = ClientInfo::from_request_parts(&mut parts, state).await;
        let back = parts.extensions.get::<ReturnTo>().map_or("/", |r| r.0);
        let action = parts.uri.path().to_owned();
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let unreadable = |_| {
            ApiError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The form could not be read.",
            )
            .into_page()
        };
        let mut fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(unreadable)?;
        // Every copy goes (none is posted on again); the last one given counts.
        let mut proof = None;
        fields.retain(|(name, value)| {
            if name == PASSWORD_FIELD && !value.is_empty() {
                proof = Some(Proof::Password(value.clone()));
            } else if name == PASSKEY_FIELD {
                let answer: Option<serde_json::Value> = serde_json::from_str(value).ok();
                proof = answer.map(|answer| Proof::Passkey {
                    ceremony: answer["ceremony"].as_str().unwrap_or_default().to_owned(),
                    credential: answer["credential"].clone(),
                });
            } else {
                return true;
            }
            false
        });
        let form = serde_urlencoded::from_bytes(&bytes).map_err(unreadable)?;
        Ok(Self {
            session,
            client,
            action,
            back,
            fields,
            proof,
            form,
        })
    }
}

impl<T> Confirmable<T> {
    pub(super) fn session(&self) -> &ActiveSession {
        &self.session
    }

    /// The form, once the password was given recently in this session: when it was not, the
    /// password (or passkey) sent with the form confirms it; without one, or with a wrong one,
    /// the answer is the confirmation page for `what` (e.g. "Saving the provider settings").
    pub(super) async fn confirmed(
        self,
        state: &AppState,
        what: &str,
    ) -> Result<(ActiveSession, T), Response> {
        if state.auth.is_fresh(&self.session) {
            return Ok((self.session, self.form));
        }
        self.confirmed_now(state, what).await
    }

    /// The form, once the password (or a passkey) was given with it, in this very request,
    /// whatever was given before: for what adds a way in (a passkey, an identity, the
    /// broker's email), which script in the Control UI must not do in the minutes after a
    /// sign-in.
    pub(super) async fn confirmed_now(
        self,
        state: &AppState,
        what: &str,
    ) -> Result<(ActiveSession, T), Response> {
        let password = state.auth.password_signs_in().await.unwrap_or(true);
        let page = |status, error| {
            render(
                status,
                ConfirmPage {
                    what,
                    action: &self.action,
                    back: self.back,
                    fields: &self.fields,
                    error,
                    passkeys: state.passkeys.unavailable().is_none(),
                    password,
                },
            )
        };
        let Some(proof) = self.proof else {
            return Err(page(StatusCode::FORBIDDEN, None));
        };
        match state
            .auth
            .prove(&state.passkeys, &self.session, proof, &self.client)
            .await
        {
            Ok(()) => Ok((self.session, self.form)),
            Err(error) => Err(match form_message(error) {
                Ok((status, message)) => page(status, Some(message)),
                Err(error) => error.into_page(),
            }),
        }
    }

    /// The form without asking (for a case of the action that needs no step-up).
    pub(super) fn unconfirmed(self) -> (ActiveSession, T) {
        (self.session, self.form)
    }
}
