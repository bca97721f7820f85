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
use super::to_issuer;
use crate::auth::ClientInfo;
use crate::auth::oidc::{OidcError, Purpose};
use crate::auth::sessions::ActiveSession;
use crate::auth::step_up::Proof;
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
/// `start`: confirm at the linked issuer (the form goes there and back); `done:<nonce>`: the
/// issuer just confirmed the owner in this session for this form ([`Proof::Issuer`]).
const ISSUER_FIELD: &str = "reauth_issuer";
/// The most of a form kept in memory while the owner confirms at the issuer.
const MAX_KEPT_FORM: usize = 64 * 1024;

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
    /// The issuer that may confirm instead (the linked identity's).
    issuer: Option<&'a str>,
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
    /// The owner chose to confirm at the issuer.
    ask_issuer: bool,
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
        let mut ask_issuer = false;
        fields.retain(|(name, value)| {
            if name == ISSUER_FIELD {
                ask_issuer = value == "start";
                if let Some(nonce) = value.strip_prefix("done:") {
                    proof = Some(Proof::Issuer {
                        action: action.clone(),
                        fields: Vec::new(),
                        nonce: nonce.to_owned(),
                    });
                }
            } else if name == PASSWORD_FIELD && !value.is_empty() {
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
        // The issuer's confirmation is for this form as it was kept: the fields, without any
        // proof, in order.
        if let Some(Proof::Issuer { fields: kept, .. }) = &mut proof {
            kept.clone_from(&fields);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(unreadable)?;
        Ok(Self {
            session,
            client,
            action,
            back,
            fields,
            proof,
            ask_issuer,
            form,
        })
    }
}

impl<T> Confirmable<T> {
    pub(super) fn session(&self) -> &ActiveSession {
        &self.session
    }

    pub(super) fn client(&self) -> &ClientInfo {
        &self.client
    }

    /// The form, once the password was given recently in this session: when it was not, the
    /// password (or passkey) sent with the form confirms it; without one, or with a wrong one,
    /// the answer is the confirmation page for `what` (e.g. "Saving the provider settings").
    pub(super) async fn confirmed(
        self,
        state: &AppState,
        what: &str,
    ) -> Result<(ActiveSession, T), Response> {
        // A confirmation from the issuer given with the form is used up even in a fresh
        // session: it serves one action, once.
        let issuer_proof = matches!(self.proof, Some(Proof::Issuer { .. }));
        if !self.ask_issuer && !issuer_proof && state.auth.is_fresh(&self.session) {
            return Ok((self.session, self.form));
        }
        self.confirmed_now(state, what).await
    }

    /// The form, once the password (or a passkey) was given with it, in this very request,
    /// whatever was given before: for what adds a way in (a passkey, an identity, the
    /// broker's email), which script in the Control UI must not do in the minutes after a
    /// sign-in.
    pub(super) async fn confirmed_now(
        mut self,
        state: &AppState,
        what: &str,
    ) -> Result<(ActiveSession, T), Response> {
        if self.ask_issuer {
            return Err(self.confirm_at_issuer(state, what).await);
        }
        let Some(proof) = self.proof.take() else {
            return Err(self.page(state, what, StatusCode::FORBIDDEN, None).await);
        };
        match state
            .auth
            .prove(&state.passkeys, &self.session, proof, &self.client)
            .await
        {
            Ok(()) => Ok((self.session, self.form)),
            Err(error) => Err(match form_message(error) {
                Ok((status, message)) => self.page(state, what, status, Some(message)).await,
                Err(error) => error.into_page(),
            }),
        }
    }

    /// The confirmation page for `what`.
    async fn page(
        &self,
        state: &AppState,
        what: &str,
        status: StatusCode,
        error: Option<String>,
    ) -> Response {
        let ways = match state.auth.ways_to_confirm().await {
            Ok(ways) => ways,
            Err(error) => return ApiError::from(error).into_page(),
        };
        let issuer = state
            .oidc
            .as_ref()
            .filter(|_| ways.identity)
            .map(|oidc| oidc.settings().display_name.as_str());
        render(
            status,
            ConfirmPage {
                what,
                action: &self.action,
                back: self.back,
                fields: &self.fields,
                error,
                passkeys: ways.passkeys && state.passkeys.unavailable().is_none(),
                issuer,
            },
        )
    }

    /// Off to the linked issuer to confirm `what`; the form comes back with the owner.
    async fn confirm_at_issuer(self, state: &AppState, what: &str) -> Response {
        let Some(oidc) = &state.oidc else {
            return ApiError::from(OidcError::NotConfigured).into_page();
        };
        let kept: usize = self.fields.iter().map(|(n, v)| n.len() + v.len()).sum();
        if kept > MAX_KEPT_FORM {
            return ApiError::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is too large to confirm at the identity provider; confirm with your password or a passkey.",
            )
            .into_page();
        }
        let purpose = Purpose::Confirm {
            session_id: self.session.id,
            what: what.to_owned(),
            action: self.action,
            fields: self.fields,
            back: self.back.to_owned(),
        };
        let why = format!(
            "Sign in there again: that confirms it is you, and {} goes ahead when you are back.",
            lowercase_first(what)
        );
        to_issuer::continue_page(state, oidc, purpose, &why, &self.client).await
    }
    /// The form without asking (for a case of the action that needs no step-up).
    pub(super) fn unconfirmed(self) -> (ActiveSession, T) {
        (self.session, self.form)
    }
}

/// "Saving the settings" → "saving the settings", for the middle of a sentence.
fn lowercase_first(what: &str) -> String {
    let mut chars = what.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}
