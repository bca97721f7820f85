//! What every request passes through before a handler sees it (security headers, CSRF,
//! request ids, error shaping), the extractors handlers use (client, owner session, JSON),
//! and the shapes answers leave in (problems and error pages, the session cookie, cursor
//! pages, server-sent events). No routes live here.
//!
//! [`error`] holds the one translation of every domain error into a status and a sentence,
//! used by the JSON API and the pages alike.

pub(crate) mod client_addr;
pub(crate) mod cookie;
pub(crate) mod csrf;
pub(crate) mod download;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod headers;
pub(crate) mod host;
pub(crate) mod metrics;
pub(crate) mod notice;
pub(crate) mod paging;
pub(crate) mod panics;
pub(crate) mod problems;
pub(crate) mod request_context;
pub(crate) mod slots;
pub(crate) mod sse;
pub(crate) mod streams;
pub(crate) mod upload;
