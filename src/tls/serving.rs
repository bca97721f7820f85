//! What the listener serves, shared by the certificate keepers: the current certificate and
//! the challenge answers (the resolver rustls asks at each handshake), and the status the API
//! and the dashboard read.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::cert;

/// The ALPN protocol of TLS-ALPN-01 validations (RFC 8737): a connection that negotiates it
/// is a CA checking a challenge, never a browser, and is closed after the handshake.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What clawhost's https is serving, for `GET /api/tls` and the dashboard.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsStatus {
    pub(crate) mode: &'static str,
    /// The names https is for: the ACME names, or those the certificate file names.
    pub(crate) names: Vec<String>,
    /// When the served certificate expires (Unix seconds); none until one from the CA or the
    /// files is served.
    pub(crate) not_after: Option<i64>,
    pub(crate) issuer: Option<String>,
    /// Why the last attempt to get or load a certificate failed, until one succeeds.
    pub(crate) last_error: Option<String>,
}

/// The shared, current [`TlsStatus`].
#[derive(Clone, Debug)]
pub(crate) struct Status(Arc<RwLock<TlsStatus>>);

impl Status {
    /// Plain http: clawhost serves no certificate.
    pub(crate) fn off() -> Self {
        Self::new("off", Vec::new())
    }

    pub(super) fn new(mode: &'static str, names: Vec<String>) -> Self {
        Self(Arc::new(RwLock::new(TlsStatus {
            mode,
            names,
            ..TlsStatus::default()
        })))
    }

    pub(crate) fn snapshot(&self) -> TlsStatus {
        read(&self.0).clone()
    }

    pub(super) fn serving(&self, info: &cert::CertInfo, names: Option<Vec<String>>) {
        let mut status = write(&self.0);
        status.not_after = Some(info.not_after);
        status.issuer = Some(info.issuer.clone());
        status.last_error = None;
        if let Some(names) = names {
            status.names = names;
        }
    }

    pub(super) fn failed(&self, error: &str) {
        write(&self.0).last_error = Some(error.to_string());
    }
}

/// The answers to ACME challenges while an order is being validated.
#[derive(Debug, Default)]
pub(crate) struct Challenges {
    /// HTTP-01: token → key authorization.
    pub(super) http: RwLock<HashMap<String, String>>,
    /// TLS-ALPN-01: the server name asked for → its challenge certificate.
    pub(super) alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl Challenges {
    /// The body `GET /.well-known/acme-challenge/{token}` answers with, while it is asked.
    pub(crate) fn http01(&self, token: &str) -> Option<String> {
        read(&self.http).get(token).cloned()
    }
}

/// Hands every handshake the certificate served now, or a TLS-ALPN-01 validation its
/// challenge certificate.
#[derive(Debug)]
pub(super) struct Served {
    current: RwLock<Arc<CertifiedKey>>,
    pub(super) challenges: Arc<Challenges>,
}

impl Served {
    pub(super) fn new(first: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(first),
            challenges: Arc::default(),
        })
    }

    pub(super) fn serve(&self, certified: Arc<CertifiedKey>) {
        *write(&self.current) = certified;
    }
}

impl ResolvesServerCert for Served {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validation = hello
            .alpn()
            .is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN));
        if validation {
            let name = hello
                .server_name()?
                .trim_end_matches('.')
                .to_ascii_lowercase();
            return read(&self.challenges.alpn).get(&name).cloned();
        }
        Some(read(&self.current).clone())
    }
}
