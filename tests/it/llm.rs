//! A small OpenAI-compatible LLM for the tests: `GET /v1/models` and a streaming
//! `POST /v1/chat/completions`, recording every request's method, path and Authorization
//! header so tests can check that a key arrived byte for byte.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
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
    addr: std::net::SocketAddr,
    app: Router,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<Gate>,
    serving: Mutex<Option<Serving>>,
}

/// The server while it is up: its task, and the word that shuts it down (idle keep-alive
/// connections close at once, so the next request finds nothing listening).
struct Serving {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Serving {
    fn on(listener: tokio::net::TcpListener, app: Router) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { task, stop }
    }
}

/// `true` holds a streamed answer after its first chunk, until the test lets it go on.
type Gate = tokio::sync::watch::Sender<bool>;

impl TestLlm {
    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Gate::new(false));
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(completions))
            .with_state(gate.clone())
            .layer(axum::middleware::from_fn_with_state(seen.clone(), record));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        Self {
            base_url: format!("http://{addr}/v1"),
            addr,
            serving: Mutex::new(Some(Serving::on(listener, app.clone()))),
            app,
            seen,
            gate,
        }
    }

    /// The provider goes down: nothing listens on its address until [`Self::up`].
    pub async fn down(&self) {
        let serving = self.serving.lock().expect("serving").take();
        if let Some(Serving { task, stop }) = serving {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// The provider is back, on the same address.
    pub async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("the same address again");
        *self.serving.lock().expect("serving") = Some(Serving::on(listener, self.app.clone()));
    }

    /// From now on, a streamed answer stops after its first chunk until [`Self::go_on`].
    pub fn hold_streams(&self) {
        self.gate.send_replace(true);
    }

    /// Lets the held answers finish, and the next ones run through.
    pub fn go_on(&self) {
        self.gate.send_replace(false);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

impl Drop for TestLlm {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.get_mut().expect("serving").take() {
            serving.task.abort();
        }
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

async fn completions(State(gate): State<Arc<Gate>>, body: axum::Json<Value>) -> Response {
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
        let first = chunk(
            json!({"role": "assistant", "content": REPLY}),
            Value::Null,
            None,
        );
        let rest = [
            chunk(
                json!({}),
                json!("stop"),
                Some(json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})),
            ),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let mut held = gate.subscribe();
        let pieces = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
            .chain(futures_util::stream::once(async move {
                let _ = held.wait_for(|held| !held).await;
                Ok(rest)
            }));
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            axum::body::Body::from_stream(pieces),
        )
            .into_response();
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
