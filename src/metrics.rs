//! What clawhost counts for Prometheus (`metrics.enabled`), in one registry: requests by route
//! template and status class with their latency, open sockets and event streams, proxied
//! bytes, security events by kind (sign-in failures and lockouts among them), and, read when
//! scraped, the gateway's state, restarts, uptime and memory, OpenClaw's version, the
//! certificate's expiry, the last backup and restore drill, and the LLM tokens used.
//!
//! Every label comes from a closed set clawhost defines (route templates, status classes,
//! event kinds, gateway states, one OpenClaw version at a time): no id, path or address ever
//! becomes a label, so the number of series stays bounded whatever clients send.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The route label of a request that matched no route (a 404 of any path).
pub(crate) const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// A long-lived connection clawhost holds open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The Control UI's WebSocket, relayed to the gateway.
    ControlUi,
    /// An OpenClaw app or CLI elsewhere, through `/remote`.
    Remote,
    /// A server-sent event stream of clawhost's own pages and API.
    Events,
}

impl Stream {
    fn label(self) -> &'static str {
        match self {
            Self::ControlUi => "control_ui",
            Self::Remote => "remote",
            Self::Events => "events",
        }
    }
}

/// Which way proxied bytes went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From a client to the gateway.
    ToGateway,
    /// From the gateway to a client.
    FromGateway,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Self::ToGateway => "to_gateway",
            Self::FromGateway => "from_gateway",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    open: Family<KindLabels, Gauge>,
    proxied: Family<DirectionLabels, Counter>,
    events: Family<KindLabels, Counter>,
    gateway_state: Family<StateLabels, Gauge>,
    gateway_restarts: Counter,
    gateway_uptime: FloatGauge,
    gateway_memory: Gauge,
    own_memory: Gauge,
    openclaw: Family<VersionLabels, Gauge>,
    certificate_expiry: Gauge,
    last_backup: Gauge,
    last_drill: Gauge,
    drill_ok: Gauge,
    llm_tokens: Family<KindLabels, Counter>,
    llm_requests: Counter,
    llm_errors: Counter,
}

/// Latency buckets from 1 ms to about 15 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.5, 11))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("clawhost");
    let metrics = Metrics {
        registry: Registry::default(),
        requests: Family::default(),
        durations: Family::new_with_constructor(latency),
        open: Family::default(),
        proxied: Family::default(),
        events: Family::default(),
        gateway_state: Family::default(),
        gateway_restarts: Counter::default(),
        gateway_uptime: FloatGauge::default(),
        gateway_memory: Gauge::default(),
        own_memory: Gauge::default(),
        openclaw: Family::default(),
        certificate_expiry: Gauge::default(),
        last_backup: Gauge::default(),
        last_drill: Gauge::default(),
        drill_ok: Gauge::default(),
        llm_tokens: Family::default(),
        llm_requests: Counter::default(),
        llm_errors: Counter::default(),
    };
    let m = &metrics;
    registry.register(
        "http_requests",
        "HTTP requests answered, by route template and status class",
        m.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to answer an HTTP request (to its headers), by route template",
        m.durations.clone(),
    );
    registry.register(
        "open_streams",
        "WebSockets and event streams open now, by kind",
        m.open.clone(),
    );
    registry.register(
        "proxied_bytes",
        "Bytes relayed between clients and the gateway (HTTP bodies and WebSocket messages)",
        m.proxied.clone(),
    );
    registry.register(
        "security_events",
        "Security events recorded, by kind (login_failed, lockout, …)",
        m.events.clone(),
    );
    registry.register(
        "gateway_state",
        "The gateway's state: 1 for the current one",
        m.gateway_state.clone(),
    );
    registry.register(
        "gateway_restarts",
        "Restarts of the gateway after a crash since clawhost started",
        m.gateway_restarts.clone(),
    );
    registry.register(
        "gateway_uptime_seconds",
        "How long the running gateway has run (0 when it does not run)",
        m.gateway_uptime.clone(),
    );
    registry.register(
        "gateway_resident_memory_bytes",
        "Resident memory of the gateway's processes (0 when it does not run)",
        m.gateway_memory.clone(),
    );
    registry.register(
        "resident_memory_bytes",
        "Resident memory of clawhost itself",
        m.own_memory.clone(),
    );
    registry.register(
        "openclaw_info",
        "The OpenClaw version the gateway runs (or is installed)",
        m.openclaw.clone(),
    );
    registry.register(
        "certificate_expiry_timestamp_seconds",
        "When the served certificate expires (0 without https)",
        m.certificate_expiry.clone(),
    );
    registry.register(
        "backup_last_success_timestamp_seconds",
        "When the newest backup made here was written (0 without one)",
        m.last_backup.clone(),
    );
    registry.register(
        "backup_drill_timestamp_seconds",
        "When the last restore drill ran (0 before the first)",
        m.last_drill.clone(),
    );
    registry.register(
        "backup_drill_ok",
        "Whether the last restore drill restored the backup (1) or not (0)",
        m.drill_ok.clone(),
    );
    registry.register(
        "llm_tokens",
        "LLM tokens used through the egress proxy, by kind (input, output)",
        m.llm_tokens.clone(),
    );
    registry.register(
        "llm_requests",
        "Requests to the LLM provider through the egress proxy",
        m.llm_requests.clone(),
    );
    registry.register(
        "llm_errors",
        "Requests to the LLM provider that failed",
        m.llm_errors.clone(),
    );
    Metrics {
        registry,
        ..metrics
    }
});

