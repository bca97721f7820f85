//! One request through the egress proxy: the virtual key checked, the path kept under the
//! provider's base, the real key put in, the answer streamed back chunk by chunk while its
//! usage is read. What goes wrong here is answered in the provider's own error shape, with
//! words that start with "clawhost:", so the agent shows them in the chat.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::proxy::{Egress, PREFIX, Route};
use super::telegram;
use super::usage::{Tap, Tokens};
use crate::crypto::same_secret;
use crate::gateway::providers::ProbeAuth;

/// The largest request sent on (images travel inside the JSON).
const REQUEST_MAX: usize = 32 * 1024 * 1024;
/// The largest upload sent on to Telegram (its own limit for a bot's upload is 50 MB).
const TELEGRAM_REQUEST_MAX: usize = 50 * 1024 * 1024;

/// Request headers never sent on: the hop's own, the credentials (the real key replaces
/// them), and the encodings (the answer is read for its usage, so it comes plain).
const DROPPED_REQUEST: [&str; 15] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "accept-encoding",
];
const DROPPED_RESPONSE: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
];

/// The innermost cause of `error`, e.g. "Connection refused (os error 111)": reqwest's own
/// words ("error sending request") say nothing an owner can act on.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

pub(super) fn router(egress: Arc<Egress>) -> Router {
    Router::new().fallback(forward).with_state(egress)
}

/// Request headers sent on.
fn sent_on(name: &HeaderName) -> bool {
    !DROPPED_REQUEST.contains(&name.as_str())
}

/// Response headers passed back.
fn passed_back(name: &HeaderName) -> bool {
    !DROPPED_RESPONSE.contains(&name.as_str())
}

