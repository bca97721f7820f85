//! The dashboard's HTTPS card: which names clawhost serves https for, the certificate's
//! issuer and expiry, and why the last attempt to get one failed.

use super::render::Moment;
use crate::tls::Status;

pub(super) struct HttpsCard {
    pub(super) names: String,
    pub(super) issuer: String,
    pub(super) not_after: Option<Moment>,
    pub(super) last_error: String,
    /// What happens next, in a sentence.
    pub(super) hint: &'static str,
}

/// None when clawhost serves no https itself.
pub(super) fn https_card(status: &Status) -> Option<HttpsCard> {
    let status = status.snapshot();
    if status.mode == "off" {
        return None;
    }
    let hint = match (status.mode, status.not_after.is_some()) {
        ("acme", true) => "Renewed on its own when a third of its lifetime is left.",
        ("acme", false) => {
            "No certificate from the CA yet: browsers warn until it arrives. clawhost keeps trying."
        }
        _ => "Served from the certificate files; a renewed pair is picked up within seconds.",
    };
    Some(HttpsCard {
        names: status.names.join(", "),
        issuer: status.issuer.unwrap_or_else(|| "—".into()),
        not_after: status
            .not_after
            .map(|s| Moment::of(&crate::clock::rfc3339(s.saturating_mul(1000)))),
        last_error: status.last_error.unwrap_or_default(),
        hint,
    })
}
