//! Ownership and sign-in: the claim, the owner's password, sessions, abuse limits and the
//! security events they leave behind. Handlers (API and pages) call these functions and only
//! translate the outcome.

mod claim;
mod claim_codes;
mod client;
pub(crate) mod exchange;
mod exchange_sign_in;
pub(crate) mod guard;
pub(crate) mod identity;
pub(crate) mod limiter;
pub(crate) mod oidc;
pub(crate) mod passkey_sign_in;
pub(crate) mod passkeys;
pub(crate) mod password;
mod pending;
pub(crate) mod sessions;
pub(crate) mod step_up;
pub(crate) mod tokens;

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub(crate) use claim_codes::{issue_claim_code, reset_owner};
pub(crate) use client::ClientInfo;
use guard::{CheckError, PasswordGuard, Refusal};
use limiter::{Lockout, LockoutPolicy, RateLimit};
use sessions::{ActiveSession, SessionManager, active};

use crate::clock::{UnixMs, now_ms, rfc3339};
use crate::store::{self, Event, EventKind, NewEvent, Session, SharedStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many attempts")]
    TooManyAttempts { retry_after: Duration },
    #[error("the instance already has an owner")]
    AlreadyClaimed,
    #[error("the claim code is wrong or expired")]
    InvalidClaimCode,
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("no such session")]
    NoSuchSession,
    /// Someone signed in at the issuer who is not the owner.
    #[error("not the owner's identity")]
    NotTheOwner,
    /// What the owner offered cannot be taken (an identity to link, a passkey), and why.
    #[error("{0}")]
    NotAccepted(String),
    #[error("no such passkey")]
    NoSuchPasskey,
    /// That would leave the owner no way in: the password is off and this is the last other
    /// way in (a passkey that works here, the identity), or the password cannot go off
    /// without one.
    #[error("the last way to sign in")]
    LastWayIn,
    /// The owner turned password sign-in off.
    #[error("password sign-in is off")]
    PasswordSignInOff,
    /// The password alone does not sign in: a passkey is needed (`auth.require_second_factor`).
    #[error("a passkey is needed too")]
    SecondFactorRequired,
    /// A passkey answer that does not sign in: the same for every reason.
    #[error("the passkey was refused")]
    PasskeyRefused,
    #[error(transparent)]
    Passkey(#[from] passkeys::PasskeyError),
    #[error(transparent)]
    Exchange(#[from] exchange::ExchangeError),
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    /// Refused for now: try again after `retry_after`.
    fn wait(retry_after: Duration) -> Self {
        Self::TooManyAttempts { retry_after }
    }
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<password::HashError> for AuthError {
    fn from(error: password::HashError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// What a confirmation at the issuer leaves for the one form it was for: its path, the
/// digest of its fields, and the nonce the "Confirmed" page carries.
#[derive(Clone)]
pub(crate) struct IssuerGrant {
    action: String,
    fields: [u8; 32],
    nonce: String,
}

/// A confirmation at the issuer serves for this long (the owner clicks "Continue").
pub(crate) const ISSUER_GRANT_TTL: std::time::Duration = std::time::Duration::from_mins(2);

/// One open session as listed to the owner (API and dashboard).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SessionSummary {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) last_seen_at: String,
    pub(crate) ip: String,
    pub(crate) user_agent: String,
    pub(crate) current: bool,
}

/// A session just opened: the token goes into the cookie and nowhere else.
pub(crate) struct SignedIn {
    pub(crate) token: String,
    pub(crate) session: ActiveSession,
    /// A new device token for the browser's device cookie, when it had none known.
    pub(crate) device: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct AuthSettings {
    pub(crate) session_absolute: Duration,
    pub(crate) session_idle: Duration,
    /// How long a password given in a session opens the sensitive actions to it.
    pub(crate) reauth_window: Duration,
    /// The password alone does not sign in once the owner has a passkey.
    pub(crate) require_second_factor: bool,
    /// The relying party id passkeys are made for here (the public URL's host); `None`
    /// where passkeys cannot be used (at an IP address).
    pub(crate) passkey_rp_id: Option<String>,
    /// The OpenID Connect issuer configured (`auth.oidc.issuer`), whose linked identity signs
    /// in here.
    pub(crate) oidc_issuer: Option<String>,
}

impl AuthSettings {
    /// What signs the owner in here, for the store's last-way-in checks.
    pub(crate) fn here(&self) -> (Option<String>, Option<String>) {
        (self.passkey_rp_id.clone(), self.oidc_issuer.clone())
    }
}

pub(crate) struct Auth {
    store: SharedStore,
    pub(crate) sessions: SessionManager,
    settings: AuthSettings,
    /// The owner's password, checked under the abuse limits.
    guard: PasswordGuard,
    /// Wrong claim codes per client address.
    claim_failures: Lockout<IpAddr>,
    /// Sign-ins at the OpenID Connect issuer as someone not the owner, per client address.
    foreign_identities: Lockout<IpAddr>,
    /// Passkey answers refused, per client address.
    passkey_failures: Lockout<IpAddr>,
    /// Broker sessions that are not the owner's, per client address.
    exchange_failures: Lockout<IpAddr>,
    /// Attempts on the auth endpoints per client address, failed or not.
    attempts: RateLimit<IpAddr>,
    /// Sessions the linked issuer just confirmed the owner in (see [`Proof::Issuer`]).
    issuer_confirmations: pending::Pending<String, IssuerGrant>,
    /// Claims run one at a time: once one succeeds, the rest see the owner and stop before
    /// hashing a password nobody will use.
    claiming: tokio::sync::Mutex<()>,
    /// When the owner seen last was created (`None`: no owner); when it changes (an owner
    /// reset, a new claim), every lockout is forgotten.
    owner_seen: std::sync::Mutex<Option<UnixMs>>,
}

const FORGET_FAILURES_AFTER: Duration = Duration::from_hours(1);
const MAX_LOCKOUT: Duration = Duration::from_mins(15);
/// Browsers remembered as the owner's; the least recently used beyond go.
const KNOWN_DEVICES: usize = 16;

impl Auth {
    pub(crate) async fn new(
        store: SharedStore,
        settings: AuthSettings,
    ) -> Result<Self, StoreError> {
        let epoch = store::run(&store, Store::auth_epoch).await?;
        let owner = store::run(&store, Store::owner).await?;
        let lockout = |free_failures| LockoutPolicy {
            free_failures,
            base: Duration::from_secs(1),
            max: MAX_LOCKOUT,
            forget_after: FORGET_FAILURES_AFTER,
        };
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Ok(Self {
            sessions: SessionManager::new(store.clone(), settings.session_idle, epoch),
            store,
            settings,
            guard: PasswordGuard::new(cores * 2),
            claim_failures: Lockout::new(lockout(10)),
            foreign_identities: Lockout::new(lockout(5)),
            passkey_failures: Lockout::new(lockout(10)),
            exchange_failures: Lockout::new(lockout(10)),
            attempts: RateLimit::new(60, 1.0),
            issuer_confirmations: pending::Pending::new(ISSUER_GRANT_TTL, 64),
            claiming: tokio::sync::Mutex::new(()),
            owner_seen: std::sync::Mutex::new(owner.map(|o| o.created_at)),
        })
    }

    /// Keeps the session cache current (see [`SessionManager::watch`]) until `shutdown`, and
    /// forgets every lockout when the owner changed (an owner reset from the command line, a
    /// new claim): the new owner starts with a clean slate.
    pub(crate) async fn watch(&self, shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut epoch = self.sessions.subscribe();
        let mut stop = shutdown.clone();
        let owners = async {
            loop {
                tokio::select! {
                    changed = epoch.changed() => if changed.is_err() { return },
                    _ = stop.changed() => return,
                }
                if let Err(error) = self.forget_lockouts_if_the_owner_changed().await {
                    tracing::warn!(%error, "could not read the owner");
                }
            }
        };
        tokio::join!(self.sessions.watch(shutdown), owners);
    }

    async fn forget_lockouts_if_the_owner_changed(&self) -> Result<(), StoreError> {
        let owner = store::run(&self.store, Store::owner)
            .await?
            .map(|o| o.created_at);
        let changed = {
            let mut seen = self
                .owner_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = *seen != owner;
            *seen = owner;
            changed
        };
        if changed {
            tracing::info!("the owner changed; every sign-in lockout is forgotten");
            self.guard.clear();
            self.claim_failures.clear();
            self.foreign_identities.clear();
            self.passkey_failures.clear();
            self.exchange_failures.clear();
        }
        Ok(())
    }

    pub(crate) async fn is_locked(&self) -> Result<bool, AuthError> {
        Ok(store::run(&self.store, Store::owner).await?.is_some())
    }

    pub(crate) async fn owner_created_at(&self) -> Result<Option<i64>, AuthError> {
        let owner = store::run(&self.store, Store::owner).await?;
        Ok(owner.map(|o| o.created_at))
    }

    fn take_attempt(&self, client: &ClientInfo) -> Result<(), AuthError> {
        self.attempts
            .take(&client.limit_key, Instant::now())
            .map_err(AuthError::wait)
    }

    /// Before an attempt with a sign-in method: the auth attempts, then its lockout.
    fn within_limits(
        &self,
        lockout: &Lockout<IpAddr>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.take_attempt(client)?;
        lockout
            .check(&client.limit_key, Instant::now())
            .map_err(AuthError::wait)
    }

    /// An attempt with a method that `lockout` guards was refused: counted against `client`'s
    /// address, and a `login_failed` event saying why (a `lockout` one when it locks).
    async fn refused(
        &self,
        lockout: &Lockout<IpAddr>,
        client: &ClientInfo,
        why: String,
    ) -> Result<(), AuthError> {
        let locked = lockout.record_failure(&client.limit_key, Instant::now());
        let mut event = client.event(EventKind::LoginFailed);
        event.detail = Some(why);
        self.record(event).await?;
        if locked.is_some() {
            self.record(client.event(EventKind::Lockout)).await?;
        }
        Ok(())
    }

    /// Signs the owner in with the password. Every failure looks and takes the same.
    pub(crate) async fn login(
        &self,
        password: &str,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        self.take_attempt(client)?;
        // Before the password is checked, so the answer confirms no guess.
        if self.settings.require_second_factor && self.has_usable_passkey().await? {
            return Err(AuthError::SecondFactorRequired);
        }
        self.check_password(password, client, true).await?;
        self.open_session(client, client.event(EventKind::LoginOk), true)
            .await
    }

    /// Opens a new session for `client`, recorded with `event`; `step_up`: whether it counts
    /// as the password given (see [`Self::is_fresh`]).
    async fn open_session(
        &self,
        client: &ClientInfo,
        event: NewEvent,
        step_up: bool,
    ) -> Result<SignedIn, AuthError> {
        let (token, mut session) = self.new_session(client);
        if !step_up {
            session.reauthenticated_at = 0;
        }
        let row = session.clone();
        store::run(&self.store, move |s| s.insert_session(&row, &event)).await?;
        Ok(SignedIn {
            token,
            session: active(&session),
            device: self.remember_device(client).await?,
        })
    }

    /// Verifies the owner's password under the abuse limits (see [`guard`]), recording the
    /// failures as security events.
    /// `to_sign_in`: for a sign-in, which the owner may have turned off (the password still
    /// confirms sensitive actions then).
    async fn check_password(
        &self,
        password: &str,
        client: &ClientInfo,
        to_sign_in: bool,
    ) -> Result<(), AuthError> {
        let owner = store::run(&self.store, Store::owner).await?;
        if to_sign_in && owner.as_ref().is_some_and(|owner| !owner.password_sign_in) {
            return Err(AuthError::PasswordSignInOff);
        }
        let stored = owner.map(|owner| owner.password_hash);
        let device = self.known_device(client).await?;
        match self
            .guard
            .check(password, stored, client.limit_key, device)
            .await
        {
            Ok(()) => Ok(()),
            Err(CheckError::Refused(Refusal::Wait(retry_after))) => {
                Err(AuthError::TooManyAttempts { retry_after })
            }
            Err(CheckError::Refused(Refusal::Wrong { locked })) => {
                self.record(client.event(EventKind::LoginFailed)).await?;
                if locked {
                    tracing::warn!(ip = %client.ip, "sign-in locked out after repeated failures");
                    self.record(client.event(EventKind::Lockout)).await?;
                }
                Err(AuthError::InvalidCredentials)
            }
            Err(CheckError::Hashing(error)) => Err(error.into()),
        }
    }

    /// The hash of the browser's device token, when it is one the owner signed in with.
    async fn known_device(&self, client: &ClientInfo) -> Result<Option<[u8; 32]>, AuthError> {
        let Some(token) = &client.device else {
            return Ok(None);
        };
        let hash = crate::crypto::sha256(token.as_bytes());
        let known = store::run(&self.store, move |s| s.is_known_device(hash)).await?;
        Ok(known.then_some(hash))
    }

    /// After a sign-in: the browser's device token is remembered as used, or (a browser not
    /// known yet) a new one is made, to be handed back in its cookie.
    async fn remember_device(&self, client: &ClientInfo) -> Result<Option<String>, AuthError> {
        let known = self.known_device(client).await?;
        let (hash, fresh) = if let Some(hash) = known {
            (hash, None)
        } else {
            let token = tokens::new_device_token();
            (crate::crypto::sha256(token.as_bytes()), Some(token))
        };
        store::run(&self.store, move |s| {
            s.remember_device(hash, now_ms(), KNOWN_DEVICES)
        })
        .await?;
        Ok(fresh)
    }

    pub(crate) async fn logout(
        &self,
        session: &ActiveSession,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let id = session.id.clone();
        let event = client.event(EventKind::Logout);
        store::run(&self.store, move |s| s.delete_session(&id, Some(&event))).await?;
        self.sessions.refresh_epoch().await?;
        Ok(())
    }

    pub(crate) async fn revoke(&self, id: &str, client: &ClientInfo) -> Result<(), AuthError> {
        let id = id.to_owned();
        let event = client.event(EventKind::SessionRevoked);
        let existed = store::run(&self.store, move |s| s.delete_session(&id, Some(&event))).await?;
        self.sessions.refresh_epoch().await?;
        if existed {
            Ok(())
        } else {
            Err(AuthError::NoSuchSession)
        }
    }

    pub(crate) async fn revoke_others(
        &self,
        current: &ActiveSession,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let keep = current.id.clone();
        let event = client.event(EventKind::OtherSessionsRevoked);
        let ended =
            store::run(&self.store, move |s| s.delete_other_sessions(&keep, &event)).await?;
        self.sessions.refresh_epoch().await?;
        Ok(ended)
    }

    /// Every open session, newest first, as the owner sees them.
    pub(crate) async fn session_summaries(
        &self,
        current: &ActiveSession,
    ) -> Result<Vec<SessionSummary>, AuthError> {
        let sessions = store::run(&self.store, Store::list_sessions).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionSummary {
                current: s.id == current.id,
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect())
    }

    pub(crate) async fn events(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Event>, AuthError> {
        Ok(store::run(&self.store, move |s| s.events(before, limit)).await?)
    }

    /// Whether a passkey the owner can sign in with here exists (one made for another name
    /// of this instance cannot).
    async fn has_usable_passkey(&self) -> Result<bool, AuthError> {
        let passkeys = store::run(&self.store, Store::passkeys).await?;
        let here = self.settings.passkey_rp_id.as_deref();
        Ok(passkeys.iter().any(|p| p.works_at(here)))
    }

    async fn record(&self, event: NewEvent) -> Result<(), AuthError> {
        store::run(&self.store, move |s| s.record_event(&event)).await?;
        Ok(())
    }

    fn new_session(&self, client: &ClientInfo) -> (String, Session) {
        let token = tokens::new_session_token();
        let now = now_ms();
        let lifetime =
            i64::try_from(self.settings.session_absolute.as_millis()).unwrap_or(i64::MAX);
        let session = Session {
            id: tokens::new_session_id(),
            token_hash: crate::crypto::sha256(token.as_bytes()),
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(lifetime),
            ip: client.ip.to_string(),
            user_agent: client.user_agent.clone(),
            // Signing in is giving the password.
            reauthenticated_at: now,
        };
        (token, session)
    }
}
