//! What `kms serve` counts of its requests, for `/metrics`: requests by operation and outcome,
//! latency histograms by operation, and throttles. The façade adds its own (audit, cache,
//! plugins): [`Service::render_metrics`](kms_service::Service::render_metrics).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kms_core::metrics::{Histogram, LATENCY_SECONDS, header, label};

/// What one request was, as its log line and metrics name it. Never key material or plaintext:
/// the key is the reference the caller named (id, ARN or alias).
#[derive(Debug, Default)]
pub(crate) struct RequestFacts {
    /// The operation, `-` when the request named none that looks like one.
    pub operation: String,
    /// The principal that signed it, once verified.
    pub principal: Option<String>,
    /// The key the request names.
    pub key: Option<String>,
}

/// Counters of the requests served, kept by operation name (static: only served names, or
/// `-`, so that clients cannot grow the label set) then outcome: counting a request allocates
/// nothing once its pair has been seen.
#[derive(Default)]
pub(crate) struct RequestMetrics {
    requests: Mutex<HashMap<&'static str, HashMap<String, u64>>>,
    latencies: Mutex<HashMap<&'static str, Arc<Histogram>>>,
    throttles: AtomicU64,
}

impl RequestMetrics {
    /// Counts one answered request.
    pub fn record(&self, operation: &str, outcome: &str, seconds: f64) {
        let operation = crate::protocol::served(operation).map_or("-", |op| op.name());
        {
            let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            let outcomes = requests.entry(operation).or_default();
            match outcomes.get_mut(outcome) {
                Some(n) => *n += 1,
                None => {
                    outcomes.insert(outcome.to_string(), 1);
                }
            }
        }
        let histogram = Arc::clone(
            self.latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(operation)
                .or_insert_with(|| Arc::new(Histogram::new(LATENCY_SECONDS))),
        );
        histogram.observe(seconds);
        if outcome == "ThrottlingException" {
            self.throttles.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the request metrics to `out`, sorted so that a page reads the same from one
    /// scrape to the next.
    pub fn render(&self, out: &mut String) {
        header(
            out,
            "kms_requests_total",
            "counter",
            "Requests answered, by operation and outcome (Success or the AWS exception).",
        );
        let requests: BTreeMap<(&str, String), u64> = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|(op, outcomes)| outcomes.iter().map(|(o, n)| ((*op, o.clone()), *n)))
            .collect();
        for ((operation, outcome), n) in &requests {
            let _ = writeln!(
                out,
                "kms_requests_total{{operation=\"{}\",outcome=\"{}\"}} {n}",
                label(operation),
                label(outcome)
            );
        }
        header(
            out,
            "kms_request_duration_seconds",
            "histogram",
            "Time from a request's body to its answer (its audit record durable), by operation.",
        );
        let latencies: BTreeMap<&str, Arc<Histogram>> = self
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(op, h)| (*op, Arc::clone(h)))
            .collect();
        for (operation, histogram) in latencies {
            histogram.render(
                "kms_request_duration_seconds",
                &format!("operation=\"{}\"", label(operation)),
                out,
            );
        }
        header(
            out,
            "kms_throttles_total",
            "counter",
            "Requests refused by a request-rate quota (ThrottlingException).",
        );
        let _ = writeln!(
            out,
            "kms_throttles_total {}",
            self.throttles.load(Ordering::Relaxed)
        );
    }
}
