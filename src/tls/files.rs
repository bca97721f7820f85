//! `tls.mode = "files"`: the certificate and key come from two PEM files that something else
//! renews. clawhost looks at them every few seconds and serves a new pair as soon as it is
//! complete and matches; a broken or half-written pair keeps the old one and says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::sign::CertifiedKey;

use super::cert::{self, CertInfo};
use super::serving::{Served, Status};

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
    pub(super) fn load(&self) -> Result<(CertifiedKey, CertInfo), String> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let what = format!("{} and {}", self.cert.display(), self.key.display());
        cert::from_pem(&read(&self.cert)?, &read(&self.key)?, &what)
    }
}

/// Serves each complete, matching new version of `files`.
pub(super) async fn watch(files: CertFiles, served: Arc<Served>, status: Status) {
    let mut seen = files.stamp();
    let mut ticks = tokio::time::interval(RELOAD_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let stamp = files.stamp();
        if stamp == seen {
            continue;
        }
        seen = stamp;
        match files.load() {
            Ok((pair, info)) => {
                served.serve(Arc::new(pair));
                status.serving(&info, Some(info.names.clone()));
                tracing::info!(cert = %files.cert.display(), "serving the renewed certificate");
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the certificate files changed but cannot be used; still serving the previous certificate"
                );
                status.failed(&error);
            }
        }
    }
}
