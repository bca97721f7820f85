//! The accept loop: HTTP/1.1, or over TLS (when clawhost serves https itself) HTTP/2 when the
//! client offers it; a header read timeout that also bounds the TLS handshake, a bound on
//! header size, the peer address handed to extractors, and a graceful, bounded shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::{Config, PublicUrl};
use crate::tls::{ACME_TLS_ALPN, Challenges, H2};

/// Largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long open connections get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests at once on one HTTP/2 connection (a browser uses about as many as HTTP/1.1's six
/// connections would carry in a page load, several times over).
const MAX_STREAMS: u32 = 128;
/// An idle HTTP/2 connection is pinged this often, and closed when a ping goes unanswered
/// for as long.
const H2_KEEPALIVE: Duration = Duration::from_secs(30);

/// HTTP/1.1 with the limits above.
fn http1(header_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
}

/// HTTP/2 with the same bound on headers, a bound on streams, and keep-alive pings.
fn http2() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http2_only();
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(H2_KEEPALIVE)
        .keep_alive_timeout(H2_KEEPALIVE);
    builder
}

pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let h1 = http1(header_timeout);
    let h2 = http2();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small writes (HTTP/2 frames, TLS records, socket messages) go out at once instead
        // of waiting for the peer's delayed acknowledgement of the previous one.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %peer, "cannot set TCP_NODELAY");
        }
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let (h1, h2) = (h1.clone(), h2.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let served = match tls {
                None => {
                    let connection =
                        h1.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    // A client that never finishes its handshake is cut off like one that never
                    // finishes its headers.
                    let stream =
                        match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%error, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let builder = match stream.get_ref().1.alpn_protocol() {
                        Some(ACME_TLS_ALPN) => {
                            // A CA validating TLS-ALPN-01: the handshake was the answer.
                            let mut stream = stream;
                            let _ = stream.shutdown().await;
                            return;
                        }
                        Some(H2) => h2,
                        _ => h1,
                    };
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, draining open ones");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("connections still open after {DRAIN_TIMEOUT:?}; closing them");
        }
    }
}

/// Listens for SIGTERM and SIGINT from now on (so a signal during start-up is not lost)
/// and returns a future that resolves on the first of them.
pub(crate) fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutdown requested");
    })
}

/// A listener beside the main one (the plain-http redirects, the metrics' own address),
/// served until [`Side::stop`].
pub(crate) struct Side {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Side {
    pub(crate) fn serve(listener: TcpListener, router: Router, header_timeout: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(serve(listener, router, header_timeout, None, async move {
            let _ = stopped.changed().await;
        }));
        Self { stop, task }
    }

    /// Closes the listener and lets its connections drain.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The plain-http side of an https instance (`http.redirect_listen`): ACME HTTP-01 challenges
/// are answered; every other request, whatever its Host, is sent with 308 to the same path
/// and query at the public URL, never to a host the request names.
pub(crate) async fn redirects(
    address: &str,
    public_url: &PublicUrl,
    header_timeout: Duration,
    challenges: Option<Arc<Challenges>>,
) -> anyhow::Result<Side> {
    if !public_url.is_https() {
        anyhow::bail!(
            "http.redirect_listen sends plain http to the https public URL, but the public URL is {}: serve https (tls.mode) or set an https public_url",
            public_url.origin()
        );
    }
    let listener = TcpListener::bind(address).await.map_err(|e| {
        anyhow::Error::new(e).context(format!("cannot listen on {address} (http.redirect_listen)"))
    })?;
    tracing::info!(addr = %listener.local_addr()?, to = public_url.origin(), "redirecting plain http");
    let router = redirect_to(public_url.origin().to_string(), challenges);
    Ok(Side::serve(listener, router, header_timeout))
}

/// The plain-http listener, if any. The default `[::]:80` falls back to `0.0.0.0:80` on a
/// machine without IPv6.
pub(crate) async fn redirects_for(
    config: &Config,
    public_url: &PublicUrl,
    challenges: Option<Arc<Challenges>>,
) -> anyhow::Result<Option<Side>> {
    let Some(address) = &config.redirect_listen else {
        return Ok(None);
    };
    let timeout = config.header_timeout;
    match redirects(address, public_url, timeout, challenges.clone()).await {
        Err(error) if address == crate::config::DEFAULT_REDIRECT_LISTEN && no_ipv6(&error) => {
            tracing::info!("no IPv6 here: answering plain http on 0.0.0.0:80 only");
            let fallback = "0.0.0.0:80";
            Ok(Some(
                redirects(fallback, public_url, timeout, challenges).await?,
            ))
        }
        started => Ok(Some(started?)),
    }
}

/// Whether a bind failed because this machine has no IPv6.
pub(crate) fn no_ipv6(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::raw_os_error)
        .is_some_and(|code| code == nix::libc::EAFNOSUPPORT || code == nix::libc::EADDRNOTAVAIL)
}

fn redirect_to(origin: String, challenges: Option<Arc<Challenges>>) -> Router {
    use axum::extract::Path;
    use axum::http::{HeaderValue, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    let answer = move |Path(token): Path<String>| {
        let body = challenges.as_ref().and_then(|c| c.http01(&token));
        async move {
            match body {
                Some(key_authorization) => (
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    key_authorization,
                )
                    .into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .fallback(move |uri: Uri| {
            let origin = origin.clone();
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let target = format!("{origin}{path}");
                let response: Response = match HeaderValue::from_str(&target) {
                    Ok(location) => (
                        StatusCode::PERMANENT_REDIRECT,
                        [(header::LOCATION, location)],
                    )
                        .into_response(),
                    Err(_) => StatusCode::BAD_REQUEST.into_response(),
                };
                response
            }
        })
}