/// `2xx` for 204, and so on.
fn class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Counts an answered request: `route` is the route template that matched (or
/// [`UNMATCHED`]), never the path asked for.
pub(crate) fn request(route: &str, status: u16, seconds: f64) {
    let metrics = &*METRICS;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.to_owned(),
            class: class(status),
        })
        .inc();
    metrics
        .durations
        .get_or_create(&RouteLabels {
            route: route.to_owned(),
        })
        .observe(seconds);
}

/// Counts a security event by its kind.
pub(crate) fn event(kind: &'static str) {
    METRICS.events.get_or_create(&KindLabels { kind }).inc();
}

/// Counts bytes relayed one way.
pub(crate) fn proxied(direction: Direction, bytes: usize) {
    METRICS
        .proxied
        .get_or_create(&DirectionLabels {
            direction: direction.label(),
        })
        .inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
}

/// Counted among the open streams of its kind while it lives.
pub(crate) struct Open(Stream);

impl Open {
    pub(crate) fn new(kind: Stream) -> Self {
        METRICS
            .open
            .get_or_create(&KindLabels { kind: kind.label() })
            .inc();
        Self(kind)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        METRICS
            .open
            .get_or_create(&KindLabels {
                kind: self.0.label(),
            })
            .dec();
    }
}

/// What is read when the metrics are scraped.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The gateway's state now, and every state it can be in.
    pub(crate) gateway_state: &'static str,
    pub(crate) gateway_states: &'static [&'static str],
    pub(crate) gateway_restarts: u64,
    pub(crate) gateway_uptime_seconds: f64,
    pub(crate) gateway_memory_bytes: u64,
    pub(crate) own_memory_bytes: u64,
    pub(crate) openclaw_version: Option<String>,
    /// Unix seconds.
    pub(crate) certificate_expiry: Option<i64>,
    pub(crate) last_backup: Option<i64>,
    /// When the last drill ran, and whether it restored.
    pub(crate) drill: Option<(i64, bool)>,
    pub(crate) llm_input_tokens: u64,
    pub(crate) llm_output_tokens: u64,
    pub(crate) llm_requests: u64,
    pub(crate) llm_errors: u64,
}

/// Moves a counter up to `total` (what is read is a total; a counter only goes up).
fn catch_up(counter: &Counter, total: u64) {
    let have = counter.get();
    if total > have {
        counter.inc_by(total - have);
    }
}

