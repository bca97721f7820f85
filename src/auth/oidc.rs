//! Signing in at an OpenID Connect issuer: the authorization code flow with PKCE (S256), its
//! `state` and `nonce` kept here, in memory, under a random key that only the browser's
//! short-lived pre-login cookie carries; the ID token's signature, issuer, audience, expiry
//! and nonce checked by `openidconnect`. What comes out is an [`Identity`]: who the issuer
//! says signed in. Whether that is the owner is decided in [`super::identity`].
//!
//! The issuer's discovery document (and its keys) is fetched when first needed and again
//! after [`DISCOVERY_TTL`], and at once when an ID token names a key it does not list (keys
//! rotate); a refresh that fails keeps the last good one for a bounded time.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, http,
};

use super::pending::Pending;
use super::tokens::ClaimTicket;
use crate::crypto::{same_secret, sha256};
use crate::outbound::{BodyError, body_up_to};

/// A client built from the issuer's discovery document, with our redirect URI.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a sign-in may take at the issuer (and the pre-login cookie lives).
pub(crate) const FLOW_TTL: Duration = Duration::from_mins(10);
/// Sign-ins under way at once; beyond, the oldest is forgotten.
const MAX_PENDING: usize = 1024;
/// Sign-ins under way from one address (or network) at once; beyond, its oldest is
/// forgotten, so strangers push out their own.
const PENDING_PER_SOURCE: usize = 8;
/// The discovery document (and the keys) are fetched again after this long.
const DISCOVERY_TTL: Duration = Duration::from_hours(1);
/// An issuer that cannot be reached is still trusted with its last keys for this long.
const STALE_AT_MOST: Duration = Duration::from_hours(24);
/// A key the cached set lacks makes a new fetch, at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_mins(1);
/// Clocks differ: an ID token is still taken this long after its `exp`.
const CLOCK_LEEWAY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// A confirmation's `auth_time` may be this much before its flow began (clocks differ, and
/// it counts whole seconds); more, and the issuer did not have the owner sign in again.
const AUTH_TIME_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// The issuer's answers (discovery, keys, tokens) are small.
const MAX_ANSWER: usize = 1024 * 1024;

/// The issuer and how clawhost is registered there.
#[derive(Clone)]
pub(crate) struct OidcSettings {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    /// Besides `openid`.
    pub(crate) scopes: Vec<String>,
    pub(crate) display_name: String,
    /// `<public_url>/auth/oidc/callback`.
    pub(crate) redirect_uri: String,
}

/// Never prints the client secret.
impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What a sign-in at the issuer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Signing the owner in; then on to `next` (a path on this site).
    SignIn { next: String },
    /// Linking the identity to the owner signed in with session `session_id`.
    Link { session_id: String },
    /// Becoming the owner with a claim code and password checked before.
    Claim(ClaimTicket),
    /// The owner, signed in with session `session_id`, confirms `what` (a step-up): the
    /// issuer is asked to have them sign in again, and the form they posted (`action`,
    /// `fields`) is posted again once it has (or they go `back`).
    Confirm {
        session_id: String,
        what: String,
        action: String,
        fields: Vec<(String, String)>,
        back: String,
    },
}

impl Purpose {
    /// Whether the issuer must have the person sign in again (`prompt=login`, `max_age=0`),
    /// and prove it with an `auth_time` from after the flow began.
    fn asks_again(&self) -> bool {
        matches!(self, Self::Confirm { .. })
    }
}

/// Who the issuer says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: bool,
}

/// What the issuer sent back to the callback.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct CallbackParams {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
    /// RFC 9207: which issuer answered.
    pub(crate) iss: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("no OpenID Connect issuer is configured")]
    NotConfigured,
    /// The issuer could not be reached, or answered what is not OpenID Connect.
    #[error("{0}")]
    Unreachable(String),
    /// No sign-in under way matches: the cookie is gone or expired, or `state` differs.
    #[error("no sign-in under way matches this answer")]
    NoSuchFlow,
    /// The issuer said no (the person cancelled, or it refused clawhost).
    #[error("the issuer refused: {0}")]
    Refused(String),
    /// The answer or the ID token failed a check.
    #[error("{0}")]
    Invalid(String),
}

struct Flow {
    began: chrono::DateTime<chrono::Utc>,
    state: String,
    nonce: String,
    verifier: String,
    purpose: Purpose,
}

struct Discovered {
    client: Client,
    fetched: Instant,
}

