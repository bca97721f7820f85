//! The Control UI's immutable assets, kept in memory after their first answer. The gateway
//! names its scripts and stylesheets by their content and marks them `public, immutable`;
//! a page load asks for about thirty of them at once, and the gateway, one Node thread that
//! is also running the assistant, answers them in turn. From memory they come at once.
//!
//! What is kept is exactly what a shared cache may keep of an authenticated request (RFC 9111
//! §3 and §3.5): a 200 with a known length, marked `public` and `immutable`, with nothing
//! forbidding storage and a `Vary` of at most `Accept-Encoding` (the key carries it). Nothing
//! is answered from here before the owner's session has been checked, every entry belongs to
//! one run of the gateway (a restart or an upgrade empties the cache), and the whole is
//! bounded by `proxy.asset_cache`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;

use super::headers::list_elements;
use crate::web::headers::Proxied;

/// The largest share of the cache one asset may take.
const ENTRY_SHARE: usize = 4;

/// What a request is kept under: its path and query, and the encodings it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    path_and_query: String,
    accept_encoding: Option<HeaderValue>,
}

struct Entry {
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
}

#[derive(Default)]
struct Entries {
    /// The gateway run these entries came from.
    generation: u64,
    bytes: usize,
    map: HashMap<Key, Entry>,
}

pub(crate) struct AssetCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl AssetCache {
    /// A cache of at most `capacity` bytes of bodies; 0 keeps nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key of a request that may be answered from the cache: a plain GET, neither
    /// conditional nor for a range (those go to the gateway, which knows its validators),
    /// and not a reload that asks past caches (`Cache-Control: no-cache`, as a browser's hard
    /// reload sends, or `no-store`, or `Pragma: no-cache`).
    pub(crate) fn key(&self, request: &Request) -> Option<Key> {
        if self.capacity == 0 || request.method() != Method::GET {
            return None;
        }
        let headers = request.headers();
        if directives(headers, header::CACHE_CONTROL).any(|d| d == "no-cache" || d == "no-store")
            || directives(headers, header::PRAGMA).any(|d| d == "no-cache")
        {
            return None;
        }
        let conditional = [
            header::RANGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
        ]
        .iter()
        .any(|name| headers.contains_key(name));
        if conditional {
            return None;
        }
        Some(Key {
            path_and_query: request.uri().path_and_query()?.as_str().to_owned(),
            accept_encoding: headers.get(header::ACCEPT_ENCODING).cloned(),
        })
    }

    /// The kept answer for `key`, if it came from the gateway run `generation`.
    pub(crate) fn answer(&self, key: &Key, generation: u64) -> Option<Response> {
        let mut entries = self.entries();
        if entries.generation != generation {
            entries.renew(generation);
            return None;
        }
        let entry = entries.map.get(key)?;
        let mut response = Response::new(Body::from(entry.body.clone()));
        *response.headers_mut() = entry.headers.clone();
        let age = entry.stored.elapsed().as_secs();
        response
            .headers_mut()
            .insert(header::AGE, HeaderValue::from(age));
        response.extensions_mut().insert(Proxied);
        Some(response)
    }

    /// Passes the gateway's `response` on, keeping a copy when it may be kept and fits.
    /// A kept body is read whole first (it is small and comes over loopback); if the gateway
    /// breaks off while it is read, that is the error, so the browser never gets a cut-off
    /// asset.
    pub(crate) async fn keep(
        &self,
        key: Key,
        generation: u64,
        response: Response,
    ) -> Result<Response, axum::Error> {
        let Some(length) = self.fits(&response) else {
            return Ok(response);
        };
        {
            let entries = self.entries();
            if generation < entries.generation || entries.bytes + length > self.capacity {
                return Ok(response);
            }
        }
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .inspect_err(|error| tracing::warn!(%error, "the gateway broke off an asset"))?
            .to_bytes();
        let mut entries = self.entries();
        if generation > entries.generation {
            entries.renew(generation);
        }
        if generation == entries.generation
            && body.len() == length
            && entries.bytes + length <= self.capacity
            && !entries.map.contains_key(&key)
        {
            entries.bytes += length;
            entries.map.insert(
                key,
                Entry {
                    headers: parts.headers.clone(),
                    body: body.clone(),
                    stored: Instant::now(),
                },
            );
        }
        drop(entries);
        Ok(Response::from_parts(parts, Body::from(body)))
    }

