//! `/openclaw` and `/openclaw/*`: OpenClaw's Control UI on clawhost's own origin, for the
//! owner only; and [`remote`], OpenClaw's apps and CLI elsewhere, admitted by the gateway's
//! own device pairing. The path is forwarded unchanged (the UI builds every URL from its base path);
//! the gateway's credential is added on the way in and never travels back.
//!
//! [`service`] is what the proxy holds (the pooled upstream client, each session's socket
//! slots, the limits, the asset cache); [`handler`] decides per request; [`http`] and [`ws`]
//! move the bytes; [`headers`] says which headers cross; [`assets`] keeps the immutable ones.

pub(crate) mod assets;
pub(crate) mod handler;
pub(crate) mod headers;
pub(crate) mod http;
pub(crate) mod remote;
pub(crate) mod service;
pub(crate) mod ws;
