//! The owner's passkeys as a way in: registering and removing them (the caller checks the
//! step-up), signing in with one, and confirming a sensitive action with one. Every refused
//! answer looks the same (whose credential it named, or why it failed, is only in the
//! event) and counts toward a lockout of its own.

use webauthn_rs::prelude::Passkey;

use super::passkeys::{PasskeyError, Passkeys};
use super::sessions::ActiveSession;
use super::{Auth, AuthError, ClientInfo, SignedIn, claim_codes, tokens};
use crate::clock::{UnixMs, now_ms, rfc3339};
use crate::store::{
    self, EventKind, Here, PasskeyAdded, PasskeyRemoved, PasswordSignIn, Store, StoredPasskey,
};

/// Longest name of a passkey, in characters.
pub(crate) const MAX_NAME: usize = 64;

/// One passkey as the owner sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PasskeySummary {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) last_used_at: Option<String>,
}

impl From<&StoredPasskey> for PasskeySummary {
    fn from(stored: &StoredPasskey) -> Self {
        Self {
            id: stored.id.clone(),
            name: stored.name.clone(),
            created_at: rfc3339(stored.created_at),
            last_used_at: stored.last_used_at.map(rfc3339),
        }
    }
}

fn checked_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AuthError::InvalidField {
            field: "name",
            message: format!("A name of 1 to {MAX_NAME} characters, e.g. \"Phone\"."),
        });
    }
    Ok(name.to_owned())
}

impl Auth {
    pub(crate) async fn passkeys(&self) -> Result<Vec<PasskeySummary>, AuthError> {
        let stored = store::run(&self.store, Store::passkeys).await?;
        Ok(stored.iter().map(PasskeySummary::from).collect())
    }

    /// Starts registering a passkey named `name` for the owner of `session`.
    pub(crate) async fn begin_passkey_registration(
        &self,
        passkeys: &Passkeys,
        session: &ActiveSession,
        name: &str,
    ) -> Result<(String, serde_json::Value), AuthError> {
        let name = checked_name(name)?;
        let fresh = crate::crypto::random_bytes::<16>();
        let handle = store::run(&self.store, move |s| s.webauthn_user_handle(fresh)).await?;
        let existing = store::run(&self.store, Store::passkeys).await?;
        let existing = existing.into_iter().map(|p| p.credential_id).collect();
        Ok(passkeys.begin_registration(handle, existing, &session.id, name)?)
    }

