//! Persistent state behind one small trait.
//!
//! The trait is synchronous on purpose: each method is one short unit of work (often one
//! transaction). Async code reaches it through [`run`], which moves the call onto the
//! blocking pool so the runtime never waits on disk.

pub(crate) mod sqlite;

use std::sync::Arc;

pub(crate) use crate::clock::UnixMs;

/// What went wrong inside the store. The text is for logs only, never for responses.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error(
        "database schema is newer than this clawhost ({found} > {supported}); upgrade clawhost"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("store task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) password_hash: String,
    pub(crate) created_at: UnixMs,
    pub(crate) password_changed_at: UnixMs,
    /// Whether the password signs in (off only while another way in exists).
    pub(crate) password_sign_in: bool,
}

/// How the owner will sign in, given at the claim: a password (its hash), and maybe an
/// identity at the OpenID Connect issuer, linked at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirstWayIn {
    pub(crate) password_hash: String,
    pub(crate) identity: Option<LinkedIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) token_hash: [u8; 32],
    pub(crate) created_at: UnixMs,
    pub(crate) last_seen_at: UnixMs,
    pub(crate) expires_at: UnixMs,
    pub(crate) ip: String,
    pub(crate) user_agent: String,
    /// When the owner last gave the password in this session (sign-in or step-up).
    pub(crate) reauthenticated_at: UnixMs,
}

/// The owner's identity at an OpenID Connect issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkedIdentity {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    /// As the issuer vouched for it when linked; shown, never used to sign in.
    pub(crate) email: Option<String>,
    pub(crate) linked_at: UnixMs,
}

/// One of the owner's passkeys as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPasskey {
    pub(crate) id: String,
    pub(crate) credential_id: Vec<u8>,
    pub(crate) name: String,
    /// The verifier's record of the credential (public key, counter, backup state), JSON.
    pub(crate) credential: String,
    pub(crate) created_at: UnixMs,
    pub(crate) last_used_at: Option<UnixMs>,
    /// The relying party id it was made for (`None`: made before it was kept).
    pub(crate) rp_id: Option<String>,
}

impl StoredPasskey {
    /// Whether it can sign in with relying party id `rp_id` (the public URL's host now).
    pub(crate) fn works_at(&self, rp_id: Option<&str>) -> bool {
        rp_id.is_some() && (self.rp_id.is_none() || self.rp_id.as_deref() == rp_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasskeyRemoved {
    Removed,
    NoSuchPasskey,
    /// The last passkey while the password does not sign in: the owner would be locked out.
    LastWayIn,
}

/// Turning password sign-in on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordSignIn {
    Changed,
    Unchanged,
    /// Off needs another way in: a passkey that works here, or the linked identity.
    NeedsAnotherWayIn,
}

/// What signs the owner in at this instance as it is configured now: passkeys made for
/// relying party id `rp_id` (or before ids were kept), and an identity at `issuer`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Here<'a> {
    pub(crate) rp_id: Option<&'a str>,
    pub(crate) issuer: Option<&'a str>,
}

/// Unlinking the owner's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentityUnlinked {
    Unlinked,
    NotLinked,
    /// The password is off and no passkey works here: the owner would be locked out.
    LastWayIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasskeyAdded {
    Added,
    /// That credential is registered already.
    AlreadyRegistered,
    NoOwner,
}

/// A security event to record. `kind` is one of the names in [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewEvent {
    pub(crate) at: UnixMs,
    pub(crate) kind: EventKind,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    /// Non-secret context, e.g. a credential's fingerprint.
    pub(crate) detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) id: i64,
    pub(crate) at: UnixMs,
    pub(crate) kind: String,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusCheck {
    pub(crate) id: String,
    pub(crate) client_name: String,
    pub(crate) created_at: UnixMs,
    /// Posted without the owner's session.
    pub(crate) anonymous: bool,
}

/// How many status checks of one origin (the owner's, or anonymous) are kept, and how many
/// bytes of names; the oldest of that origin go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusBudget {
    pub(crate) rows: usize,
    pub(crate) bytes: usize,
}

