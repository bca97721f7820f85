//! Becoming the owner: the claim code (from the server's log or `clawhost claim-code`) with a
//! password, or with an identity at the OpenID Connect issuer. Either opens the first session.

use std::time::Instant;

use super::oidc::Identity;
use super::sessions::active;
use super::tokens::{self, LiveClaimCode};
use super::{Auth, AuthError, ClientInfo, IssuerProof, SignedIn, password};
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
        self.within_limits(&self.claim_failures, client)?;
        password::check_policy(password).map_err(|message| AuthError::InvalidField {
            field: "password",
            message,
        })?;
        let _one_at_a_time = self.claiming.lock().await;
        if self.is_locked().await? {
            return Err(AuthError::AlreadyClaimed);
        }
        let code = self.code_is_live(code, client).await?;
        let hash = self.guard.hash(password.to_owned()).await?;
        self.claim_with(code, FirstWayIn::Password(hash), client, None)
            .await
    }

    /// Checks the claim code before the owner goes to the issuer to claim with an identity,
    /// under the claim's lockout (the code is used up only when the claim succeeds).
    pub(crate) async fn live_claim_code(
        &self,
        code: &str,
        client: &ClientInfo,
    ) -> Result<LiveClaimCode, AuthError> {
        self.within_limits(&self.claim_failures, client)?;
        if self.is_locked().await? {
            return Err(AuthError::AlreadyClaimed);
        }
        self.code_is_live(code, client).await
    }

    async fn code_is_live(
        &self,
        code: &str,
        client: &ClientInfo,
    ) -> Result<LiveClaimCode, AuthError> {
        let code_hash = tokens::claim_code_hash(code);
        let live = match code_hash {
            Some(hash) => {
                store::run(&self.store, move |s| s.claim_code_matches(hash, now_ms())).await?
            }
            None => false,
        };
        if let (true, Some(hash)) = (live, code_hash) {
            return Ok(LiveClaimCode(hash));
        }
        self.claim_failures
            .record_failure(&client.limit_key, Instant::now());
        Err(AuthError::InvalidClaimCode)
    }

    /// Becomes the owner with the claim code checked before the issuer was asked, and the
    /// identity it vouched for; the owner has no password until they set one.
    pub(crate) async fn claim_with_identity(
        &self,
        code: LiveClaimCode,
        identity: &Identity,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        super::identity::email_verified(identity)?;
        let _one_at_a_time = self.claiming.lock().await;
        let linked = LinkedIdentity {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            linked_at: now_ms(),
        };
        let shown = super::identity::shown(identity);
        let signed_in = self
            .claim_with(code, FirstWayIn::Identity(linked), client, Some(shown))
            .await?;
        // The claim code and the identity were just given: the first session may add one
        // way in (a passkey, a password) without asking the issuer again, which not every
        // issuer can do (Google does not ask a signed-in person again).
        self.issuer_confirmations
            .insert(signed_in.session.id.clone(), IssuerProof::AtClaim);
        Ok(signed_in)
    }

    async fn claim_with(
        &self,
        LiveClaimCode(code_hash): LiveClaimCode,
        way_in: FirstWayIn,
        client: &ClientInfo,
        detail: Option<String>,
    ) -> Result<SignedIn, AuthError> {
        let (token, session) = self.new_session(client);
        let mut event = client.event(EventKind::Claim);
        event.detail = detail;
        let row = session.clone();
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
