//! Prometheus text-format metrics (`kubevigil_` prefix): requests by endpoint, policy,
//! decision and operation; request latency histograms by endpoint; shed and failed requests.
//! The metric types and their exposition are `kubevigil_telemetry`'s; the internal events that
//! both log and count (a shed request, a certificate reload) are [`RequestShed`] and
//! [`CertificateReloaded`].

use std::path::Path;
use std::time::Duration;

use kubevigil_telemetry::{Counter, CounterVec, HistogramVec, InternalEvent};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

pub struct Metrics {
    decisions: CounterVec<(&'static str, &'static str, &'static str)>,
    latency: HistogramVec<&'static str>,
    responses: CounterVec<(&'static str, u16)>,
    shed: Counter,
    cert_reloads: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            decisions: CounterVec::new(&["policy", "decision", "operation"]),
            latency: HistogramVec::new(&["endpoint"], &BUCKETS),
            responses: CounterVec::new(&["endpoint", "code"]),
            shed: Counter::default(),
            cert_reloads: Counter::default(),
        }
    }
}

impl Metrics {
    pub fn record_decision(&self, policy: &'static str, decision: &'static str, op: &'static str) {
        self.decisions.inc((policy, decision, op));
    }

    pub fn record_request(&self, endpoint: &'static str, code: u16, elapsed: Duration) {
        self.responses.inc((endpoint, code));
        self.latency.observe(endpoint, elapsed);
    }

    pub fn record_shed(&self) {
        self.shed.inc();
    }

    pub fn record_cert_reload(&self) {
        self.cert_reloads.inc();
    }

    /// The Prometheus text exposition (format version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.decisions.render(
            "kubevigil_webhook_decisions_total",
            "Admission decisions by policy, decision and operation.",
            &mut out,
        );
        self.responses.render(
            "kubevigil_webhook_requests_total",
            "HTTP requests by endpoint and status code.",
            &mut out,
        );
        self.latency.render(
            "kubevigil_webhook_request_duration_seconds",
            "Time from request headers to response, by endpoint.",
            &mut out,
        );
        self.shed.render(
            "kubevigil_webhook_shed_total",
            "Requests refused at once because the concurrency limit was reached.",
            &mut out,
        );
        self.cert_reloads.render(
            "kubevigil_webhook_cert_reloads_total",
            "Serving certificate reloads.",
            &mut out,
        );
        out
    }
}

// The events log under the server's target, as they did when the server logged them itself.

/// A request refused at once (503) because the server is overloaded: logged as a warning and
/// counted in `kubevigil_webhook_shed_total`.
pub struct RequestShed<'a> {
    /// What ran out (`requests in flight`, `bytes in flight`).
    pub why: &'a str,
}

impl InternalEvent<Metrics> for RequestShed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.record_shed();
        tracing::warn!(target: "kubevigil_webhook::server", "overloaded ({}): request shed", self.why);
    }
}

/// The serving certificate was reloaded: logged at info and counted in
/// `kubevigil_webhook_cert_reloads_total`.
pub struct CertificateReloaded<'a> {
    pub cert: &'a Path,
}

impl InternalEvent<Metrics> for CertificateReloaded<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.record_cert_reload();
        tracing::info!(target: "kubevigil_webhook::server", cert = %self.cert.display(), "serving certificate reloaded");
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

#[cfg(test)]
mod exposition {
    use super::*;

    /// The whole exposition, byte for byte as the webhook wrote it before the metric types moved
    /// to `kubevigil-telemetry`.
    #[test]
    fn whole_exposition_is_unchanged() {
        let m = Metrics::default();
        m.record_decision("pod-security", "deny", "CREATE");
        m.record_decision("image-policy", "allow", "CREATE");
        m.record_decision("pod-security", "deny", "CREATE");
        m.record_request("validate", 200, Duration::from_micros(300));
        m.record_request("mutate", 503, Duration::from_secs(3));
        m.record_shed();
        m.record_cert_reload();
        m.record_cert_reload();
        let mut want = String::from(
            "# HELP kubevigil_webhook_decisions_total Admission decisions by policy, decision and operation.\n\
             # TYPE kubevigil_webhook_decisions_total counter\n\
             kubevigil_webhook_decisions_total{policy=\"image-policy\",decision=\"allow\",operation=\"CREATE\"} 1\n\
             kubevigil_webhook_decisions_total{policy=\"pod-security\",decision=\"deny\",operation=\"CREATE\"} 2\n\
             # HELP kubevigil_webhook_requests_total HTTP requests by endpoint and status code.\n\
             # TYPE kubevigil_webhook_requests_total counter\n\
             kubevigil_webhook_requests_total{endpoint=\"mutate\",code=\"503\"} 1\n\
             kubevigil_webhook_requests_total{endpoint=\"validate\",code=\"200\"} 1\n\
             # HELP kubevigil_webhook_request_duration_seconds Time from request headers to response, by endpoint.\n\
             # TYPE kubevigil_webhook_request_duration_seconds histogram\n",
        );
        let bounds = [
            "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
            "0.1", "0.25", "0.5", "1", "2.5",
        ];
        for b in bounds {
            want.push_str(&format!(
                "kubevigil_webhook_request_duration_seconds_bucket{{endpoint=\"mutate\",le=\"{b}\"}} 0\n"
            ));
        }
        want.push_str(
            "kubevigil_webhook_request_duration_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"} 1\n\
             kubevigil_webhook_request_duration_seconds_sum{endpoint=\"mutate\"} 3\n\
             kubevigil_webhook_request_duration_seconds_count{endpoint=\"mutate\"} 1\n",
        );
        for (i, b) in bounds.iter().enumerate() {
            let n = u8::from(i >= 2);
            want.push_str(&format!(
                "kubevigil_webhook_request_duration_seconds_bucket{{endpoint=\"validate\",le=\"{b}\"}} {n}\n"
            ));
        }
        want.push_str(
            "kubevigil_webhook_request_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"} 1\n\
             kubevigil_webhook_request_duration_seconds_sum{endpoint=\"validate\"} 0.0003\n\
             kubevigil_webhook_request_duration_seconds_count{endpoint=\"validate\"} 1\n\
             # HELP kubevigil_webhook_shed_total Requests refused at once because the concurrency limit was reached.\n\
             # TYPE kubevigil_webhook_shed_total counter\n\
             kubevigil_webhook_shed_total 1\n\
             # HELP kubevigil_webhook_cert_reloads_total Serving certificate reloads.\n\
             # TYPE kubevigil_webhook_cert_reloads_total counter\n\
             kubevigil_webhook_cert_reloads_total 2\n",
        );
        assert_eq!(m.render(), want);
    }
}