/// The owner's gateway choices as stored: the key only sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewaySettings {
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) base_url: Option<String>,
    pub(crate) api_key_sealed: Option<Vec<u8>>,
    pub(crate) api_key_last4: Option<String>,
    pub(crate) updated_at: UnixMs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Claim,
    LoginOk,
    LoginFailed,
    Lockout,
    Logout,
    SessionRevoked,
    OtherSessionsRevoked,
    PasswordChanged,
    OwnerReset,
    ClaimCodeIssued,
    GatewaySettingsChanged,
    GatewayCredentialIssued,
    Reauthenticated,
    CertificateIssued,
    CertificateRenewed,
    CertificateFailed,
    LoginOidc,
    IdentityLinked,
    IdentityUnlinked,
    LoginPasskey,
    PasskeyAdded,
    PasskeyRemoved,
    LoginExchange,
    ExchangeEmailSet,
    ExchangeEmailRemoved,
    PasswordSignInOff,
    PasswordSignInOn,
    BackupCreated,
    BackupDownloaded,
    BackupUploaded,
    BackupRestored,
    ModelAccessPaused,
    ModelAccessResumed,
    DeviceApproved,
    DeviceRejected,
    DeviceRemoved,
    DeviceRenamed,
    DeviceSetupCode,
    NodeApproved,
    NodeRejected,
    DmAccessApproved,
    DmAccessDenied,
    ChannelSet,
    ChannelRemoved,
    OpenclawUpdated,
    OpenclawUpdateRefused,
    OpenclawRolledBack,
    OpenclawSwitchedBack,
}

impl EventKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::LoginOk => "login_ok",
            Self::LoginFailed => "login_failed",
            Self::Lockout => "lockout",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::OtherSessionsRevoked => "other_sessions_revoked",
            Self::PasswordChanged => "password_changed",
            Self::OwnerReset => "owner_reset",
            Self::ClaimCodeIssued => "claim_code_issued",
            Self::GatewaySettingsChanged => "gateway_settings_changed",
            Self::GatewayCredentialIssued => "gateway_credential_issued",
            Self::Reauthenticated => "reauthenticated",
            Self::CertificateIssued => "certificate_issued",
            Self::CertificateRenewed => "certificate_renewed",
            Self::CertificateFailed => "certificate_failed",
            Self::LoginOidc => "login_oidc",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::LoginPasskey => "login_passkey",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::LoginExchange => "login_exchange",
            Self::ExchangeEmailSet => "exchange_email_set",
            Self::ExchangeEmailRemoved => "exchange_email_removed",
            Self::PasswordSignInOff => "password_sign_in_off",
            Self::PasswordSignInOn => "password_sign_in_on",
            Self::BackupCreated => "backup_created",
            Self::BackupDownloaded => "backup_downloaded",
            Self::BackupUploaded => "backup_uploaded",
            Self::ModelAccessPaused => "model_access_paused",
            Self::ModelAccessResumed => "model_access_resumed",
            Self::DeviceApproved => "device_approved",
            Self::DeviceRejected => "device_rejected",
            Self::DeviceRemoved => "device_removed",
            Self::DeviceRenamed => "device_renamed",
            Self::DeviceSetupCode => "device_setup_code",
            Self::NodeApproved => "node_approved",
            Self::NodeRejected => "node_rejected",
            Self::DmAccessApproved => "dm_access_approved",
            Self::DmAccessDenied => "dm_access_denied",
            Self::ChannelSet => "channel_set",
            Self::ChannelRemoved => "channel_removed",
            Self::BackupRestored => "backup_restored",
            Self::OpenclawUpdated => "openclaw_updated",
            Self::OpenclawUpdateRefused => "openclaw_update_refused",
            Self::OpenclawRolledBack => "openclaw_rolled_back",
            Self::OpenclawSwitchedBack => "openclaw_switched_back",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimOutcome {
    Claimed,
    AlreadyClaimed,
    InvalidCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssueCodeOutcome {
    Issued,
    AlreadyClaimed,
}

/// Requests through the egress proxy to one model on one day, counted together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageEntry {
    /// UTC, `YYYY-MM-DD`.
    pub(crate) day: String,
    pub(crate) model: String,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// A day's use of one model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct UsageRow {
    /// UTC, `YYYY-MM-DD`.
    pub(crate) day: String,
    pub(crate) model: String,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
}

/// A channel's token as stored: sealed, with what may be shown of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelToken {
    /// `telegram`, `discord` or `slack`.
    pub(crate) channel: String,
    pub(crate) sealed: Vec<u8>,
    pub(crate) last4: String,
    pub(crate) api_root: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) updated_at: UnixMs,
    /// Discord: the bot reads guild messages only when mentioned (no Message Content intent).
    pub(crate) mention_only: bool,
}

/// The tokens of the channels clawhost set up.
pub(crate) trait ChannelStore {
    fn channel_tokens(&self) -> Result<Vec<ChannelToken>, StoreError>;
    /// Sets (or replaces) the channel's token, with the event that says so.
    fn save_channel_token(&self, token: &ChannelToken, event: &NewEvent) -> Result<(), StoreError>;
    /// Forgets the channel's token, with the event; `false` when there was none.
    fn remove_channel_token(&self, channel: &str, event: &NewEvent) -> Result<bool, StoreError>;
}

