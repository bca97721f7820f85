//! Session checks on the hot path: an in-memory cache in front of the store, invalidated
//! whenever the store's auth epoch moves. Every revocation bumps that epoch in the same
//! transaction, including those made by the CLI in another process, and a watcher polls it,
//! so a revoked session stops working within a second without a write per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_ms;
use crate::crypto::sha256;
use crate::store::{self, Session, SharedStore, Store, StoreError, UnixMs};

/// How often a long-lived answer looks at its session's idle deadline, which use elsewhere
/// moves (an expiry moves no epoch).
const RECHECK: Duration = Duration::from_secs(30);
/// How often the watcher reads the auth epoch.
pub(crate) const EPOCH_POLL: Duration = Duration::from_millis(200);
/// Sessions past their expiry are deleted from the store this often.
const SWEEP_EVERY: Duration = Duration::from_hours(1);
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY_MS: i64 = 60_000;
/// Cached sessions at most; a single owner rarely has more than a handful.
const MAX_CACHED: usize = 1024;

/// Why a long-lived answer (an event stream, a proxied body or socket) has to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// Its session was revoked, signed out, ended by an owner reset, or expired.
    Ended,
    /// clawhost is stopping.
    ShuttingDown,
}

/// A valid session, as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActiveSession {
    pub(crate) id: String,
    pub(crate) created_at: UnixMs,
    pub(crate) expires_at: UnixMs,
    /// When the owner last gave the password in this session.
    pub(crate) reauthenticated_at: UnixMs,
}

impl ActiveSession {
    /// Whether the password was given within `window`, as sensitive actions require.
    pub(crate) fn is_fresh(&self, window: Duration, now: UnixMs) -> bool {
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(self.reauthenticated_at) < window
    }
}

struct Cached {
    session: ActiveSession,
    last_seen_at: UnixMs,
    persisted_last_seen_at: UnixMs,
}

struct Cache {
    epoch: i64,
    entries: HashMap<[u8; 32], Cached>,
}

pub(crate) struct SessionManager {
    store: SharedStore,
    idle_ms: i64,
    cache: Mutex<Cache>,
    epoch: watch::Sender<i64>,
}

enum Verdict {
    Valid { session: ActiveSession, touch: bool },
    Expired { id: String },
    Unknown,
}