    /// Keeps the passkey of registration `ceremony`, begun in `session`.
    pub(crate) async fn finish_passkey_registration(
        &self,
        passkeys: &Passkeys,
        session: &ActiveSession,
        ceremony: &str,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<PasskeySummary, AuthError> {
        let new = passkeys.finish_registration(ceremony, &session.id, credential)?;
        let stored = StoredPasskey {
            id: tokens::new_session_id(),
            credential_id: new.passkey.cred_id().clone(),
            credential: serde_json::to_string(&new.passkey)
                .map_err(|e| AuthError::Internal(e.to_string()))?,
            name: new.name,
            created_at: now_ms(),
            last_used_at: None,
            rp_id: self.settings.passkey_rp_id.clone(),
        };
        let mut event = client.event(EventKind::PasskeyAdded);
        event.detail = Some(stored.name.clone());
        let row = stored.clone();
        match store::run(&self.store, move |s| s.add_passkey(&row, &event)).await? {
            PasskeyAdded::Added => Ok(PasskeySummary::from(&stored)),
            PasskeyAdded::AlreadyRegistered => Err(AuthError::NotAccepted(
                "This passkey is registered already.".into(),
            )),
            PasskeyAdded::NoOwner => Err(AuthError::Internal("no owner for a passkey".into())),
        }
    }

    /// Removes passkey `id`.
    pub(crate) async fn remove_passkey(
        &self,
        id: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let id = id.to_owned();
        let event = client.event(EventKind::PasskeyRemoved);
        let (rp_id, issuer) = self.settings.here();
        let removed = store::run(&self.store, move |s| {
            let here = Here {
                rp_id: rp_id.as_deref(),
                issuer: issuer.as_deref(),
            };
            s.remove_passkey(&id, here, &event)
        })
        .await?;
        match removed {
            PasskeyRemoved::Removed => Ok(()),
            PasskeyRemoved::NoSuchPasskey => Err(AuthError::NoSuchPasskey),
            PasskeyRemoved::LastWayIn => Err(AuthError::LastWayIn),
        }
    }

    /// Turns password sign-in on or off (off while a passkey that works here exists, or an
    /// identity is linked: the password still confirms sensitive actions then).
    pub(crate) async fn set_password_sign_in(
        &self,
        on: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let event = client.event(if on {
            EventKind::PasswordSignInOn
        } else {
            EventKind::PasswordSignInOff
        });
        let (rp_id, issuer) = self.settings.here();
        let outcome = store::run(&self.store, move |s| {
            let here = Here {
                rp_id: rp_id.as_deref(),
                issuer: issuer.as_deref(),
            };
            s.set_password_sign_in(on, here, &event)
        })
        .await?;
        match outcome {
            PasswordSignIn::Changed | PasswordSignIn::Unchanged => Ok(()),
            PasswordSignIn::NeedsAnotherWayIn => Err(AuthError::LastWayIn),
        }
    }

    /// At start: when the password is off and nothing else signs in here (every passkey made
    /// for another name of this instance, the identity's issuer no longer configured), the
    /// password signs in again, so moving the instance never locks the owner out.
    pub(crate) async fn keep_a_way_in(&self) -> Result<(), AuthError> {
        let Some(owner) = store::run(&self.store, Store::owner).await? else {
            return Ok(());
        };
        if owner.password_sign_in
            || self.identity_signs_in_here().await?
            || self.has_usable_passkey().await?
        {
            return Ok(());
        }
        let here = self
            .settings
            .passkey_rp_id
            .as_deref()
            .unwrap_or("an IP address");
        tracing::warn!(
            "password sign-in is on again: no passkey was made for {here} and no linked identity's issuer is configured, so nothing else could sign the owner in"
        );
        let mut event = claim_codes::cli_event(EventKind::PasswordSignInOn);
        event.user_agent = Some("clawhost at start".into());
        event.detail = Some(format!("nothing else signs in at {here}"));
        store::run(&self.store, move |s| {
            s.set_password_sign_in(true, Here::default(), &event)
        })
        .await?;
        Ok(())
    }

    /// Whether the password signs in (true while there is no owner).
    pub(crate) async fn password_signs_in(&self) -> Result<bool, AuthError> {
        let owner = store::run(&self.store, Store::owner).await?;
        Ok(owner.is_none_or(|owner| owner.password_sign_in))
    }

    /// Starts a sign-in or a step-up with a passkey, under the abuse limits.
    pub(crate) fn begin_passkey_sign_in(
        &self,
        passkeys: &Passkeys,
        client: &ClientInfo,
    ) -> Result<(String, serde_json::Value), AuthError> {
        self.within_limits(&self.passkey_failures, client)?;
        Ok(passkeys.begin_sign_in(client.limit_key)?)
    }

    /// Signs the owner in with the answer to sign-in `ceremony`.
    pub(crate) async fn sign_in_with_passkey(
        &self,
        passkeys: &Passkeys,
        ceremony: &str,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let name = self
            .check_passkey(passkeys, ceremony, credential, client)
            .await?;
        let mut event = client.event(EventKind::LoginPasskey);
        event.detail = Some(name);
        // A passkey asks for the owner's presence and verification on the device: it is a
        // step-up as much as the password is.
        self.open_session(client, event, true).await
    }

    /// The owner confirms a sensitive action in `session` with a passkey.
    pub(crate) async fn reauthenticate_with_passkey(
        &self,
        passkeys: &Passkeys,
        session: &ActiveSession,
        ceremony: &str,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.check_passkey(passkeys, ceremony, credential, client)
            .await?;
        self.mark_reauthenticated(session, client).await
    }

    /// Verifies a passkey answer against the owner's passkeys, and keeps the record up to
    /// date: the passkey's name, or the same refusal for every failure.
    async fn check_passkey(
        &self,
        passkeys: &Passkeys,
        ceremony: &str,
        credential: serde_json::Value,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        self.within_limits(&self.passkey_failures, client)?;
        let verified = self.verify_passkey(passkeys, ceremony, credential).await;
        match verified {
            Ok((stored, record, at)) => {
                let (id, before) = (stored.id.clone(), stored.credential.clone());
                let kept = store::run(&self.store, move |s| {
                    s.passkey_used(&id, &before, record.as_deref(), at)
                })
                .await?;
                if kept {
                    return Ok(stored.name);
                }
                // Verified against a record another sign-in changed meanwhile: its counter
                // check may be stale, so this answer is not taken.
                let why = "passkey: used twice at the same moment".to_owned();
                self.refused(&self.passkey_failures, client, why).await?;
                Err(AuthError::PasskeyRefused)
            }
            Err(PasskeyError::Refused(why)) => {
                let why = format!("passkey: {why}");
                self.refused(&self.passkey_failures, client, why).await?;
                Err(AuthError::PasskeyRefused)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The stored passkey an answer verifies against, its new record when the verifier
    /// changed it (counter, backup state), and when.
    async fn verify_passkey(
        &self,
        passkeys: &Passkeys,
        ceremony: &str,
        credential: serde_json::Value,
    ) -> Result<(StoredPasskey, Option<String>, UnixMs), PasskeyError> {
        let assertion = passkeys.assertion(ceremony, credential)?;
        let internal = |e: store::StoreError| PasskeyError::Internal(e.to_string());
        let stored = store::run(&self.store, Store::passkeys)
            .await
            .map_err(internal)?;
        let unknown =
            || PasskeyError::Refused("a credential that is not one of the owner's".into());
        let stored = stored
            .into_iter()
            .find(|p| p.credential_id == assertion.credential_id)
            .ok_or_else(unknown)?;
        let handle = store::run(&self.store, Store::known_webauthn_user_handle)
            .await
            .map_err(internal)?;
        if handle.as_deref() != Some(assertion.user_handle.as_slice()) {
            return Err(unknown());
        }
        let mut passkey: Passkey = serde_json::from_str(&stored.credential)
            .map_err(|e| PasskeyError::Internal(format!("a stored passkey: {e}")))?;
        let result = passkeys.verify(assertion, &passkey)?;
        let record = if passkey.update_credential(&result) == Some(true) {
            serde_json::to_string(&passkey).ok()
        } else {
            None
        };
        Ok((stored, record, now_ms()))
    }
}