pub(crate) trait UsageStore {
    /// Adds the counts of each entry to its day and model, all or none.
    fn record_usage(&self, entries: &[UsageEntry]) -> Result<(), StoreError>;

    /// The days from `from` to `to` (both included, `YYYY-MM-DD`), oldest first.
    fn usage(&self, from: &str, to: &str) -> Result<Vec<UsageRow>, StoreError>;

    /// The tokens counted from the day `from` on (input and output).
    fn tokens_since(&self, from: &str) -> Result<u64, StoreError>;

    fn model_access_paused(&self) -> Result<bool, StoreError>;

    /// Pauses or resumes the assistant's access to the model, with the event that says so.
    fn set_model_access_paused(&self, paused: bool, event: &NewEvent) -> Result<(), StoreError>;
}

/// Everything clawhost keeps. Implementations must make each method atomic.
pub(crate) trait Store: UsageStore + ChannelStore + Send + Sync + 'static {
    fn owner(&self) -> Result<Option<Owner>, StoreError>;

    /// Replaces any claim code with a new one, unless an owner exists.
    fn issue_claim_code(
        &self,
        code_hash: [u8; 32],
        now: UnixMs,
        expires_at: UnixMs,
        event: &NewEvent,
    ) -> Result<IssueCodeOutcome, StoreError>;

    /// Whether an unexpired claim code with this hash exists (a cheap pre-check).
    fn claim_code_matches(&self, code_hash: [u8; 32], now: UnixMs) -> Result<bool, StoreError>;

    /// Whether any unexpired claim code exists.
    fn has_live_claim_code(&self, now: UnixMs) -> Result<bool, StoreError>;

    /// In one transaction: checks there is no owner and the code is valid, creates the owner,
    /// consumes the code, and opens the first session.
    fn claim(
        &self,
        code_hash: [u8; 32],
        way_in: &FirstWayIn,
        session: &Session,
        event: &NewEvent,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Sets a new password hash and ends every session but `keep_session_id`.
    fn change_password(
        &self,
        password_hash: &str,
        keep_session_id: &str,
        event: &NewEvent,
    ) -> Result<(), StoreError>;

    /// Removes the owner, every session and every known device, and installs a fresh claim
    /// code.
    fn reset_owner(
        &self,
        code_hash: [u8; 32],
        expires_at: UnixMs,
        event: &NewEvent,
    ) -> Result<(), StoreError>;

    fn linked_identity(&self) -> Result<Option<LinkedIdentity>, StoreError>;
    /// Links `identity` to the owner (replacing any other); false when there is no owner.
    fn link_identity(
        &self,
        identity: &LinkedIdentity,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// Forgets the linked identity, unless it is the last way in `here`.
    fn unlink_identity(
        &self,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<IdentityUnlinked, StoreError>;

    /// The email the sign-in broker must answer for the owner.
    fn exchange_email(&self) -> Result<Option<String>, StoreError>;
    /// Sets (or with `None` forgets) that email; false when nothing changed (no owner to
    /// set it for, or none to forget).
    fn bind_exchange_email(
        &self,
        email: Option<&str>,
        at: UnixMs,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;
    /// The owner's WebAuthn user handle, when one was made (read only).
    fn known_webauthn_user_handle(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// The owner's WebAuthn user handle; `new` becomes it when there is none yet.
    fn webauthn_user_handle(&self, new: [u8; 16]) -> Result<[u8; 16], StoreError>;
    fn passkeys(&self) -> Result<Vec<StoredPasskey>, StoreError>;
    fn add_passkey(
        &self,
        passkey: &StoredPasskey,
        event: &NewEvent,
    ) -> Result<PasskeyAdded, StoreError>;
    /// Records a sign-in with passkey `id`, and its new record when the verifier updated it;
    /// false (nothing written) when its record is no longer `verified_against`.
    fn passkey_used(
        &self,
        id: &str,
        verified_against: &str,
        updated: Option<&str>,
        at: UnixMs,
    ) -> Result<bool, StoreError>;
    /// Removes passkey `id`, unless it is the last way in `here`.
    fn remove_passkey(
        &self,
        id: &str,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<PasskeyRemoved, StoreError>;
    /// Turns password sign-in on or off (off only while another way in works `here`).
    fn set_password_sign_in(
        &self,
        on: bool,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<PasswordSignIn, StoreError>;

    fn insert_session(&self, session: &Session, event: &NewEvent) -> Result<(), StoreError>;
    fn session_by_token_hash(&self, token_hash: [u8; 32]) -> Result<Option<Session>, StoreError>;
    fn touch_session(&self, id: &str, last_seen_at: UnixMs) -> Result<(), StoreError>;
    /// Remembers a browser the owner signed in with (or that it signed in again); only the
    /// `keep` most recently used are kept.
    fn remember_device(
        &self,
        token_hash: [u8; 32],
        now: UnixMs,
        keep: usize,
    ) -> Result<(), StoreError>;
    fn is_known_device(&self, token_hash: [u8; 32]) -> Result<bool, StoreError>;
    /// Records that the owner gave the password again in session `id`.
    fn mark_reauthenticated(
        &self,
        id: &str,
        at: UnixMs,
        event: &NewEvent,
    ) -> Result<(), StoreError>;
    fn list_sessions(&self) -> Result<Vec<Session>, StoreError>;

    /// Ends one session; returns whether it existed.
    fn delete_session(&self, id: &str, event: Option<&NewEvent>) -> Result<bool, StoreError>;

    /// Ends every session except `keep_id`; returns how many ended.
    fn delete_other_sessions(&self, keep_id: &str, event: &NewEvent) -> Result<usize, StoreError>;

    /// Drops sessions past their absolute expiry or idle for longer than `idle_ms`.
    fn delete_expired_sessions(&self, now: UnixMs, idle_ms: i64) -> Result<usize, StoreError>;

    fn record_event(&self, event: &NewEvent) -> Result<(), StoreError>;

    /// Events newest first, strictly older than `before_id` when given.
    fn events(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// A counter bumped by every change that may end sessions, in this process or another.
    fn auth_epoch(&self) -> Result<i64, StoreError>;

    fn gateway_settings(&self) -> Result<Option<GatewaySettings>, StoreError>;
    fn save_gateway_settings(
        &self,
        settings: &GatewaySettings,
        event: &NewEvent,
    ) -> Result<(), StoreError>;
    fn gateway_wanted_running(&self) -> Result<bool, StoreError>;
    fn set_gateway_wanted_running(&self, running: bool) -> Result<(), StoreError>;
    /// When the gateway first became ready here; `None` until it has.
    fn gateway_first_ready_at(&self) -> Result<Option<UnixMs>, StoreError>;
    /// Records the first time the gateway became ready; later calls change nothing.
    fn mark_gateway_ready(&self, at: UnixMs) -> Result<(), StoreError>;
    /// Stores a status check; the oldest of its origin beyond `budget` are dropped, those of
    /// the other origin never.
    fn insert_status_check(
        &self,
        check: &StatusCheck,
        budget: StatusBudget,
    ) -> Result<(), StoreError>;
    /// Status checks newest first, strictly older than `before_id` when given.
    fn status_checks(
        &self,
        before_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StatusCheck>, StoreError>;

    /// Records the fingerprint of a new gateway credential.
    fn record_gateway_credential(
        &self,
        sha256: [u8; 32],
        event: &NewEvent,
    ) -> Result<(), StoreError>;

    /// A whole-database copy, for backups.
    fn copy(&self, copy: DatabaseCopy<'_>) -> Result<(), StoreError>;
    /// Readies a database restored from a backup, before it is put in place.
    fn prepare_restored(&self, restored: &Restored) -> Result<(), StoreError>;
}

/// What a restored database keeps of the instance it replaces.
pub(crate) struct Restored {
    /// The provider key sealed under this instance's secret key; `None`: asked for again.
    pub(crate) api_key_sealed: Option<Vec<u8>>,
    /// The channels' tokens sealed under this instance's secret key; one left out is asked
    /// for again.
    pub(crate) channel_tokens: Vec<ChannelToken>,
    /// The auth epoch of the database replaced: the restored one goes above it, so every
    /// cached session check starts over.
    pub(crate) epoch_above: i64,
    pub(crate) wanted_running: bool,
    pub(crate) event: NewEvent,
}

/// A whole-database copy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DatabaseCopy<'a> {
    /// A consistent snapshot of the database into a new file.
    SnapshotInto(&'a std::path::Path),
    /// The database becomes the one in this file, in one step.
    ReplaceWith(&'a std::path::Path),
}

pub(crate) type SharedStore = Arc<dyn Store>;

/// Runs one store call on the blocking pool.
pub(crate) async fn run<T, F>(store: &SharedStore, call: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|join| StoreError::Task(join.to_string()))?
}
