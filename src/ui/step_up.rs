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
use crate::auth::sessions::ActiveSession;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};

/// A form of no fields of its own (a button).
#[derive(serde::Deserialize)]
pub(super) struct NoFields {}

/// The field the confirmation page adds.
const PASSWORD_FIELD: &str = "reauth_password";

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
}

/// A page form that may need the password first: its fields, the owner's session, and the
/// password when the confirmation page sent one.
pub(super) struct Confirmable<T> {
    session: ActiveSession,
    client: ClientInfo,
    action: String,
    back: &'static str,
    fields: Vec<(String, String)>,
    password: Option<String>,
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
        // Every copy goes (none is posted on again); the last one typed counts.
        let mut password = None;
        fields.retain(|(name, value)| {
            if name == PASSWORD_FIELD {
                password = Some(value.clone());
                false
            } else {
                true
            }
        });
        let form = serde_urlencoded::from_bytes(&bytes).map_err(unreadable)?;
        Ok(Self {
            session,
            client,
            action,
            back,
            fields,
            password,
            form,
        })
    }
}

impl<T> Confirmable<T> {
    pub(super) fn session(&self) -> &ActiveSession {
        &self.session
    }

    /// The form, once the password was given recently in this session: when it was not, the
    /// password sent with the form confirms it; without one, or with a wrong one, the answer
    /// is the confirmation page for `what` (e.g. "Saving the provider settings").
    pub(super) async fn confirmed(
        self,
        state: &AppState,
        what: &str,
    ) -> Result<(ActiveSession, T), Response> {
        if state.auth.is_fresh(&self.session) {
            return Ok((self.session, self.form));
        }
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
                },
            )
        };
        let Some(password) = &self.password else {
            return Err(page(StatusCode::FORBIDDEN, None));
        };
        match state
            .auth
            .reauthenticate(&self.session, password, &self.client)
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
