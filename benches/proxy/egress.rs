//! The egress proxy (issue 17) against a direct call, in the same run: time to the first
//! byte of a streamed chat answer (p50, p99) and clawhost's CPU per request. The provider is
//! a small streaming LLM in this process, answering every chat at once, so what differs
//! between the two paths is the proxy alone.

use std::time::{Duration, Instant};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::json;

/// Streamed chats per path in each round.
const CHATS: usize = 300;

/// A provider that streams every chat answer in two chunks, the first at once.
pub(crate) async fn start_llm() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let first = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
            let last = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
            let chunks = futures_util::stream::iter([first, last])
                .map(|chunk| Ok::<_, std::io::Error>(chunk.to_string()));
            (
                [("content-type", "text/event-stream")],
                axum::body::Body::from_stream(chunks),
            )
                .into_response()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

/// One path's times to the first byte (ms), and clawhost's CPU over them (µs per request).
struct Batch {
    first_byte_ms: Vec<f64>,
    cpu_per_request_us: f64,
}

async fn batch(http: &reqwest::Client, base: &str, key: &str, clawhost: u32) -> Batch {
    let before = super::cpu_micros(&[clawhost]);
    let mut first_byte_ms = Vec::with_capacity(CHATS);
    for _ in 0..CHATS {
        let started = Instant::now();
        let mut answer = http
            .post(format!("{base}/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "bench", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("chat");
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.chunk().await.expect("chunk").expect("a first chunk");
        first_byte_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        while answer.chunk().await.expect("chunk").is_some() {}
    }
    Batch {
        first_byte_ms,
        cpu_per_request_us: (super::cpu_micros(&[clawhost]) - before) / CHATS as f64,
    }
}

/// The value below which `per_mille` thousandths of `values` lie.
fn percentile(values: &[f64], per_mille: usize) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) * per_mille / 1000]
}

/// Interleaved rounds of direct and proxied chats; prints the medians over the rounds.
pub(crate) async fn measure(upstream: &str, egress: &str, virtual_key: &str, clawhost: u32) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .expect("client");
    // Warm both paths (connections, the proxy's pool to the provider).
    batch(&http, upstream, "sk-bench", clawhost).await;
    batch(&http, egress, virtual_key, clawhost).await;
    let (mut p50, mut p99, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    let (mut direct_p50, mut direct_p99) = (Vec::new(), Vec::new());
    for _ in 0..super::ROUNDS {
        let direct = batch(&http, upstream, "sk-bench", clawhost).await;
        let proxied = batch(&http, egress, virtual_key, clawhost).await;
        direct_p50.push(percentile(&direct.first_byte_ms, 500));
        direct_p99.push(percentile(&direct.first_byte_ms, 990));
        p50.push(percentile(&proxied.first_byte_ms, 500));
        p99.push(percentile(&proxied.first_byte_ms, 990));
        cpu.push(proxied.cpu_per_request_us);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ms = |values: &[f64]| super::shown(super::median(values), 3);
    println!(
        "\n## Egress proxy, {CHATS} streamed chats per path and round, {} rounds",
        super::ROUNDS
    );
    println!(
        "| path | first byte p50 (ms) | first byte p99 (ms) | clawhost CPU per request (µs) |"
    );
    println!("|---|---:|---:|---:|");
    println!("| direct | {} | {} | — |", ms(&direct_p50), ms(&direct_p99));
    println!(
        "| egress proxy | {} | {} | {} |",
        ms(&p50),
        ms(&p99),
        super::shown(super::median(&cpu), 0)
    );
    println!(
        "- first byte p50 egress / direct: {:.2}; p99: {:.2}",
        super::median(&p50).0 / super::median(&direct_p50).0,
        super::median(&p99).0 / super::median(&direct_p99).0
    );
}
