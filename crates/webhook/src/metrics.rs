//! Prometheus text-format metrics (`kubevigil_` prefix): requests by endpoint, policy,
//! decision and operation; request latency histograms by endpoint; shed and failed requests.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    responses: Mutex<BTreeMap<(&'static str, u16), u64>>,
    shed: AtomicU64,
    cert_reloads: AtomicU64,
}

impl Metrics {
    pub fn record_decision(&self, policy: &'static str, decision: &'static str, op: &'static str) {
        let mut m = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((policy, decision, op)).or_default() += 1;
    }

    pub fn record_request(&self, endpoint: &'static str, code: u16, elapsed: Duration) {
        {
            let mut r = self.responses.lock().unwrap_or_else(|p| p.into_inner());
            *r.entry((endpoint, code)).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        let mut l = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = l.entry(endpoint).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    pub fn record_shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_cert_reload(&self) {
        self.cert_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP kubevigil_webhook_decisions_total Admission decisions by policy, decision and operation.\n");
        out.push_str("# TYPE kubevigil_webhook_decisions_total counter\n");
        for ((p, d, o), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "kubevigil_webhook_decisions_total{{policy=\"{p}\",decision=\"{d}\",operation=\"{o}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP kubevigil_webhook_requests_total HTTP requests by endpoint and status code.\n",
        );
        out.push_str("# TYPE kubevigil_webhook_requests_total counter\n");
        for ((e, c), n) in self
            .responses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "kubevigil_webhook_requests_total{{endpoint=\"{e}\",code=\"{c}\"}} {n}"
            );
        }
        out.push_str("# HELP kubevigil_webhook_request_duration_seconds Time from request headers to response, by endpoint.\n");
        out.push_str("# TYPE kubevigil_webhook_request_duration_seconds histogram\n");
        for (e, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "kubevigil_webhook_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "kubevigil_webhook_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kubevigil_webhook_request_duration_seconds_sum{{endpoint=\"{e}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kubevigil_webhook_request_duration_seconds_count{{endpoint=\"{e}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP kubevigil_webhook_shed_total Requests refused at once because the concurrency limit was reached.\n");
        out.push_str("# TYPE kubevigil_webhook_shed_total counter\n");
        let _ = writeln!(
            out,
            "kubevigil_webhook_shed_total {}",
            self.shed.load(Ordering::Relaxed)
        );
        out.push_str("# HELP kubevigil_webhook_cert_reloads_total Serving certificate reloads.\n");
        out.push_str("# TYPE kubevigil_webhook_cert_reloads_total counter\n");
        let _ = writeln!(
            out,
            "kubevigil_webhook_cert_reloads_total {}",
            self.cert_reloads.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record_decision("pod-security", "deny", "CREATE");
        m.record_request("validate", 200, Duration::from_micros(300));
        m.record_request("validate", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("kubevigil_webhook_decisions_total{policy=\"pod-security\",decision=\"deny\",operation=\"CREATE\"} 1\n"));
        assert!(text.contains("kubevigil_webhook_request_duration_seconds_bucket{endpoint=\"validate\",le=\"0.00025\"} 0\n"));
        assert!(text.contains("kubevigil_webhook_request_duration_seconds_bucket{endpoint=\"validate\",le=\"0.0005\"} 1\n"));
        assert!(text.contains("kubevigil_webhook_request_duration_seconds_bucket{endpoint=\"validate\",le=\"0.005\"} 2\n"));
        assert!(text.contains(
            "kubevigil_webhook_request_duration_seconds_count{endpoint=\"validate\"} 2\n"
        ));
    }
}
