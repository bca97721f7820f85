//! `tls.mode = "acme"`: certificates from an ACME CA (RFC 8555), Let's Encrypt by default.
//!
//! clawhost answers the CA's challenges itself: TLS-ALPN-01 (RFC 8737) on the https listener
//! and HTTP-01 on the plain-http one, so either port being open is enough; under `auto` an
//! attempt that fails with one is tried again with the other. IP addresses are identifiers
//! like names (RFC 8738); when the CA offers profiles, an order with an IP asks for
//! `shortlived`, the only profile Let's Encrypt issues IP certificates under.
//!
//! A certificate is renewed when a third of its lifetime is left, or inside the window the
//! CA's renewal information (ARI, RFC 9773) suggests; failures are retried with a growing
//! delay while the current certificate is still served. The account key and the certificate
//! live in `<data_dir>/acme/`, 0600, each written atomically. Every issuance, renewal and
//! failure is a security event.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;
use instant_acme::{
    Account, AccountBuilder, AccountCredentials, AuthorizationStatus, BodyWrapper,
    CertificateIdentifier, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use super::cert::{self, CertInfo};
use super::serving::{Challenges, Served, Status, write};
use crate::clock::now_ms;
use crate::config::{AcmeChallenge, AcmeConfig, AcmeName};
use crate::store::{self, EventKind, NewEvent, SharedStore};

/// The first retry after a failure; each next one waits twice as long…
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// …up to this.
const LONGEST_RETRY: Duration = Duration::from_hours(1);
/// How often renewal is reconsidered when nothing says otherwise (ARI may move the window).
const RECHECK: Duration = Duration::from_hours(6);
/// One order, from creation to certificate, gets this long.
const ORDER_TIMEOUT: Duration = Duration::from_mins(5);
/// The profile Let's Encrypt issues IP-address certificates under.
const IP_PROFILE: &str = "shortlived";

const ACCOUNT_FILE: &str = "account.json";
const CERT_FILE: &str = "certificate.pem";
const KEY_FILE: &str = "certificate.key";

/// The account as kept: the directory it belongs to, so a changed `tls.acme.directory`
/// creates a new one instead of using an account another CA never heard of.
#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// What `tls.mode = "acme"` needs besides its settings.
pub(crate) struct AcmeDeps {
    pub(crate) store: SharedStore,
    /// Where the account key and the certificate are kept.
    pub(crate) dir: PathBuf,
    /// Whether a plain-http listener answers HTTP-01 challenges.
    pub(crate) http01: bool,
}

pub(super) struct Issuer {
    names: Vec<AcmeName>,
    directory: String,
    email: Option<String>,
    ca_file: Option<PathBuf>,
    challenge: AcmeChallenge,
    http01: bool,
    dir: PathBuf,
    store: SharedStore,
    status: Status,
    account: Option<Account>,
    /// Whether the CA answered a renewal-information request (then orders say what they
    /// replace).
    ari: bool,
}

/// What is served now, as far as renewal cares.
pub(super) struct Current {
    pub(super) info: CertInfo,
    der: CertificateDer<'static>,
}

impl Current {
    fn of(pair: &CertifiedKey, info: CertInfo) -> Result<Self, String> {
        let der = pair.end_entity_cert().map_err(|e| e.to_string())?;
        Ok(Self {
            info,
            der: der.clone().into_owned(),
        })
    }
}

impl Issuer {
    pub(super) fn new(config: &AcmeConfig, deps: AcmeDeps, status: Status) -> Self {
        Self {
            names: config.names.clone(),
            directory: config.directory.clone(),
            email: config.email.clone(),
            ca_file: config.ca_file.clone(),
            challenge: config.challenge,
            http01: deps.http01,
            dir: deps.dir,
            store: deps.store,
            status,
            account: None,
            ari: false,
        }
    }

    /// The certificate kept from an earlier start, if it can still be served.
    pub(super) fn kept(&self) -> Option<(Arc<CertifiedKey>, Current)> {
        let chain = std::fs::read(self.dir.join(CERT_FILE)).ok()?;
        let key = std::fs::read(self.dir.join(KEY_FILE)).ok()?;
        let loaded = cert::from_pem(&chain, &key, "the kept certificate")
            .and_then(|(pair, info)| Ok((Current::of(&pair, info)?, pair)));
        match loaded {
            Ok((current, pair)) if current.info.not_after > unix_now() => {
                Some((Arc::new(pair), current))
            }
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "the kept certificate cannot be served; getting a new one");
                None
            }
        }
    }

    /// Gets a certificate when there is none, and renews it when due, until aborted.
    pub(super) async fn run(mut self, served: Arc<Served>, kept: Option<Current>) {
        let mut current = kept;
        let mut failures: u32 = 0;
        loop {
            if failures > 0 {
                tokio::time::sleep(retry_delay(failures)).await;
            } else if let Some(now_serving) = &current {
                let (renew_at, recheck) = self.renewal_time(now_serving).await;
                let wait = renew_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                if !wait.is_zero() {
                    tokio::time::sleep(wait.min(recheck)).await;
                    continue;
                }
            }
            let kind = self.challenge_for(failures);
            let replaces = current.as_ref().filter(|_| self.ari).and_then(|c| {
                CertificateIdentifier::try_from(&c.der)
                    .ok()
                    .map(CertificateIdentifier::into_owned)
            });
            let attempt = tokio::time::timeout(
                ORDER_TIMEOUT,
                self.obtain(&served.challenges, kind.clone(), replaces),
            )
            .await
            .unwrap_or_else(|_| Err("the CA took too long to issue the certificate".into()))
            .and_then(|(chain, key)| self.install(&served, &chain, &key));
            match attempt {
                Ok(next) => {
                    let renewed = current.is_some();
                    self.record_issued(&next.info, &kind, renewed).await;
                    current = Some(next);
                    failures = 0;
                    // A CA handing out certificates already due for renewal is not asked
                    // again in a tight loop.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let retry = retry_delay(failures);
                    tracing::warn!(
                        %error,
                        retry_in = %crate::config::format_duration(retry),
                        "could not get a certificate from the CA; still serving the current one"
                    );
                    self.status.failed(&error);
                    self.record(EventKind::CertificateFailed, error).await;
                }
            }
        }
    }

    /// The challenge type of an attempt: as configured, or under `auto` TLS-ALPN-01 first
    /// and HTTP-01 after each failure, in turn.
    fn challenge_for(&self, failures: u32) -> ChallengeType {
        let http01 = match self.challenge {
            AcmeChallenge::Http01 => true,
            AcmeChallenge::TlsAlpn01 => false,
            AcmeChallenge::Auto => self.http01 && failures % 2 == 1,
        };
        if http01 {
            ChallengeType::Http01
        } else {
            ChallengeType::TlsAlpn01
        }
    }

    /// When to renew `current`, and how soon to look again: at once when it lacks a name,
    /// inside the CA's suggested window when it gives one, else with a third of its life left.
    async fn renewal_time(&mut self, current: &Current) -> (SystemTime, Duration) {
        if !current.info.covers(&self.names) {
            return (SystemTime::now(), RECHECK);
        }
        let lifetime = current.info.not_after - current.info.not_before;
        let third_left = at_unix(current.info.not_after - lifetime / 3);
        if let Some(window) = self.suggested_window(&current.der).await {
            return window;
        }
        (third_left, RECHECK)
    }

    /// The CA's suggested renewal window (ARI), as a time inside it chosen at random, and
    /// when to ask again; none when the CA does not offer it or cannot be asked now.
    async fn suggested_window(
        &mut self,
        der: &CertificateDer<'static>,
    ) -> Option<(SystemTime, Duration)> {
        let id = CertificateIdentifier::try_from(der).ok()?;
        let account = self.account().await.ok()?;
        match account.renewal_info(&id).await {
            Ok((info, ask_again)) => {
                self.ari = true;
                let start = info.suggested_window.start.unix_timestamp();
                let end = info.suggested_window.end.unix_timestamp().max(start);
                let span = u64::try_from(end - start).unwrap_or(0);
                let offset = if span == 0 {
                    0
                } else {
                    u64::from_le_bytes(crate::crypto::random_bytes::<8>()) % span
                };
                let at = at_unix(start.saturating_add(i64::try_from(offset).unwrap_or(0)));
                Some((at, ask_again.clamp(Duration::from_mins(1), RECHECK)))
            }
            Err(error) => {
                tracing::debug!(%error, "no renewal information from the CA");
                None
            }
        }
    }

    /// The account, created at the CA the first time and kept.
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(account) = &self.account {
            return Ok(account.clone());
        }
        let path = self.dir.join(ACCOUNT_FILE);
        let saved = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SavedAccount>(&bytes).ok())
            .filter(|saved| saved.directory == self.directory);
        let unreachable = |e: instant_acme::Error| {
            format!("the ACME directory {} cannot be used: {e}", self.directory)
        };
        let account = if let Some(saved) = saved {
            self.builder()?
                .from_credentials(saved.credentials)
                .await
                .map_err(unreachable)?
        } else {
            let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
            let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
            let new = NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            };
            let (account, credentials) = self
                .builder()?
                .create(&new, self.directory.clone(), None)
                .await
                .map_err(unreachable)?;
            let saved = SavedAccount {
                directory: self.directory.clone(),
                credentials,
            };
            let bytes = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
            crate::fsutil::write_atomic(&path, &bytes)
                .map_err(|e| format!("cannot keep the ACME account in {}: {e}", path.display()))?;
            tracing::info!(directory = %self.directory, "created an ACME account");
            account
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// An ACME client that trusts the system's roots and `tls.acme.ca_file`'s.
    fn builder(&self) -> Result<AccountBuilder, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let extra: Vec<CertificateDer<'static>> = match &self.ca_file {
            None => Vec::new(),
            Some(path) => CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| format!("tls.acme.ca_file {}: {e}", path.display()))?,
        };
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(|e| format!("cannot load the trusted roots: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, BodyWrapper<Bytes>>(connector);
        Ok(Account::builder_with_http(Box::new(client)))
    }

    /// One order: the challenges answered with `kind`, then the certificate chain and its
    /// private key, as PEM.
    async fn obtain(
        &mut self,
        challenges: &Challenges,
        kind: ChallengeType,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .names
            .iter()
            .map(|name| match name {
                AcmeName::Dns(dns) => Identifier::Dns(dns.clone()),
                AcmeName::Ip(ip) => Identifier::Ip(*ip),
            })
            .collect();
        let mut order = NewOrder::new(&identifiers);
        let has_ip = self.names.iter().any(|n| matches!(n, AcmeName::Ip(_)));
        if has_ip && account.profiles().any(|p| p.name == IP_PROFILE) {
            order = order.profile(IP_PROFILE);
        }
        if let Some(replaces) = replaces {
            order = order.replaces(replaces);
        }
        let ca = |e: instant_acme::Error| format!("the CA refused the order: {e}");
        let mut order = account.new_order(&order).await.map_err(ca)?;
        let mut answers = Answers {
            challenges,
            http: Vec::new(),
            alpn: Vec::new(),
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(ca)?;
            let name = authorization.identifier().to_string();
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("the CA says {name} is {other:?}")),
            }
            let mut challenge = authorization.challenge(kind.clone()).ok_or_else(|| {
                format!("the CA offers no {} challenge for {name}", kind_name(&kind))
            })?;
            let key_authorization = challenge.key_authorization();
            if kind == ChallengeType::Http01 {
                answers.http(challenge.token.clone(), key_authorization.as_str());
            } else {
                let wanted = name_of(challenge.identifier().identifier)?;
                let certificate =
                    cert::challenge_certificate(&wanted, key_authorization.digest().as_ref())?;
                answers.alpn(cert::challenge_server_name(&wanted), certificate);
            }
            challenge.set_ready().await.map_err(ca)?;
        }
        let patience = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_mins(2));
        let status = order.poll_ready(&patience).await.map_err(ca)?;
        if status != OrderStatus::Ready {
            return Err(why_invalid(&mut order, &kind).await);
        }
        let key = order.finalize().await.map_err(ca)?;
        let chain = order.poll_certificate(&patience).await.map_err(ca)?;
        drop(answers);
        Ok((chain, key))
    }

    /// Checks what the CA sent, keeps it, and serves it.
    fn install(&self, served: &Served, chain: &str, key: &str) -> Result<Current, String> {
        let (pair, info) =
            cert::from_pem(chain.as_bytes(), key.as_bytes(), "the CA's certificate")?;
        if !info.covers(&self.names) {
            return Err(format!(
                "the CA's certificate names {:?}, not every one of {:?}",
                info.names,
                self.names
                    .iter()
                    .map(AcmeName::to_string)
                    .collect::<Vec<_>>()
            ));
        }
        let current = Current::of(&pair, info)?;
        let keep = |file: &str, bytes: &str| {
            let path = self.dir.join(file);
            crate::fsutil::write_atomic(&path, bytes.as_bytes())
                .map_err(|e| format!("cannot keep the certificate in {}: {e}", path.display()))
        };
        // The key first: a crash between the two leaves a pair that does not match, which is
        // refused at the next start and replaced, never a certificate served with a wrong key.
        keep(KEY_FILE, key)?;
        keep(CERT_FILE, chain)?;
        served.serve(Arc::new(pair));
        self.status.serving(&current.info, None);
        Ok(current)
    }

    async fn record_issued(&self, info: &CertInfo, kind: &ChallengeType, renewed: bool) {
        let until = crate::clock::rfc3339(info.not_after.saturating_mul(1000));
        let detail = format!(
            "{} by {}, from {}, valid until {until}",
            info.names.join(", "),
            kind_name(kind),
            info.issuer
        );
        tracing::info!(%detail, "serving a new certificate from the CA");
        let event = if renewed {
            EventKind::CertificateRenewed
        } else {
            EventKind::CertificateIssued
        };
        self.record(event, detail).await;
    }

    async fn record(&self, kind: EventKind, detail: String) {
        let event = NewEvent {
            at: now_ms(),
            kind,
            ip: None,
            user_agent: None,
            detail: Some(detail),
        };
        if let Err(error) = store::run(&self.store, move |s| s.record_event(&event)).await {
            tracing::warn!(%error, "could not record a certificate event");
        }
    }
}

