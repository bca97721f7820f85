//! TLS in the binary: rustls with the ring provider (what the rest of the program already
//! uses, so one crypto library), TLS 1.2 and 1.3 only, HTTP/2 or HTTP/1.1 by ALPN.
//!
//! The certificate comes from one of two places:
//! - `files`: two PEM files something else renews (certbot, a company CA), looked at every few
//!   seconds ([`files`]);
//! - `acme`: an ACME CA, Let's Encrypt by default, with clawhost answering the challenges
//!   itself: TLS-ALPN-01 on this listener, HTTP-01 on the plain-http one ([`acme`]).
//!
//! Either way a new certificate is served from the next handshake on, and one that cannot be
//! used keeps the previous one, with the reason in the log and in [`Status`].

mod acme;
mod cert;
mod files;
mod serving;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;
use tokio_rustls::TlsAcceptor;

pub(crate) use acme::AcmeDeps;
pub(crate) use files::CertFiles;
use serving::Served;
pub(crate) use serving::{ACME_TLS_ALPN, Challenges, Status};

use crate::config::{AcmeConfig, AcmeName};

/// The ALPN protocol of HTTP/2.
pub(crate) const H2: &[u8] = b"h2";

/// Aborts the task that keeps the certificate current when the listener's TLS goes.
#[derive(Debug)]
struct Keeper(tokio::task::JoinHandle<()>);

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The TLS side of the listener: the acceptor, what it serves, and the task that keeps its
/// certificate current (stopped when this is dropped).
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) status: Status,
    pub(crate) challenges: Arc<Challenges>,
    _keeper: Keeper,
}

impl Tls {
    /// Loads `files` (a bad pair at start is an error: there is nothing to serve yet) and
    /// starts watching them.
    pub(crate) fn from_files(files: CertFiles) -> Result<Self, String> {
        let (first, info) = files.load()?;
        let status = Status::new("files", Vec::new());
        status.serving(&info, Some(info.names.clone()));
        let served = Served::new(Arc::new(first));
        let task = tokio::spawn(files::watch(files, served.clone(), status.clone()));
        Self::with(served, status, task)
    }

    /// Serves the certificate kept from an earlier start (or a self-signed stand-in until the
    /// first arrives) and starts getting and renewing certificates from the CA.
    pub(crate) fn acme(config: &AcmeConfig, deps: AcmeDeps) -> Result<Self, String> {
        crate::fsutil::ensure_private_dir(&deps.dir).map_err(|e| e.to_string())?;
        let names: Vec<String> = config.names.iter().map(AcmeName::to_string).collect();
        let status = Status::new("acme", names);
        let issuer = acme::Issuer::new(config, deps, status.clone());
        let (first, kept) = match issuer.kept() {
            Some((certified, current)) => {
                status.serving(&current.info, None);
                (certified, Some(current))
            }
            None => (cert::stand_in(&config.names)?, None),
        };
        let served = Served::new(first);
        let task = tokio::spawn(issuer.run(served.clone(), kept));
        Self::with(served, status, task)
    }

    fn with(
        served: Arc<Served>,
        status: Status,
        task: tokio::task::JoinHandle<()>,
    ) -> Result<Self, String> {
        let challenges = served.challenges.clone();
        let resolver: Arc<dyn ResolvesServerCert> = served;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server_config(resolver)?)),
            status,
            challenges,
            _keeper: Keeper(task),
        })
    }
}

fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    // HTTP/2 first: the Control UI asks for ~30 assets at once, which one connection carries
    // without the six-connection limit. WebSockets still open on HTTP/1.1 connections of
    // their own (no extended CONNECT is offered).
    config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Ok(config)
}