    /// The body's length, when `response` may be kept and is small enough.
    fn fits(&self, response: &Response) -> Option<usize> {
        if self.capacity == 0 || !may_keep(response.status(), response.headers()) {
            return None;
        }
        let length = usize::try_from(response.body().size_hint().exact()?).ok()?;
        (length <= self.capacity / ENTRY_SHARE).then_some(length)
    }

    /// Bytes of bodies kept now.
    #[cfg(test)]
    fn kept_bytes(&self) -> usize {
        self.entries().bytes
    }
}

impl Entries {
    fn renew(&mut self, generation: u64) {
        *self = Entries {
            generation,
            ..Entries::default()
        };
    }
}

/// The directive names of every `name` header, lowercase (`max-age=60` gives `max-age`).
fn directives(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = String> + '_ {
    list_elements(headers, name).map(|d| d.split('=').next().unwrap_or("").trim_end().to_owned())
}

/// Whether a shared cache may keep this answer to an authenticated request and give it out
/// again without asking (RFC 9111): 200, `public` and `immutable`, no directive against
/// storing or reusing it, no `Vary` but `Accept-Encoding`.
fn may_keep(status: StatusCode, headers: &HeaderMap) -> bool {
    if status != StatusCode::OK || headers.contains_key(header::SET_COOKIE) {
        return false;
    }
    let directives: Vec<String> = directives(headers, header::CACHE_CONTROL).collect();
    let has = |name: &str| directives.iter().any(|d| d == name);
    let forbidden = ["no-store", "no-cache", "private", "must-understand"]
        .iter()
        .any(|d| has(d));
    let vary_ok = list_elements(headers, header::VARY).all(|v| v == "accept-encoding");
    has("public") && has("immutable") && !forbidden && vary_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(cache_control: &str, body: &'static str) -> Response {
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(cache_control).expect("value"),
        );
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        response
    }

    fn get(path: &str, encodings: &str) -> Request {
        Request::builder()
            .uri(path)
            .header(header::ACCEPT_ENCODING, encodings)
            .body(Body::empty())
            .expect("request")
    }

    async fn body_of(response: Response) -> Bytes {
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
    }

    #[test]
    fn only_public_immutable_answers_are_kept() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    HeaderValue::from_str(value).expect("value"),
                );
            }
            map
        };
        let immutable = ("cache-control", "public, max-age=31536000, immutable");
        assert!(may_keep(StatusCode::OK, &headers(&[immutable])));
        assert!(may_keep(
            StatusCode::OK,
            &headers(&[immutable, ("vary", "Accept-Encoding")])
        ));
        for refused in [
            headers(&[("cache-control", "max-age=31536000, immutable")]),
            headers(&[("cache-control", "public, max-age=60")]),
            headers(&[("cache-control", "public, immutable, private")]),
            headers(&[
                ("cache-control", "public, immutable"),
                ("cache-control", "no-store"),
            ]),
            headers(&[("cache-control", "no-store")]),
            headers(&[immutable, ("vary", "Accept-Encoding, Cookie")]),
            headers(&[immutable, ("vary", "*")]),
            headers(&[immutable, ("set-cookie", "a=b")]),
            headers(&[]),
        ] {
            assert!(!may_keep(StatusCode::OK, &refused), "{refused:?}");
        }
        assert!(!may_keep(
            StatusCode::PARTIAL_CONTENT,
            &headers(&[immutable])
        ));
    }

    #[tokio::test]
    async fn a_kept_asset_is_answered_with_its_age_until_the_gateway_restarts() {
        let cache = AssetCache::new(1024);
        let request = get("/openclaw/assets/a-1.js", "br");
        let key = cache.key(&request).expect("a plain GET");
        assert!(cache.answer(&key, 1).is_none());
        let passed = cache
            .keep(key.clone(), 1, asset("public, max-age=1, immutable", "js"))
            .await
            .expect("kept");
        assert_eq!(body_of(passed).await, "js");
        let hit = cache.answer(&key, 1).expect("kept");
        assert_eq!(hit.headers()[header::AGE], "0");
        assert!(hit.extensions().get::<Proxied>().is_some());
        assert_eq!(body_of(hit).await, "js");

        let other_encoding = cache.key(&get("/openclaw/assets/a-1.js", "gzip"));
        assert!(cache.answer(&other_encoding.expect("key"), 1).is_none());
        assert!(cache.answer(&key, 2).is_none(), "a new gateway run");
        assert_eq!(cache.kept_bytes(), 0);
        assert!(cache.answer(&key, 2).is_none());
    }

    #[tokio::test]
    async fn the_cache_stays_in_its_bounds() {
        let cache = AssetCache::new(16);
        let small = get("/openclaw/assets/s.js", "br");
        let large = get("/openclaw/assets/l.js", "br");
        let (small, large) = (
            cache.key(&small).expect("key"),
            cache.key(&large).expect("key"),
        );
        let immutable = "public, immutable";
        let passed = cache
            .keep(large.clone(), 1, asset(immutable, "five!"))
            .await;
        assert!(passed.is_ok());
        assert!(
            cache.answer(&large, 1).is_none(),
            "over a quarter of the cache"
        );
        for i in 0..6 {
            let key = cache
                .key(&get(&format!("/openclaw/assets/{i}.js"), "br"))
                .expect("key");
            assert!(cache.keep(key, 1, asset(immutable, "four")).await.is_ok());
        }
        assert_eq!(cache.kept_bytes(), 16);
        assert!(
            cache
                .keep(small.clone(), 1, asset(immutable, "1"))
                .await
                .is_ok()
        );
        assert!(cache.answer(&small, 1).is_none(), "full");
        // An answer from an older run is passed on, never kept.
        let fresh = AssetCache::new(16);
        assert!(fresh.answer(&small, 3).is_none());
        assert!(
            fresh
                .keep(small.clone(), 2, asset(immutable, "old"))
                .await
                .is_ok()
        );
        assert_eq!(fresh.kept_bytes(), 0);
    }

    /// A body that promises a length and fails when read: a gateway breaking off.
    struct BrokenOff(usize);

    impl HttpBody for BrokenOff {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(Some(Err(std::io::Error::other("reset"))))
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(u64::try_from(self.0).unwrap_or(u64::MAX))
        }
    }

    #[tokio::test]
    async fn an_asset_broken_off_is_an_error_and_not_kept() {
        let cache = AssetCache::new(1024);
        let key = cache.key(&get("/openclaw/assets/b.js", "br")).expect("key");
        let mut response = asset("public, immutable", "");
        *response.body_mut() = Body::new(BrokenOff(10));
        assert!(cache.keep(key.clone(), 1, response).await.is_err());
        assert!(cache.answer(&key, 1).is_none());
        assert_eq!(cache.kept_bytes(), 0);
    }

    #[test]
    fn conditional_ranged_and_other_requests_go_to_the_gateway() {
        let cache = AssetCache::new(1024);
        for (name, value) in [
            ("range", "bytes=0-1"),
            ("if-none-match", "\"x\""),
            ("if-modified-since", "Tue, 01 Dec 2026 09:42:28 GMT"),
            ("cache-control", "no-cache"),
            ("cache-control", "max-age=0, No-Store"),
            ("pragma", "no-cache"),
        ] {
            let mut request = get("/openclaw/assets/a.js", "br");
            request.headers_mut().insert(
                axum::http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
            assert!(cache.key(&request).is_none(), "{name}");
        }
        let mut head = get("/openclaw/assets/a.js", "br");
        *head.method_mut() = Method::HEAD;
        assert!(cache.key(&head).is_none());
        assert!(
            AssetCache::new(0)
                .key(&get("/openclaw/a.js", "br"))
                .is_none()
        );
    }
}