async fn forward(State(egress): State<Arc<Egress>>, request: Request) -> Response {
    if request.uri().path().starts_with(telegram::TELEGRAM) {
        return relay_telegram(egress, request).await;
    }
    let Some(route) = egress.route() else {
        return refuse(
            ProbeAuth::Bearer,
            StatusCode::SERVICE_UNAVAILABLE,
            "clawhost: no gateway start is using the provider now",
        );
    };
    let (parts, body) = request.into_parts();
    if !presents_virtual_key(&parts.headers, &route) {
        return refuse(
            route.auth,
            StatusCode::UNAUTHORIZED,
            "clawhost: this key is not the one clawhost gave the gateway",
        );
    }
    let Some(rest) = parts
        .uri
        .path()
        .strip_prefix(PREFIX)
        .filter(|rest| stays_under(rest))
    else {
        return refuse(route.auth, StatusCode::NOT_FOUND, "clawhost: no such path");
    };
    // Refused until the owner resumes, or the day or month ends: a 429 whose words name a
    // long window ("daily", "usage limit"), which OpenClaw neither retries nor hides: it
    // shows them in the chat. (A 403 would read as a bad key and lock the key for minutes.)
    if let Some(refusal) = egress.refusal() {
        return refuse(route.auth, StatusCode::TOO_MANY_REQUESTS, &refusal.words());
    }
    let url = match parts.uri.query() {
        Some(query) => format!("{}{rest}?{query}", route.upstream),
        None => format!("{}{rest}", route.upstream),
    };
    let Ok(body) = axum::body::to_bytes(body, REQUEST_MAX).await else {
        return refuse(
            route.auth,
            StatusCode::PAYLOAD_TOO_LARGE,
            "clawhost: the request is larger than 32 MiB",
        );
    };
    let model = model_of(&body);
    let mut outgoing = egress.client.request(parts.method, &url);
    for (name, value) in &parts.headers {
        if sent_on(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    outgoing = with_key(outgoing, &route);
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(error) => {
            egress.count(model, Tokens::default(), true);
            let status = if error.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            let why = root_cause(&error);
            return refuse(
                route.auth,
                status,
                &format!("clawhost: the provider did not answer ({why})"),
            );
        }
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if passed_back(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let meter = Meter::new(&egress, model, Tap::new(content_type), !status.is_success());
    let chunks = futures_util::stream::unfold(
        (answer.bytes_stream(), meter),
        |(mut chunks, mut meter)| async move {
            let chunk = chunks.next().await?;
            if let Ok(bytes) = &chunk {
                meter.tap.feed(bytes);
            } else {
                meter.error = true;
            }
            Some((chunk, (chunks, meter)))
        },
    );
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether the request carries this start's virtual key, as a bearer token or in the header
/// Anthropic's clients use (also for a provider that takes no key: the gateway sends it).
fn presents_virtual_key(headers: &HeaderMap, route: &Route) -> bool {
    let expected = route.virtual_key.as_bytes();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let api_key = headers
        .get(HeaderName::from_static("x-api-key"))
        .and_then(|v| v.to_str().ok());
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|v| same_secret(v.as_bytes(), expected))
}

/// A path below the prefix that cannot climb out of the provider's base: no dot segments,
/// and no slash or backslash hidden in an escape that the provider might decode.
fn stays_under(rest: &str) -> bool {
    (rest.is_empty() || rest.starts_with('/'))
        && !rest.contains('\\')
        && rest.split('/').all(|segment| {
            let segment = segment.to_ascii_lowercase();
            let dots = segment.replace("%2e", ".");
            dots != "." && dots != ".." && !segment.contains("%2f") && !segment.contains("%5c")
        })
}

fn model_of(body: &Bytes) -> String {
    /// Only the model's name: the rest of a request (the prompt, the tools, tens of KiB) is
    /// skipped over, never built into values.
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        model: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Named>(body)
        .ok()
        .and_then(|named| named.model)
        .map(|model| model.chars().take(200).collect())
        .unwrap_or_default()
}

fn with_key(outgoing: reqwest::RequestBuilder, route: &Route) -> reqwest::RequestBuilder {
    let Some(key) = &route.key else {
        return outgoing;
    };
    let value = |text: String| {
        let mut value = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    };
    match route.auth {
        ProbeAuth::Bearer => outgoing.header(
            header::AUTHORIZATION,
            value(format!("Bearer {}", key.as_str())),
        ),
        ProbeAuth::AnthropicHeaders => {
            outgoing.header(HeaderName::from_static("x-api-key"), value(key.to_string()))
        }
        ProbeAuth::None => outgoing,
    }
}

/// An error as the provider would send one, so the gateway shows its words.
fn refuse(auth: ProbeAuth, status: StatusCode, message: &str) -> Response {
    let body = match auth {
        ProbeAuth::AnthropicHeaders => json!({
            "type": "error",
            "error": {"type": "api_error", "message": message},
        }),
        ProbeAuth::Bearer => json!({
            "error": {"message": message, "type": "clawhost", "code": status.as_u16()},
        }),
        // Ollama's own errors are a plain string.
        ProbeAuth::None => json!({"error": message}),
    };
    (status, axum::Json(body)).into_response()
}

/// Telegram's Bot API (see [`super::telegram`]).
async fn relay_telegram(egress: Arc<Egress>, request: Request) -> Response {
    let Some(route) = egress.telegram() else {
        return refuse_telegram(StatusCode::NOT_FOUND, "clawhost: Telegram is not set up");
    };
    let (parts, body) = request.into_parts();
    let Some((files, token, rest)) = telegram::split(parts.uri.path()) else {
        return refuse_telegram(StatusCode::NOT_FOUND, "clawhost: no such path");
    };
    if !same_secret(token.as_bytes(), route.virtual_token.as_bytes()) {
        return refuse_telegram(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if !stays_under(&format!("/{rest}")) {
        return refuse_telegram(StatusCode::NOT_FOUND, "clawhost: no such path");
    }
    let Ok(body) = axum::body::to_bytes(body, TELEGRAM_REQUEST_MAX).await else {
        return refuse_telegram(
            StatusCode::PAYLOAD_TOO_LARGE,
            "clawhost: the request is too large",
        );
    };
    let files = if files { "/file" } else { "" };
    let mut url = format!(
        "{}{files}/bot{}/{rest}",
        route.api_root,
        route.token.as_str()
    );
    if let Some(query) = parts.uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let mut outgoing = egress.client.request(parts.method, &url);
    for (name, value) in &parts.headers {
        if sent_on(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        // reqwest's words quote the URL, which holds the real token.
        Err(error) => {
            let why = error.without_url();
            return refuse_telegram(
                StatusCode::BAD_GATEWAY,
                &format!("clawhost: Telegram did not answer ({why})"),
            );
        }
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if passed_back(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut response = Response::new(Body::from_stream(answer.bytes_stream()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// An error as the Bot API sends one.
fn refuse_telegram(status: StatusCode, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"ok": false, "error_code": status.as_u16(), "description": description})),
    )
        .into_response()
}

/// Counts one request's usage when its answer ends (whole, broken, or left by the gateway).
struct Meter {
    egress: Arc<Egress>,
    model: String,
    tap: Tap,
    error: bool,
}

impl Meter {
    fn new(egress: &Arc<Egress>, model: String, tap: Tap, error: bool) -> Self {
        Self {
            egress: egress.clone(),
            model,
            tap,
            error,
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let tap = std::mem::replace(&mut self.tap, Tap::new(""));
        let tokens: Tokens = tap.finish().unwrap_or_default();
        self.egress
            .count(std::mem::take(&mut self.model), tokens, self.error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_is_read_from_any_request_body() {
        let of = |text: &str| model_of(&Bytes::from(text.to_owned()));
        assert_eq!(
            of(
                r#"{"messages":[{"role":"user","content":"{\"model\":\"x\"}"}],"tools":[{"a":[1,2,{"b":null}]}],"model":"gpt-\u0035"}"#
            ),
            "gpt-5"
        );
        assert_eq!(of(r#"{"messages":[]}"#), "");
        assert_eq!(of("not json"), "");
        assert_eq!(
            of(&format!(r#"{{"model":"{}"}}"#, "m".repeat(500))).len(),
            200
        );
    }

    #[test]
    fn paths_stay_under_the_providers_base() {
        for good in [
            "",
            "/chat/completions",
            "/v1/messages",
            "/models/a.b",
            "/x/..y",
        ] {
            assert!(stays_under(good), "{good}");
        }
        for bad in [
            "/../admin",
            "/a/../../b",
            "/%2e%2E/x",
            "/.",
            "relative",
            "/a\\..\\b",
            "/..%2fadmin",
            "/x%5C..",
        ] {
            assert!(!stays_under(bad), "{bad}");
        }
    }
}
