//! Signing the owner in with a session of the replaced wrapper's sign-in broker (see
//! [`super::exchange`]), and the email the owner sets for it.

use super::exchange::{
    ExchangeError, MAX_SESSION_ID, Refusal, SessionExchange, checked_session_id, same_email,
};
use super::{Auth, AuthError, ClientInfo, SignedIn};
use crate::clock::now_ms;
use crate::store::{self, EventKind, Store};

impl Auth {
    pub(crate) async fn exchange_email(&self) -> Result<Option<String>, AuthError> {
        Ok(store::run(&self.store, Store::exchange_email).await?)
    }

    /// Sets (or with `None` forgets) the email the broker must answer; false when there was
    /// nothing to forget.
    pub(crate) async fn set_exchange_email(
        &self,
        email: Option<&str>,
        client: &ClientInfo,
    ) -> Result<bool, AuthError> {
        let email = match email.map(str::trim) {
            Some(email)
                if email.len() > 254
                    || !email.contains('@')
                    || email.chars().any(char::is_control) =>
            {
                return Err(AuthError::InvalidField {
                    field: "email",
                    message: "An email address like owner@example.com.".into(),
                });
            }
            other => other.map(str::to_owned),
        };
        let mut event = client.event(if email.is_some() {
            EventKind::ExchangeEmailSet
        } else {
            EventKind::ExchangeEmailRemoved
        });
        event.detail.clone_from(&email);
        let at = now_ms();
        Ok(store::run(&self.store, move |s| {
            s.bind_exchange_email(email.as_deref(), at, &event)
        })
        .await?)
    }

    /// Signs the owner in with the broker's session `session_id`, under the abuse limits.
    /// Not a step-up: the browser brought the id, and anything in the browser could.
    pub(crate) async fn sign_in_with_exchange(
        &self,
        exchange: Option<&SessionExchange>,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let exchange = exchange.ok_or(AuthError::Exchange(ExchangeError::NotConfigured))?;
        let session_id = checked_session_id(session_id).ok_or_else(|| AuthError::InvalidField {
            field: "session_id",
            message: format!("A session id is 1 to {MAX_SESSION_ID} visible ASCII characters."),
        })?;
        self.within_limits(&self.exchange_failures, client)?;
        let said = exchange.ask(session_id).await?;
        let owner = self.exchange_email().await?;
        let refusal = match (said, owner) {
            (Ok(email), Some(owner)) if same_email(&email, &owner) => {
                let mut event = client.event(EventKind::LoginExchange);
                event.detail = Some(owner);
                return self.open_session(client, event, false).await;
            }
            (Ok(_), _) => Refusal::NotTheOwner,
            (Err(refusal), _) => refusal,
        };
        let why = match refusal {
            Refusal::Unknown(status) => format!("session exchange: the broker answered {status}"),
            Refusal::Unverified => "session exchange: no verified email".into(),
            Refusal::NotTheOwner => "session exchange: not the owner's email".into(),
        };
        self.refused(&self.exchange_failures, client, why).await?;
        Err(AuthError::NotTheOwner)
    }
}
