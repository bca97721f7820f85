//! What every request passes through before a handler sees it (security headers, CSRF,
//! request ids, error shaping) and the extractors handlers use (client, owner session, JSON).
//! No routes live here.

pub mod client_addr;
pub mod csrf;
pub mod extract;
pub mod headers;
pub mod problems;
pub mod request_context;