/// The challenge answers of one order, withdrawn when it ends however it ends.
struct Answers<'a> {
    challenges: &'a Challenges,
    http: Vec<String>,
    alpn: Vec<String>,
}

impl Answers<'_> {
    fn http(&mut self, token: String, key_authorization: &str) {
        write(&self.challenges.http).insert(token.clone(), key_authorization.to_string());
        self.http.push(token);
    }

    fn alpn(&mut self, server_name: String, certificate: Arc<CertifiedKey>) {
        write(&self.challenges.alpn).insert(server_name.clone(), certificate);
        self.alpn.push(server_name);
    }
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        let mut http = write(&self.challenges.http);
        for token in &self.http {
            http.remove(token);
        }
        drop(http);
        let mut alpn = write(&self.challenges.alpn);
        for name in &self.alpn {
            alpn.remove(name);
        }
    }
}

/// Why the CA found the order invalid: each failed challenge's problem, by name.
async fn why_invalid(order: &mut instant_acme::Order, kind: &ChallengeType) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let name = authorization.identifier().to_string();
        if let Ok(state) = authorization.refresh().await {
            for challenge in &state.challenges {
                if let Some(problem) = &challenge.error {
                    reasons.push(format!(
                        "{name}: {}",
                        problem.detail.as_deref().unwrap_or("failed")
                    ));
                }
            }
        }
    }
    if reasons.is_empty() {
        let detail = order
            .state()
            .error
            .as_ref()
            .map_or_else(|| "no reason given".to_string(), ToString::to_string);
        reasons.push(detail);
    }
    format!(
        "the CA could not validate by {}: {}",
        kind_name(kind),
        reasons.join("; ")
    )
}

fn name_of(identifier: &Identifier) -> Result<AcmeName, String> {
    match identifier {
        Identifier::Dns(dns) => Ok(AcmeName::Dns(dns.to_ascii_lowercase())),
        Identifier::Ip(ip) => Ok(AcmeName::Ip(*ip)),
        other => Err(format!(
            "the CA asks about {other:?}, which clawhost did not order"
        )),
    }
}

fn kind_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "http-01",
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        _ => "another challenge",
    }
}

fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn at_unix(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(retry_delay(1), FIRST_RETRY);
        assert_eq!(retry_delay(2), FIRST_RETRY * 2);
        assert_eq!(retry_delay(30), LONGEST_RETRY);
    }
}
