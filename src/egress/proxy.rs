//! The egress proxy's state: the route of the gateway start under way, the virtual key, the
//! pause switch and the limits, and the counting of what went through.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use zeroize::Zeroizing;

use super::tally::{Tally, Used};
use super::telegram::{TELEGRAM, TelegramRoute};
use super::usage::Tokens;
use crate::config::UsageLimits;
use crate::crypto::{hex, random_bytes};
use crate::gateway::providers::ProbeAuth;
use crate::store::{self, NewEvent, SharedStore, StoreError, UsageEntry, UsageRow};

/// Where the gateway's requests enter: `http://127.0.0.1:<port>/upstream/…` goes to
/// `<provider's base>/…`.
pub(crate) const PREFIX: &str = "/upstream";
/// How long the provider may stay silent, before its first byte or between two.
const IDLE: Duration = Duration::from_mins(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one gateway start's requests go, and with what key.
pub(crate) struct Route {
    /// The provider's API base, without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub(crate) upstream: String,
    pub(crate) auth: ProbeAuth,
    pub(crate) key: Option<Zeroizing<String>>,
    pub(crate) virtual_key: Zeroizing<String>,
}

impl Route {
    /// A route to `upstream` with a new virtual key.
    pub(crate) fn new(upstream: &str, auth: ProbeAuth, key: Option<Zeroizing<String>>) -> Self {
        Self {
            upstream: upstream.trim_end_matches('/').to_owned(),
            auth,
            key,
            virtual_key: Zeroizing::new(format!("clawhost-{}", hex(&random_bytes::<24>()))),
        }
    }
}

pub(crate) struct Egress {
    addr: SocketAddr,
    route: RwLock<Option<Arc<Route>>>,
    /// Telegram's Bot API, when the owner set Telegram up here.
    telegram: RwLock<Option<Arc<TelegramRoute>>>,
    /// Held while a channel's section of `openclaw.json` is written (Telegram's route too).
    channel_change: tokio::sync::Mutex<()>,
    pub(super) client: reqwest::Client,
    store: SharedStore,
    tally: Tally,
    limits: UsageLimits,
    /// The owner paused the assistant's access to the model.
    paused: AtomicBool,
    stop: watch::Sender<bool>,
}

/// Why a request is not sent on, in the words the agent shows. Each names a long window
/// ("daily", "monthly", "usage limit"), so OpenClaw does not retry, and says when it
/// "resets", so OpenClaw shows the words in the chat instead of its generic "API rate limit
/// reached".
pub(crate) enum Refusal {
    Paused,
    DailyLimit(usize),
    MonthlyLimit(usize),
}

impl Refusal {
    pub(crate) fn words(&self) -> String {
        match self {
            Refusal::Paused => "clawhost: the owner paused the assistant's model access, a usage limit that resets when they resume it on clawhost's dashboard".into(),
            Refusal::DailyLimit(limit) => format!("clawhost: daily limit reached ({limit} tokens); it resets at midnight UTC"),
            Refusal::MonthlyLimit(limit) => format!("clawhost: monthly limit reached ({limit} tokens); it resets on the 1st (UTC)"),
        }
    }
}

impl Egress {
    /// Binds the loopback listener; [`super::start`] serves it until [`Self::shut_down`].
    pub(super) async fn bind(
        store: SharedStore,
        limits: UsageLimits,
    ) -> anyhow::Result<(Arc<Self>, tokio::net::TcpListener, watch::Receiver<bool>)> {
        let paused = store::run(&store, store::UsageStore::model_access_paused).await?;
        let tally = Tally::load(store.clone()).await?;
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // An answer that points elsewhere is passed back, never followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(IDLE)
            .user_agent(concat!("clawhost/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let egress = Arc::new(Self {
            addr: listener.local_addr()?,
            route: RwLock::new(None),
            telegram: RwLock::new(None),
            channel_change: tokio::sync::Mutex::new(()),
            client,
            store,
            tally,
            limits,
            paused: AtomicBool::new(paused),
            stop,
        });
        Ok((egress, listener, stopped))
    }

    /// Stops taking requests (after the gateway stopped: its last ones finish first), and
    /// writes the last counts.
    pub(crate) async fn shut_down(&self) {
        let _ = self.stop.send(true);
        self.write_counts().await;
    }

    pub(super) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// The base URL the gateway is given for its provider.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// Routes the requests from now on (a gateway start); `None` refuses them all.
    pub(crate) fn set_route(&self, route: Option<Route>) {
        *self
            .route
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = route.map(Arc::new);
    }

    /// A new key for the provider the gateway uses now (the same base, the same way of
    /// taking it): used from the next request on, with no restart. A route to another
    /// provider keeps its key until the gateway starts again with the new settings.
    pub(crate) fn rekey(&self, upstream: &str, auth: ProbeAuth, key: &str) {
        let mut route = self
            .route
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(current) = route.as_ref() else {
            return;
        };
        if current.upstream == upstream.trim_end_matches('/') && current.auth == auth {
            *route = Some(Arc::new(Route {
                upstream: current.upstream.clone(),
                auth,
                key: Some(Zeroizing::new(key.to_owned())),
                virtual_key: current.virtual_key.clone(),
            }));
        }
    }

    pub(crate) fn limits(&self) -> UsageLimits {
        self.limits
    }

    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Pauses or resumes the assistant's access to the model: the next request is refused or
    /// sent on, with no restart.
    pub(crate) async fn set_paused(&self, paused: bool, event: NewEvent) -> Result<(), StoreError> {
        store::run(&self.store, move |s| {
            s.set_model_access_paused(paused, &event)
        })
        .await?;
        self.paused.store(paused, Ordering::SeqCst);
        Ok(())
    }

    /// Whether a request may go on now: not paused, and within the limits.
    pub(super) fn refusal(&self) -> Option<Refusal> {
        if self.paused() {
            return Some(Refusal::Paused);
        }
        self.limit_reached(self.used())
    }

    /// The tokens counted today and this month (UTC).
    pub(crate) fn used(&self) -> Used {
        self.tally.used()
    }

    /// The limit `used` reaches, if any (the day's first).
    pub(crate) fn limit_reached(&self, used: Used) -> Option<Refusal> {
        match (self.limits.daily, self.limits.monthly) {
            (Some(daily), _) if used.today >= daily as u64 => Some(Refusal::DailyLimit(daily)),
            (_, Some(monthly)) if used.month >= monthly as u64 => {
                Some(Refusal::MonthlyLimit(monthly))
            }
            _ => None,
        }
    }

    /// The counts from the day `from` to `to` (`YYYY-MM-DD`, both included), oldest first,
    /// the last second's not yet written included.
    pub(crate) async fn usage(&self, from: &str, to: &str) -> Result<Vec<UsageRow>, StoreError> {
        self.tally.usage(from, to).await
    }

    /// Counts one request, in memory; [`Self::write_counts`] keeps it.
    pub(super) fn count(&self, model: String, tokens: Tokens, error: bool) {
        self.tally.add(UsageEntry::one(model, tokens, error));
    }

    /// Writes what was counted since the last time (about once a second, and at shutdown).
    pub(super) async fn write_counts(&self) {
        if let Err(error) = self.tally.flush().await {
            tracing::warn!(%error, "could not write the counts of the requests to the provider");
        }
    }

    /// The `apiRoot` the gateway's Telegram channel is given.
    pub(crate) fn telegram_root(&self) -> String {
        format!("http://{}{TELEGRAM}", self.addr)
    }

    /// Held by whoever writes a channel's section of `openclaw.json` (a start, a change of a
    /// channel's setup), and while Telegram's route changes with it: they never interleave,
    /// so the file always names the token the proxy expects, and no write undoes another.
    pub(crate) async fn channel_change(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.channel_change.lock().await
    }

    /// Relays Telegram's requests to `route` from now on (with a new virtual token), or
    /// refuses them; the virtual token the gateway must be given.
    pub(crate) fn set_telegram(&self, route: Option<TelegramRoute>) -> Option<Zeroizing<String>> {
        let virtual_token = route.as_ref().map(|r| r.virtual_token.clone());
        *self
            .telegram
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = route.map(Arc::new);
        virtual_token
    }

    pub(super) fn telegram(&self) -> Option<Arc<TelegramRoute>> {
        self.telegram
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn route(&self) -> Option<Arc<Route>> {
        self.route
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
