//! The owner's identity at an OpenID Connect issuer: linking it (the owner, signed in and
//! with a proof in that very request, signs in at the issuer), signing in with it,
//! confirming a sensitive action with it, unlinking it. Only the issuer and the subject it
//! names decide; the email is shown, never compared.

use std::time::Instant;

use super::oidc::{Identity, OidcError};
use super::sessions::ActiveSession;
use super::{Auth, AuthError, ClientInfo, SignedIn};
use crate::clock::now_ms;
use crate::store::{self, EventKind, Here, IdentityUnlinked, LinkedIdentity, NewEvent, Store};

impl Auth {
    pub(crate) async fn linked_identity(&self) -> Result<Option<LinkedIdentity>, AuthError> {
        Ok(store::run(&self.store, Store::linked_identity).await?)
    }

    /// The abuse limits, before a sign-in at the issuer begins.
    pub(crate) fn may_begin_identity_sign_in(&self, client: &ClientInfo) -> Result<(), AuthError> {
        self.within_limits(&self.foreign_identities, client)
    }

    /// Signs in with an identity the issuer vouched for. Only the one linked to the owner
    /// opens a session; anyone else learns nothing (not whether an identity is linked, nor
    /// whose), and is counted like a wrong password.
    pub(crate) async fn sign_in_with_identity(
        &self,
        identity: &Identity,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        self.may_begin_identity_sign_in(client)?;
        if !self.is_linked(identity).await? {
            let why = "an identity not linked to the owner".to_owned();
            self.refused(&self.foreign_identities, client, why).await?;
            return Err(AuthError::NotTheOwner);
        }
        let mut event = client.event(EventKind::LoginOidc);
        event.detail = Some(shown(identity));
        // Not a step-up: an issuer that signs a known browser in without asking (Google
        // does) would let script in the Control UI get a fresh session just by navigating
        // to `/auth/oidc/start?next=/openclaw/`. The sensitive actions still need the
        // password given in the session.
        self.open_session(client, event, false).await
    }

    /// Links `identity` to the owner signed in with `current`, when the link was begun in
    /// that session (`begun_in`).
    pub(crate) async fn link_identity(
        &self,
        begun_in: &str,
        current: &ActiveSession,
        identity: &Identity,
        client: &ClientInfo,
    ) -> Result<LinkedIdentity, AuthError> {
        if begun_in != current.id {
            return Err(begun_elsewhere());
        }
        email_verified(identity)?;
        let linked = LinkedIdentity {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            linked_at: now_ms(),
        };
        let mut event = client.event(EventKind::IdentityLinked);
        event.detail = Some(shown(identity));
        let row = linked.clone();
        let stored = store::run(&self.store, move |s| s.link_identity(&row, &event)).await?;
        if stored {
            Ok(linked)
        } else {
            Err(AuthError::Internal(
                "no owner to link an identity to".into(),
            ))
        }
    }

    /// The owner, signed in with `current`, confirmed it is them at the issuer (which had
    /// them sign in again) in a flow begun in that session (`begun_in`): a step-up.
    /// Returns the nonce the confirmed form carries back (see [`Auth::confirmed_by_issuer`]).
    pub(crate) async fn confirm_with_identity(
        &self,
        begun_in: &str,
        current: &ActiveSession,
        identity: &Identity,
        form: (&str, &[(String, String)]),
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        if begun_in != current.id {
            return Err(begun_elsewhere());
        }
        if !self.is_linked(identity).await? {
            let why = "a confirmation by an identity not linked to the owner".to_owned();
            self.refused(&self.foreign_identities, client, why).await?;
            return Err(AuthError::NotTheOwner);
        }
        let (action, fields) = form;
        Ok(self.confirmed_by_issuer(current, action, fields))
    }

    /// Whether the owner's identity is linked at the issuer configured, so it can sign in.
    pub(super) async fn identity_signs_in_here(&self) -> Result<bool, AuthError> {
        let linked = self.linked_identity().await?;
        let here = self.settings.oidc_issuer.as_deref();
        Ok(linked.is_some_and(|linked| Some(linked.issuer.as_str()) == here))
    }

    async fn is_linked(&self, identity: &Identity) -> Result<bool, AuthError> {
        let linked = self.linked_identity().await?;
        Ok(linked.is_some_and(|linked| {
            linked.issuer == identity.issuer && linked.subject == identity.subject
        }))
    }

    /// Records a sign-in at the issuer that came back refused or unverifiable (one that could
    /// not reach the issuer is the issuer's trouble, not an event; an answer to no sign-in
    /// under way counts toward the lockout only).
    pub(crate) async fn identity_sign_in_failed(
        &self,
        client: &ClientInfo,
        error: &OidcError,
    ) -> Result<(), AuthError> {
        let reason = match error {
            OidcError::NotConfigured | OidcError::Unreachable(_) => return Ok(()),
            // Anyone can send such an answer: it counts toward the lockout, and leaves no
            // event that a flood of them would push the real ones out with.
            OidcError::NoSuchFlow => {
                self.foreign_identities
                    .record_failure(&client.limit_key, Instant::now());
                return Ok(());
            }
            OidcError::Refused(said) => format!("refused by the issuer: {said}"),
            OidcError::Invalid(why) => why.clone(),
        };
        let mut event = client.event(EventKind::LoginFailed);
        event.detail = Some(format!("OpenID Connect: {reason}"));
        self.record(event).await
    }

    /// Forgets the linked identity; false when there was none.
    pub(crate) async fn unlink_identity(&self, client: &ClientInfo) -> Result<bool, AuthError> {
        let event: NewEvent = client.event(EventKind::IdentityUnlinked);
        let (rp_id, issuer) = self.settings.here();
        let unlinked = store::run(&self.store, move |s| {
            let here = Here {
                rp_id: rp_id.as_deref(),
                issuer: issuer.as_deref(),
            };
            s.unlink_identity(here, &event)
        })
        .await?;
        match unlinked {
            IdentityUnlinked::Unlinked => Ok(true),
            IdentityUnlinked::NotLinked => Ok(false),
            IdentityUnlinked::LastWayIn => Err(AuthError::LastWayIn),
        }
    }
}

fn begun_elsewhere() -> AuthError {
    AuthError::NotAccepted(
        "This was begun in another session. Start it again from the settings page.".into(),
    )
}

/// An identity that shows an email is taken only when the issuer verified it.
pub(super) fn email_verified(identity: &Identity) -> Result<(), AuthError> {
    if identity.email.is_some() && !identity.email_verified {
        return Err(AuthError::NotAccepted(
            "The identity provider has not verified this account's email address, so it is not taken. Verify it there, then try again."
                .into(),
        ));
    }
    Ok(())
}

/// How an identity appears in the security events: its email, or its subject, and where.
pub(super) fn shown(identity: &Identity) -> String {
    let who = identity.email.as_deref().unwrap_or(&identity.subject);
    format!("{who} at {}", identity.issuer)
}
