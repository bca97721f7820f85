//! Becoming the owner: the claim code (from the server's log or `clawhost claim-code`) and a
//! password, and maybe an identity at the OpenID Connect issuer linked in the same step. The
//! password is always there: it confirms sensitive actions whatever signs in, so an issuer
//! that cannot ask a signed-in person again (Google) never leaves the owner unable to.

use std::time::Instant;

use super::oidc::Identity;
use super::sessions::active;
use super::tokens::{self, ClaimTicket};
use super::{Auth, AuthError, ClientInfo, SignedIn, password};
use crate::clock::now_ms;
use crate::store::{self, ClaimOutcome, EventKind, FirstWayIn, LinkedIdentity};

impl Auth {
    /// Becomes the owner with the claim code and a password, and signs in.
    pub(crate) async fn claim(
        &self,
        code: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let _one_at_a_time = self.claiming.lock().await;
        let ticket = self.claim_ticket(code, password, client).await?;
        self.claim_with(ticket, None, client).await
    }

    /// Checks the claim code and the password (under the claim's lockout) and hashes the
    /// password: before the owner goes to the issuer to claim with an identity, the claim
    /// happening when they come back (the code is used up only then). The caller holds
    /// `claiming` when the claim follows at once.
    pub(crate) async fn claim_ticket(
        &self,
        code: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<ClaimTicket, AuthError> {
        self.within_limits(&self.claim_failures, client)?;
        password::check_policy(password).map_err(|message| AuthError::InvalidField {
            field: "password",
            message,
        })?;
        if self.is_locked().await? {
            return Err(AuthError::AlreadyClaimed);
        }
        let code_hash = tokens::claim_code_hash(code);
        let live = match code_hash {
            Some(hash) => {
                store::run(&self.store, move |s| s.claim_code_matches(hash, now_ms())).await?
            }
            None => false,
        };
        let (true, Some(code_hash)) = (live, code_hash) else {
            self.claim_failures
                .record_failure(&client.limit_key, Instant::now());
            return Err(AuthError::InvalidClaimCode);
        };
        let password_hash = self.guard.hash(password.to_owned()).await?;
        Ok(ClaimTicket {
            code_hash,
            password_hash,
        })
    }

    /// Becomes the owner with a ticket checked before the issuer was asked, and the identity
    /// it vouched for, linked at once.
    pub(crate) async fn claim_with_identity(
        &self,
        ticket: ClaimTicket,
        identity: &Identity,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        super::identity::email_verified(identity)?;
        let linked = LinkedIdentity {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            linked_at: now_ms(),
        };
        let detail = format!("with {}", super::identity::shown(identity));
        let _one_at_a_time = self.claiming.lock().await;
        self.claim_with(ticket, Some((linked, detail)), client)
            .await
    }

    async fn claim_with(
        &self,
        ticket: ClaimTicket,
        identity: Option<(LinkedIdentity, String)>,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let (token, session) = self.new_session(client);
        let mut event = client.event(EventKind::Claim);
        let (identity, detail) = identity.unzip();
        event.detail = detail;
        let way_in = FirstWayIn {
            password_hash: ticket.password_hash,
            identity,
        };
        let row = session.clone();
        let code_hash = ticket.code_hash;
        let outcome = store::run(&self.store, move |s| {
            s.claim(code_hash, &way_in, &row, &event)
        })
        .await?;
        match outcome {
            ClaimOutcome::Claimed => {
                tracing::info!("the instance was claimed; it now has an owner");
                self.sessions.refresh_epoch().await?;
                Ok(SignedIn {
                    token,
                    session: active(&session),
                    device: self.remember_device(client).await?,
                })
            }
            ClaimOutcome::AlreadyClaimed => Err(AuthError::AlreadyClaimed),
            ClaimOutcome::InvalidCode => Err(AuthError::InvalidClaimCode),
        }
    }
}