impl SessionManager {
    pub(crate) fn new(store: SharedStore, idle: Duration, epoch: i64) -> Self {
        Self {
            store,
            idle_ms: i64::try_from(idle.as_millis()).unwrap_or(i64::MAX),
            cache: Mutex::new(Cache {
                epoch,
                entries: HashMap::new(),
            }),
            epoch: watch::Sender::new(epoch),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes whenever sessions may have ended; long-lived connections (proxied sockets)
    /// watch it and re-check their session.
    pub(crate) fn subscribe(&self) -> watch::Receiver<i64> {
        self.epoch.subscribe()
    }

    /// Resolves when the session of `token` ends: within one epoch poll of its revocation,
    /// sign-out or an owner reset, and at its expiry (absolute, or idle: a stream left open
    /// is not use of the session, so it does not keep the session alive).
    pub(crate) async fn session_end(&self, token: &str) -> SessionEnd {
        let token_hash = sha256(token.as_bytes());
        let mut epoch = self.subscribe();
        loop {
            let Some(ends_at) = self.ends_at(token_hash).await else {
                return SessionEnd::Ended;
            };
            let wait = u64::try_from(ends_at.saturating_sub(now_ms())).unwrap_or(0);
            // Woken at least every RECHECK: use elsewhere moves the idle deadline.
            let wait = Duration::from_millis(wait).min(RECHECK);
            tokio::select! {
                changed = epoch.changed() => {
                    if changed.is_err() {
                        return SessionEnd::ShuttingDown;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// When the session of `token_hash` ends if nothing else happens, or `None` when it has
    /// ended; asking does not count as using it.
    async fn ends_at(&self, token_hash: [u8; 32]) -> Option<UnixMs> {
        let now = now_ms();
        let cached = self
            .cache()
            .entries
            .get(&token_hash)
            .map(|entry| (entry.session.expires_at, entry.last_seen_at));
        let (expires_at, last_seen_at) = if let Some(times) = cached {
            times
        } else {
            let found = store::run(&self.store, move |s| s.session_by_token_hash(token_hash))
                .await
                .ok()??;
            (found.expires_at, found.last_seen_at)
        };
        let ends_at = expires_at.min(last_seen_at.saturating_add(self.idle_ms));
        (ends_at > now).then_some(ends_at)
    }

    /// The session for a cookie token, if it is valid now.
    pub(crate) async fn authenticate(
        &self,
        token: &str,
    ) -> Result<Option<ActiveSession>, StoreError> {
        let token_hash = sha256(token.as_bytes());
        let now = now_ms();
        let verdict = self.check_cached(&token_hash, now);
        let verdict = match verdict {
            Some(verdict) => verdict,
            None => self.load(token_hash, now).await?,
        };
        match verdict {
            Verdict::Valid { session, touch } => {
                if touch {
                    let id = session.id.clone();
                    store::run(&self.store, move |s| s.touch_session(&id, now)).await?;
                }
                Ok(Some(session))
            }
            Verdict::Expired { id } => {
                self.cache().entries.remove(&token_hash);
                store::run(&self.store, move |s| s.delete_session(&id, None)).await?;
                self.refresh_epoch().await?;
                Ok(None)
            }
            Verdict::Unknown => Ok(None),
        }
    }

    fn check_cached(&self, token_hash: &[u8; 32], now: UnixMs) -> Option<Verdict> {
        let mut cache = self.cache();
        let entry = cache.entries.get_mut(token_hash)?;
        if entry.session.expires_at <= now || entry.last_seen_at + self.idle_ms <= now {
            return Some(Verdict::Expired {
                id: entry.session.id.clone(),
            });
        }
        entry.last_seen_at = now;
        let touch = now - entry.persisted_last_seen_at >= TOUCH_EVERY_MS;
        if touch {
            entry.persisted_last_seen_at = now;
        }
        Some(Verdict::Valid {
            session: entry.session.clone(),
            touch,
        })
    }

    async fn load(&self, token_hash: [u8; 32], now: UnixMs) -> Result<Verdict, StoreError> {
        let epoch_before = self.cache().epoch;
        let found = store::run(&self.store, move |s| s.session_by_token_hash(token_hash)).await?;
        let Some(session) = found else {
            return Ok(Verdict::Unknown);
        };
        if session.expires_at <= now || session.last_seen_at + self.idle_ms <= now {
            return Ok(Verdict::Expired { id: session.id });
        }
        let active = active(&session);
        let mut cache = self.cache();
        // A revocation that landed while we read must not be undone by caching stale data.
        if cache.epoch == epoch_before {
            if cache.entries.len() >= MAX_CACHED {
                cache.entries.clear();
            }
            cache.entries.insert(
                token_hash,
                Cached {
                    session: active.clone(),
                    last_seen_at: now,
                    persisted_last_seen_at: session.last_seen_at,
                },
            );
        }
        let touch = now - session.last_seen_at >= TOUCH_EVERY_MS;
        Ok(Verdict::Valid {
            session: active,
            touch,
        })
    }

    /// Session `id` gave the password again at `at` (the store knows already).
    pub(crate) fn reauthenticated(&self, id: &str, at: UnixMs) {
        for cached in self.cache().entries.values_mut() {
            if cached.session.id == id {
                cached.session.reauthenticated_at = cached.session.reauthenticated_at.max(at);
            }
        }
    }

    /// Reads the store's epoch; when it moved, drops the cache and tells the watchers.
    pub(crate) async fn refresh_epoch(&self) -> Result<(), StoreError> {
        let epoch = store::run(&self.store, Store::auth_epoch).await?;
        let changed = {
            let mut cache = self.cache();
            if cache.epoch == epoch {
                false
            } else {
                cache.epoch = epoch;
                cache.entries.clear();
                true
            }
        };
        if changed {
            self.epoch.send_replace(epoch);
        }
        Ok(())
    }

    /// Polls the epoch until `shutdown` fires; also sweeps expired sessions now and then.
    pub(crate) async fn watch(&self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(EPOCH_POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sweep_every =
            u64::try_from(SWEEP_EVERY.as_millis() / EPOCH_POLL.as_millis()).unwrap_or(u64::MAX);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => return,
            }
            if ticks.is_multiple_of(sweep_every) {
                let idle_ms = self.idle_ms;
                if let Err(error) = store::run(&self.store, move |s| {
                    s.delete_expired_sessions(now_ms(), idle_ms)
                })
                .await
                {
                    tracing::warn!(%error, "could not sweep expired sessions");
                }
            }
            ticks = ticks.wrapping_add(1);
            if let Err(error) = self.refresh_epoch().await {
                tracing::warn!(%error, "could not read the auth epoch");
            }
        }
    }
}

pub(crate) fn active(session: &Session) -> ActiveSession {
    ActiveSession {
        id: session.id.clone(),
        created_at: session.created_at,
        expires_at: session.expires_at,
        reauthenticated_at: session.reauthenticated_at,
    }
}
