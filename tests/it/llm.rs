//! A small OpenAI-compatible LLM for the tests: `GET /v1/models` and a streaming
//! `POST /v1/chat/completions`, recording every request's method, path and Authorization
//! header so tests can check that a key arrived byte for byte.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const REPLY: &str = "Hello from the test LLM";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

pub struct TestLlm {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestLlm {
    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(completions))
            .layer(axum::middleware::from_fn_with_state(seen.clone(), record))
            .with_state(());
        let (addr, task) = crate::harness::serve_on_loopback(app).await;
        Self {
            base_url: format!("http://{addr}/v1"),
            seen,
            task,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Drop for TestLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    seen.lock().expect("seen").push(Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        authorization: request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    next.run(request).await
}

async fn models() -> axum::Json<Value> {
    axum::Json(
        json!({"object": "list", "data": [{"id": "test-model", "object": "model", "owned_by": "tests"}]}),
    )
}

async fn completions(body: axum::Json<Value>) -> Response {
    let chunk = |delta: Value, finish: Value, usage: Option<Value>| {
        let mut chunk = json!({
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n")
    };
    if body.0["stream"] == true {
        let text = [
            chunk(
                json!({"role": "assistant", "content": REPLY}),
                Value::Null,
                None,
            ),
            chunk(
                json!({}),
                json!("stop"),
                Some(json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})),
            ),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        return ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }))
    .into_response()
}