fn gauge_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Everything, in Prometheus' text format (0.0.4), with `snapshot` read in.
pub(crate) fn render(snapshot: &Snapshot) -> String {
    let m = &*METRICS;
    m.gateway_state.clear();
    for state in snapshot.gateway_states {
        m.gateway_state
            .get_or_create(&StateLabels { state })
            .set(i64::from(*state == snapshot.gateway_state));
    }
    catch_up(&m.gateway_restarts, snapshot.gateway_restarts);
    m.gateway_uptime.set(snapshot.gateway_uptime_seconds);
    m.gateway_memory
        .set(gauge_of(snapshot.gateway_memory_bytes));
    m.own_memory.set(gauge_of(snapshot.own_memory_bytes));
    m.openclaw.clear();
    if let Some(version) = &snapshot.openclaw_version {
        m.openclaw
            .get_or_create(&VersionLabels {
                version: version.clone(),
            })
            .set(1);
    }
    m.certificate_expiry
        .set(snapshot.certificate_expiry.unwrap_or_default());
    m.last_backup.set(snapshot.last_backup.unwrap_or_default());
    let (drill_at, drill_ok) = snapshot.drill.unwrap_or_default();
    m.last_drill.set(drill_at);
    m.drill_ok.set(i64::from(drill_ok));
    catch_up(
        &m.llm_tokens.get_or_create(&KindLabels { kind: "input" }),
        snapshot.llm_input_tokens,
    );
    catch_up(
        &m.llm_tokens.get_or_create(&KindLabels { kind: "output" }),
        snapshot.llm_output_tokens,
    );
    catch_up(&m.llm_requests, snapshot.llm_requests);
    catch_up(&m.llm_errors, snapshot.llm_errors);
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &m.registry);
    text
}

/// The content type of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_labelled_from_closed_sets() {
        request("/api/status", 200, 0.002);
        request(UNMATCHED, 404, 0.0001);
        event("login_failed");
        proxied(Direction::FromGateway, 1234);
        let open = Open::new(Stream::ControlUi);
        let text = render(&Snapshot {
            gateway_state: "running",
            gateway_states: &["stopped", "running"],
            gateway_restarts: 2,
            openclaw_version: Some("2026.9.6".into()),
            drill: Some((1_700_000_000, true)),
            llm_input_tokens: 10,
            ..Snapshot::default()
        });
        for line in [
            r#"clawhost_http_requests_total{route="/api/status",class="2xx"} 1"#,
            r#"clawhost_http_requests_total{route="unmatched",class="4xx"} 1"#,
            r#"clawhost_security_events_total{kind="login_failed"} 1"#,
            r#"clawhost_proxied_bytes_total{direction="from_gateway"} 1234"#,
            r#"clawhost_open_streams{kind="control_ui"} 1"#,
            r#"clawhost_gateway_state{state="running"} 1"#,
            r#"clawhost_gateway_state{state="stopped"} 0"#,
            "clawhost_gateway_restarts_total 2",
            r#"clawhost_openclaw_info{version="2026.9.6"} 1"#,
            "clawhost_backup_drill_ok 1",
            r#"clawhost_llm_tokens_total{kind="input"} 10"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        drop(open);
        // Totals read again never count twice.
        let again = render(&Snapshot {
            gateway_state: "stopped",
            gateway_states: &["stopped", "running"],
            gateway_restarts: 2,
            llm_input_tokens: 10,
            ..Snapshot::default()
        });
        assert!(
            again.contains("clawhost_gateway_restarts_total 2"),
            "{again}"
        );
        assert!(again.contains(r#"clawhost_open_streams{kind="control_ui"} 0"#));
        assert!(!again.contains("openclaw_info{"), "{again}");
        assert!(again.contains(r#"clawhost_gateway_state{state="stopped"} 1"#));
    }
}