/// The discovery document as last fetched, and when a fetch last failed.
#[derive(Default)]
struct Discovery {
    known: Option<Discovered>,
    failed: Option<Instant>,
}

pub(crate) struct Oidc {
    settings: OidcSettings,
    http: OidcHttp,
    /// Keyed by the SHA-256 of the pre-login cookie's value.
    pending: Pending<[u8; 32], Flow>,
    discovered: std::sync::Mutex<Discovery>,
    /// Held while the discovery document is fetched.
    fetching: tokio::sync::Mutex<()>,
}

impl Oidc {
    pub(crate) fn new(settings: OidcSettings) -> Result<Self, String> {
        Ok(Self {
            settings,
            http: OidcHttp(crate::outbound::client()?.clone()),
            pending: Pending::new(FLOW_TTL, MAX_PENDING),
            discovered: std::sync::Mutex::new(Discovery::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Starts a sign-in at the issuer for a visitor at `from` (as the limits count addresses):
    /// the value for the pre-login cookie, and where to send the browser.
    pub(crate) async fn begin(
        &self,
        purpose: Purpose,
        from: IpAddr,
    ) -> Result<(String, String), OidcError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if purpose.asks_again() {
            request = request
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = request.url();
        let key = super::tokens::new_session_token();
        let flow = Flow {
            began: chrono::Utc::now(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            purpose,
        };
        self.pending
            .insert_from(from, sha256(key.as_bytes()), flow, PENDING_PER_SOURCE);
        Ok((key, url.into()))
    }

    /// The end of a sign-in: the flow of the pre-login cookie `key` is used up whatever the
    /// outcome, then the answer is checked and the code exchanged for an ID token.
    pub(crate) async fn finish(
        &self,
        key: Option<&str>,
        params: &CallbackParams,
    ) -> Result<(Purpose, Identity), OidcError> {
        let flow = key.and_then(|key| self.pending.take(&sha256(key.as_bytes())));
        let Some(flow) = flow.filter(|flow| {
            params
                .state
                .as_deref()
                .is_some_and(|state| same_secret(state.as_bytes(), flow.state.as_bytes()))
        }) else {
            // A `state` presented without its cookie (a code that landed in another browser)
            // uses its flow up too, so the code cannot be taken back to where it began.
            if let Some(state) = params.state.as_deref() {
                self.pending
                    .forget(|flow| same_secret(state.as_bytes(), flow.state.as_bytes()));
            }
            return Err(OidcError::NoSuchFlow);
        };
        if let Some(iss) = &params.iss
            && *iss != self.settings.issuer
        {
            let iss: String = iss.chars().take(100).filter(|c| !c.is_control()).collect();
            return Err(OidcError::Invalid(format!(
                "the answer came from another issuer ({iss})"
            )));
        }
        if let Some(error) = &params.error {
            let said = params.error_description.as_deref().unwrap_or(error);
            let said = said.chars().filter(|c| !c.is_control()).take(200).collect();
            return Err(OidcError::Refused(said));
        }
        let Some(code) = &params.code else {
            return Err(OidcError::Invalid("the answer has no code".into()));
        };
        let identity = self.redeem(code, &flow).await?;
        Ok((flow.purpose, identity))
    }

    async fn redeem(&self, code: &str, flow: &Flow) -> Result<Identity, OidcError> {
        let client = self.client(false).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| {
                OidcError::Unreachable(format!("the issuer names no token endpoint ({e})"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => {
                    OidcError::Invalid(format!("the issuer refused the code: {}", answer.error()))
                }
                other => OidcError::Unreachable(format!("the token request failed: {other}")),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::Invalid("the issuer sent no ID token".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let verify = |client: &Client| {
            let mut verifier = client
                .id_token_verifier()
                .set_time_fn(|| chrono::Utc::now() - CLOCK_LEEWAY);
            if flow.purpose.asks_again() {
                let since = flow.began - AUTH_TIME_SKEW;
                verifier = verifier.set_auth_time_verifier_fn(move |at| match at {
                    Some(at) if at >= since => Ok(()),
                    Some(_) => Err("the issuer did not ask you to sign in again".into()),
                    None => Err("the issuer did not say when you signed in (auth_time)".into()),
                });
            }
            id_token.claims(&verifier, &nonce).map(|claims| Identity {
                issuer: self.settings.issuer.clone(),
                subject: claims.subject().as_str().to_owned(),
                email: claims.email().map(|email| email.as_str().to_owned()),
                email_verified: claims.email_verified().unwrap_or(false),
            })
        };
        match verify(&client) {
            Ok(identity) => Ok(identity),
            // Perhaps the issuer rotated its keys since they were fetched.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(true).await?;
                verify(&client).map_err(|error| rejected(&error))
            }
            Err(error) => Err(rejected(&error)),
        }
    }

    /// The client from the discovery document: the cached one while fresh (and, with
    /// `keys_missing`, unless fetched within the last minute), else fetched again. One fetch
    /// at a time: meanwhile the others use the last good document, or wait for the fetch
    /// when there is none. After a failed fetch, the next waits a minute: meanwhile the last
    /// good document serves, or (with none) the issuer is unreachable at once, so a dead
    /// issuer is not asked by every visitor in turn.
    async fn client(&self, keys_missing: bool) -> Result<Client, OidcError> {
        if let Some(client) = self.cached(keys_missing)? {
            return Ok(client);
        }
        let _one_fetch = if let Ok(guard) = self.fetching.try_lock() {
            guard
        } else {
            if let Some(stale) = self.usable_stale() {
                return Ok(stale);
            }
            let guard = self.fetching.lock().await;
            // The fetch just waited for may have brought what is needed.
            if let Some(client) = self.cached(keys_missing)? {
                return Ok(client);
            }
            guard
        };
        let fetched = self.discover().await;
        let mut discovery = self.discovery();
        match fetched {
            Ok(client) => {
                *discovery = Discovery {
                    known: Some(Discovered {
                        client: client.clone(),
                        fetched: Instant::now(),
                    }),
                    failed: None,
                };
                Ok(client)
            }
            Err(error) => {
                discovery.failed = Some(Instant::now());
                match discovery.known.as_ref() {
                    Some(known) if known.fetched.elapsed() < STALE_AT_MOST => {
                        tracing::warn!(%error, "the OpenID Connect issuer could not be read again; its last keys are used");
                        Ok(known.client.clone())
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// The cached client when it serves without a fetch: fresh, or (after a failed fetch
    /// less than a minute ago) not older than [`STALE_AT_MOST`]; with no document and such a
    /// failure, the issuer is unreachable.
    fn cached(&self, keys_missing: bool) -> Result<Option<Client>, OidcError> {
        let discovery = self.discovery();
        let recently_failed = discovery
            .failed
            .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
        let Some(known) = discovery.known.as_ref() else {
            if recently_failed {
                return Err(OidcError::Unreachable(format!(
                    "{} could not be read a moment ago; it is asked again within a minute",
                    self.settings.issuer
                )));
            }
            return Ok(None);
        };
        let age = known.fetched.elapsed();
        let fresh = if keys_missing {
            age < REFETCH_AT_MOST_EVERY
        } else {
            age < DISCOVERY_TTL
        };
        Ok((fresh || (recently_failed && age < STALE_AT_MOST)).then(|| known.client.clone()))
    }

    /// The last good client, while not older than [`STALE_AT_MOST`].
    fn usable_stale(&self) -> Option<Client> {
        let discovery = self.discovery();
        let known = discovery.known.as_ref()?;
        (known.fetched.elapsed() < STALE_AT_MOST).then(|| known.client.clone())
    }

    fn discovery(&self) -> std::sync::MutexGuard<'_, Discovery> {
        self.discovered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn discover(&self) -> Result<Client, OidcError> {
        let settings = &self.settings;
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcError::Unreachable(format!("the issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                OidcError::Unreachable(format!(
                    "{} could not be read: {}",
                    settings.issuer,
                    error_chain(&e)
                ))
            })?;
        let redirect = RedirectUrl::new(settings.redirect_uri.clone())
            .map_err(|e| OidcError::Unreachable(format!("the redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.client_id.clone()),
            settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

fn rejected(error: &ClaimsVerificationError) -> OidcError {
    OidcError::Invalid(format!("the ID token was refused: {error}"))
}

/// An error with its causes, for the log and the owner (no secrets: URLs and reasons only).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// openidconnect's requests through clawhost's one outbound client (no redirects followed),
/// each answer read up to [`MAX_ANSWER`].
struct OidcHttp(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let mut response = self.0.execute(request).await.map_err(Box::new)?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body =
                body_up_to(&mut response, MAX_ANSWER)
                    .await
                    .map_err(|error| match error {
                        BodyError::TooLarge => HttpClientError::Other(format!(
                            "the answer is larger than {MAX_ANSWER} bytes"
                        )),
                        BodyError::Broken(e) => HttpClientError::Reqwest(Box::new(e)),
                    })?;
            answer.body(body).map_err(HttpClientError::Http)
        })
    }
}
