//! Step-up: a sensitive action needs the owner to have confirmed it is them recently in the
//! session (the password, a passkey, or a fresh sign-in at the linked issuer), and what adds a
//! way in needs that proof in the very request. The Control UI runs on clawhost's origin:
//! script in it can make any request the owner's browser can, but not give a proof.

use super::passkeys::Passkeys;
use super::sessions::ActiveSession;
use super::{Auth, AuthError, ClientInfo, IssuerGrant, password};
use crate::clock::now_ms;
use crate::store::{self, EventKind};

/// What the owner gives, in the very request, to confirm it is them: the password, the
/// answer to a passkey ceremony, or the grant the linked issuer's confirmation left for this
/// session, this action (its path) and this nonce (see [`Auth::confirmed_by_issuer`]).
pub(crate) enum Proof {
    Password(String),
    Passkey {
        ceremony: String,
        credential: serde_json::Value,
    },
    Issuer {
        action: String,
        fields: Vec<(String, String)>,
        nonce: String,
    },
}

/// How the owner can confirm it is them now, besides the password (which always can).
pub(crate) struct WaysToConfirm {
    /// A passkey that works at this public URL.
    pub(crate) passkeys: bool,
    /// An identity linked at the issuer configured (`auth.oidc.issuer`).
    pub(crate) identity: bool,
}

impl Auth {
    pub(crate) async fn ways_to_confirm(&self) -> Result<WaysToConfirm, AuthError> {
        Ok(WaysToConfirm {
            passkeys: self.has_usable_passkey().await?,
            identity: self.identity_signs_in_here().await?,
        })
    }

    /// Whether the password was given in `session` recently enough for a sensitive action
    /// (changing the provider or its key, revoking other sessions, rotating the gateway's
    /// credential, installing OpenClaw, linking WhatsApp, passkeys, the linked identity). The
    /// Control UI runs on clawhost's origin: script in it can make any request the owner's
    /// browser can, but not give the password. (Its own socket to the gateway is another matter: docs/SECURITY.md.)
    pub(crate) fn is_fresh(&self, session: &ActiveSession) -> bool {
        session.is_fresh(self.settings.reauth_window, now_ms())
    }

    /// The owner gives the password again in `session` (a step-up), under the same lockouts
    /// as signing in.
    pub(crate) async fn reauthenticate(
        &self,
        session: &ActiveSession,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.take_attempt(client)?;
        self.confirm_password(password, client, "password", "This is not the password.")
            .await?;
        self.mark_reauthenticated(session, client).await
    }

    /// The password given by a signed-in owner: a wrong one is an error of that form field
    /// (the session stays), counted for the lockouts like any other.
    async fn confirm_password(
        &self,
        password: &str,
        client: &ClientInfo,
        field: &'static str,
        wrong: &str,
    ) -> Result<(), AuthError> {
        self.check_password(password, client, false)
            .await
            .map_err(|error| match error {
                AuthError::InvalidCredentials => AuthError::InvalidField {
                    field,
                    message: wrong.into(),
                },
                other => other,
            })
    }

    pub(super) async fn mark_reauthenticated(
        &self,
        session: &ActiveSession,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = now_ms();
        let id = session.id.clone();
        let event = client.event(EventKind::Reauthenticated);
        store::run(&self.store, move |s| {
            s.mark_reauthenticated(&id, now, &event)
        })
        .await?;
        self.sessions.reauthenticated(&session.id, now);
        Ok(())
    }

    /// Changes the password after checking the current one; every other session ends.
    pub(crate) async fn change_password(
        &self,
        current: &ActiveSession,
        current_password: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.take_attempt(client)?;
        password::check_policy(new_password).map_err(|message| AuthError::InvalidField {
            field: "new_password",
            message,
        })?;
        self.confirm_password(
            current_password,
            client,
            "current_password",
            "This is not the current password.",
        )
        .await?;
        let hash = self.guard.hash(new_password.to_owned()).await?;
        let keep = current.id.clone();
        let event = client.event(EventKind::PasswordChanged);
        store::run(&self.store, move |s| {
            s.change_password(&hash, &keep, &event)
        })
        .await?;
        self.sessions.refresh_epoch().await?;
        // The current password was just given: that is a step-up too.
        self.mark_reauthenticated(current, client).await
    }

    /// Checks `proof` for the owner of `session` (and counts as a step-up).
    pub(crate) async fn prove(
        &self,
        passkeys: &Passkeys,
        session: &ActiveSession,
        proof: Proof,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        match proof {
            Proof::Password(password) => self.reauthenticate(session, &password, client).await,
            Proof::Passkey {
                ceremony,
                credential,
            } => {
                self.reauthenticate_with_passkey(passkeys, session, &ceremony, credential, client)
                    .await
            }
            Proof::Issuer {
                action,
                fields,
                nonce,
            } => {
                let granted = self.issuer_confirmations.take(&session.id);
                let fits = granted.is_some_and(|grant| {
                    grant.action == action
                        && grant.fields == form_digest(&fields)
                        && crate::crypto::same_secret(grant.nonce.as_bytes(), nonce.as_bytes())
                });
                if !fits {
                    return Err(AuthError::NotAccepted(
                        "That confirmation was used already, has expired, or was for another action: confirm again."
                            .into(),
                    ));
                }
                // The step-up counts from here, the owner's click, not from the issuer's
                // answer: a confirmation left unused opens nothing.
                self.mark_reauthenticated(session, client).await
            }
        }
    }

    /// Records that the issuer just confirmed the owner in `session` for the form at `action`
    /// with `fields`: that form, and nothing else, may follow once with [`Proof::Issuer`]
    /// and the nonce returned, within `ISSUER_GRANT_TTL` (then the session is fresh).
    pub(super) fn confirmed_by_issuer(
        &self,
        session: &ActiveSession,
        action: &str,
        fields: &[(String, String)],
    ) -> String {
        let nonce = super::tokens::new_session_token();
        let grant = IssuerGrant {
            action: action.to_owned(),
            fields: form_digest(fields),
            nonce: nonce.clone(),
        };
        self.issuer_confirmations.insert(session.id.clone(), grant);
        nonce
    }
}

/// A digest of a form's fields, in order.
fn form_digest(fields: &[(String, String)]) -> [u8; 32] {
    let encoded = serde_urlencoded::to_string(fields).unwrap_or_default();
    crate::crypto::sha256(encoded.as_bytes())
}
