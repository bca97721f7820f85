//! TLS in the binary (`tls.mode = "files"`): rustls with the ring provider (already what the
//! provider-key test uses, so one crypto library in the program), TLS 1.2 and 1.3 only,
//! HTTP/1.1. The certificate and key come from two PEM files that something else renews
//! (certbot, a company CA): clawhost looks at them every few seconds and serves a new pair as
//! soon as it is complete and matches; a broken or half-written pair keeps the old one and
//! says why in the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the files are looked at for a renewal.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The two files a certificate is served from.
#[derive(Debug, Clone)]
pub(crate) struct CertFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// What identifies a version of the files without reading them.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

impl CertFiles {
    fn stamp(&self) -> Stamp {
        let of = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        let (cert_at, cert_len) = of(&self.cert)?;
        let (key_at, key_len) = of(&self.key)?;
        Some((cert_at, cert_len, key_at, key_len))
    }

    /// Reads, parses and checks the pair: a chain of at least one certificate and the private
    /// key of its first one.
    pub(crate) fn load(&self) -> Result<CertifiedKey, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| format!("cannot read {}: {e}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "{} is not a PEM certificate chain: {e}",
                    self.cert.display()
                )
            })?;
        if chain.is_empty() {
            return Err(format!("{} holds no certificate", self.cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("{} holds no usable private key: {e}", self.key.display()))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| format!("the key in {} cannot sign: {e}", self.key.display()))?;
        let certified = CertifiedKey::new(chain, signer);
        certified.keys_match().map_err(|e| {
            format!(
                "the key in {} is not the key of the certificate in {}: {e}",
                self.key.display(),
                self.cert.display()
            )
        })?;
        Ok(certified)
    }
}

/// Hands every handshake the certificate loaded last.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The TLS side of the listener: the acceptor, and the task that keeps its certificate
/// current (it ends with the acceptor's last user).
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads `files` (a bad pair at start is an error: there is nothing to serve yet) and
    /// starts watching them.
    pub(crate) fn from_files(files: CertFiles) -> Result<Self, String> {
        let first = files.load()?;
        let current = Arc::new(Current(RwLock::new(Arc::new(first))));
        let resolver: Arc<dyn ResolvesServerCert> = current.clone();
        let acceptor = TlsAcceptor::from(Arc::new(server_config(resolver)?));
        let watched = Arc::downgrade(&current);
        tokio::spawn(async move {
            let mut seen = files.stamp();
            let mut ticks = tokio::time::interval(RELOAD_EVERY);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(current) = watched.upgrade() else {
                    return;
                };
                let stamp = files.stamp();
                if stamp == seen {
                    continue;
                }
                seen = stamp;
                match files.load() {
                    Ok(pair) => {
                        *current
                            .0
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(pair);
                        tracing::info!(cert = %files.cert.display(), "serving the renewed certificate");
                    }
                    Err(error) => tracing::warn!(
                        %error,
                        "the certificate files changed but cannot be used; still serving the previous certificate"
                    ),
                }
            }
        });
        Ok(Self { acceptor })
    }
}

fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
