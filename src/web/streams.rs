//! Long-lived answers last no longer than the session that asked for them. An event stream
//! (and a proxied body, and a relayed socket) ends within a second of its session's end: a
//! revocation, a sign-out, an owner reset from the command line, its expiry. Each session
//! holds at most [`STREAMS_PER_SESSION`] event streams; a new one ends the oldest.

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use futures_util::StreamExt;
use tokio_stream::Stream;

use super::error::ApiError;
use super::extract::current_session;
use super::slots::Slot;
use super::sse::sse;
use crate::auth::sessions::SessionEnd;
use crate::state::AppState;

/// Above what a browser opens to one host over HTTP/1.1 (six connections).
pub(crate) const STREAMS_PER_SESSION: usize = 8;

/// Resolves when the session holding `token` ends (or clawhost stops).
pub(crate) fn session_ended(
    state: &AppState,
    token: &str,
) -> impl Future<Output = SessionEnd> + Send + use<> {
    let (state, token) = (state.clone(), token.to_owned());
    async move { state.auth.sessions.session_end(&token).await }
}

/// `body`, cut off when `ended` resolves; the client sees the answer end early.
pub(crate) fn until(body: Body, ended: impl Future<Output = SessionEnd> + Send + 'static) -> Body {
    Body::from_stream(body.into_data_stream().take_until(ended))
}

/// The owner's session for an event stream: one of the session's stream slots, held while
/// the stream is open, and the token to watch the session by.
pub(crate) struct StreamOwner {
    state: AppState,
    token: String,
    slot: Slot,
}

impl FromRequestParts<AppState> for StreamOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let session = current_session(&parts.headers, state)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let token = state
            .cookie
            .read(&parts.headers)
            .unwrap_or_default()
            .to_owned();
        let slot = state.streams.claim(&session.id).ok_or_else(|| {
            ApiError::status(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "This session has {STREAMS_PER_SESSION} event streams open already; close some tabs."
                ),
            )
        })?;
        Ok(Self {
            state: state.clone(),
            token,
            slot,
        })
    }
}

impl StreamOwner {
    /// Streams `events` until the session ends, or a newer stream of it takes this one's
    /// slot; the slot is given back with the stream.
    pub(crate) fn sse(
        self,
        events: impl Stream<Item = Event> + Send + 'static,
    ) -> impl IntoResponse {
        let ended = session_ended(&self.state, &self.token);
        let mut slot = self.slot;
        let ended = async move {
            tokio::select! {
                end = ended => end,
                () = slot.given_up() => SessionEnd::Ended,
            }
        };
        let open = crate::metrics::Open::new(crate::metrics::Stream::Events);
        // Counted among the open streams for as long as the stream is.
        sse(events.take_until(ended).map(move |event| {
            let _counted = &open;
            event
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;

    use super::*;

    /// A body that would go on forever ends when its session does.
    #[tokio::test]
    async fn a_body_ends_with_its_session() {
        let endless = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"chunk"))
        })
        .then(|chunk| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            chunk
        });
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        let body = until(Body::from_stream(endless), async move {
            let _ = ended.await;
            SessionEnd::Ended
        });
        let reader = tokio::spawn(async move { body.collect().await.map(|b| b.to_bytes().len()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = end.send(());
        let read = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("the body ended")
            .expect("task")
            .expect("bytes");
        assert!(read > 0, "it streamed until then");
    }
}
