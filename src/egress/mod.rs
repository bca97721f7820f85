//! The egress proxy: the only road from the gateway to the LLM provider, and the only holder
//! of the provider key while the gateway runs.
//!
//! It listens on loopback, on a port of its own (never the public listener). Each gateway
//! start gets a [`Route`]: the provider's API base, how it takes its key, the key itself, and
//! a random *virtual key* that the gateway is given instead of the real one. A request that
//! carries the virtual key is sent on to the provider's base, and nowhere else, with the
//! real key put in its place; the answer streams back as it arrives, and the tokens it used
//! are counted on the way (see [`usage`]). So what the agent can read of its own process,
//! its environment, its configuration or its state, holds the virtual key at most: worth
//! nothing beyond this machine, and gone at the next start.

mod forward;
mod proxy;
mod tally;
pub(crate) mod telegram;
pub(crate) mod usage;

use std::sync::Arc;

pub(crate) use proxy::{Egress, PREFIX, Refusal, Route};

use crate::config::UsageLimits;
use crate::store::SharedStore;

/// Binds the egress proxy's loopback listener and serves it until [`Egress::shut_down`].
pub(crate) async fn start(store: SharedStore, limits: UsageLimits) -> anyhow::Result<Arc<Egress>> {
    let (egress, listener, mut stopped) = Egress::bind(store, limits).await?;
    let app = forward::router(egress.clone());
    let writer = egress.clone();
    let mut stopping = writer.stopping();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(tally::FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopping.wait_for(|stop| *stop) => break,
            }
            writer.write_counts().await;
        }
    });
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "the egress proxy stopped");
        }
    });
    Ok(egress)
}

#[cfg(test)]
mod tests;
