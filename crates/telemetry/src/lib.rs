//! kubevigil's telemetry, for the webhook, the CLI and the monitor alike.
//!
//! - [`Counter`], [`CounterVec`], [`HistogramVec`]: metrics kept in memory and rendered in the
//!   Prometheus text exposition format (version 0.0.4) by [`Counter::render`] etc., one metric
//!   family at a time, so a program's `/metrics` is its families rendered in order.
//! - [`InternalEvent`]: something the program did that operators want both in the log and in the
//!   metrics; emitting it logs it (with `tracing`) and counts it, so a log line and its counter
//!   come from one place and never disagree (as vector's internal events).
//!
//! No I/O and no global registry: a program owns its metrics (for example in its server state)
//! and serves [`render`](CounterVec::render)'s text itself.

use std::collections::BTreeMap;
use std::fmt::{Display, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Something worth both a log line and a metric. `emit` logs the event with `tracing` and counts
/// it in `M`, the program's metrics.
pub trait InternalEvent<M: ?Sized> {
    fn emit(self, metrics: &M);
}

/// The values of a metric's labels, in the order of its label names: `&'static str` for one
/// label, tuples of displayable values for more.
pub trait LabelValues: Ord {
    /// Number of values (must equal the number of label names).
    const LEN: usize;
    /// Writes value `i`.
    fn write_value(&self, i: usize, out: &mut String);
}

impl LabelValues for &'static str {
    const LEN: usize = 1;
    fn write_value(&self, _: usize, out: &mut String) {
        escape_label_value(self, out);
    }
}

impl LabelValues for String {
    const LEN: usize = 1;
    fn write_value(&self, _: usize, out: &mut String) {
        escape_label_value(self, out);
    }
}

impl<A: Display + Ord, B: Display + Ord> LabelValues for (A, B) {
    const LEN: usize = 2;
    fn write_value(&self, i: usize, out: &mut String) {
        match i {
            0 => write_display(&self.0, out),
            _ => write_display(&self.1, out),
        }
    }
}

impl<A: Display + Ord, B: Display + Ord, C: Display + Ord> LabelValues for (A, B, C) {
    const LEN: usize = 3;
    fn write_value(&self, i: usize, out: &mut String) {
        match i {
            0 => write_display(&self.0, out),
            1 => write_display(&self.1, out),
            _ => write_display(&self.2, out),
        }
    }
}

fn write_display(v: &dyn Display, out: &mut String) {
    escape_label_value(&v.to_string(), out);
}

/// A label value as the exposition format writes it: `\`, `"` and newlines escaped.
fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name="value",...` (without braces).
fn write_labels<K: LabelValues>(names: &[&str], values: &K, out: &mut String) {
    debug_assert_eq!(names.len(), K::LEN);
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        values.write_value(i, out);
        out.push('"');
    }
}

/// `# HELP` and `# TYPE` lines.
fn write_header(name: &str, help: &str, kind: &str, out: &mut String) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A counter without labels.
#[derive(Debug, Default)]
pub struct Counter {
    value: AtomicU64,
}

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// `# HELP`, `# TYPE name counter` and `name <value>`.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        write_header(name, help, "counter", out);
        let _ = writeln!(out, "{name} {}", self.get());
    }
}

/// A counter kept elsewhere (an atomic another part owns), rendered like [`Counter::render`].
pub fn render_counter(name: &str, help: &str, value: u64, out: &mut String) {
    write_header(name, help, "counter", out);
    let _ = writeln!(out, "{name} {value}");
}

/// A counter family with one label whose counts are kept elsewhere, rendered like
/// [`CounterVec::render`] (values in the order given).
pub fn render_counters(
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
    out: &mut String,
) {
    write_header(name, help, "counter", out);
    for (value, n) in values {
        out.push_str(name);
        out.push('{');
        out.push_str(label);
        out.push_str("=\"");
        escape_label_value(value, out);
        let _ = writeln!(out, "\"}} {n}");
    }
}

/// A gauge without labels, read when rendered: `# HELP`, `# TYPE name gauge` and `name <value>`.
pub fn render_gauge(name: &str, help: &str, value: f64, out: &mut String) {
    write_header(name, help, "gauge", out);
    let _ = writeln!(out, "{name} {value}");
}

/// A counter family: one count per label values, rendered in the order of the values.
#[derive(Debug)]
pub struct CounterVec<K> {
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<K, u64>>,
}

impl<K: LabelValues> CounterVec<K> {
    /// A family with these label names (as many as `K` has values).
    pub fn new(labels: &'static [&'static str]) -> Self {
        assert_eq!(
            labels.len(),
            K::LEN,
            "label names and values differ in number"
        );
        CounterVec {
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, key: K) {
        self.add(key, 1);
    }

    pub fn add(&self, key: K, n: u64) {
        *lock(&self.values).entry(key).or_default() += n;
    }

    pub fn get(&self, key: &K) -> u64 {
        lock(&self.values).get(key).copied().unwrap_or(0)
    }

    /// `# HELP`, `# TYPE name counter` and one `name{labels} <value>` per label values seen.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        write_header(name, help, "counter", out);
        for (key, n) in lock(&self.values).iter() {
            out.push_str(name);
            out.push('{');
            write_labels(self.labels, key, out);
            let _ = writeln!(out, "}} {n}");
        }
    }
}

/// A gauge family whose values are computed elsewhere and replaced together: one value per
/// label values, rendered in the order of the values.
#[derive(Debug)]
pub struct GaugeVec<K> {
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<K, f64>>,
}

impl<K: LabelValues> GaugeVec<K> {
    /// A family with these label names (as many as `K` has values).
    pub fn new(labels: &'static [&'static str]) -> Self {
        assert_eq!(
            labels.len(),
            K::LEN,
            "label names and values differ in number"
        );
        GaugeVec {
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Replaces every value: label values not in `values` are no longer rendered.
    pub fn replace(&self, values: BTreeMap<K, f64>) {
        *lock(&self.values) = values;
    }

    pub fn get(&self, key: &K) -> Option<f64> {
        lock(&self.values).get(key).copied()
    }

    /// `# HELP`, `# TYPE name gauge` and one `name{labels} <value>` per label values held.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        write_header(name, help, "gauge", out);
        for (key, v) in lock(&self.values).iter() {
            out.push_str(name);
            out.push('{');
            write_labels(self.labels, key, out);
            let _ = writeln!(out, "}} {v}");
        }
    }
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Cumulative: `counts[i]` observations at most `buckets[i]`.
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

/// A histogram family (durations in seconds): per label values, cumulative bucket counts, the
/// sum and the count.
#[derive(Debug)]
pub struct HistogramVec<K> {
    labels: &'static [&'static str],
    /// Upper bounds, in seconds, ascending.
    buckets: &'static [f64],
    values: Mutex<BTreeMap<K, Histogram>>,
}

impl<K: LabelValues> HistogramVec<K> {
    /// A family with these label names and bucket upper bounds (ascending; `+Inf` is implied).
    pub fn new(labels: &'static [&'static str], buckets: &'static [f64]) -> Self {
        assert_eq!(
            labels.len(),
            K::LEN,
            "label names and values differ in number"
        );
        HistogramVec {
            labels,
            buckets,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation of `elapsed`.
    pub fn observe(&self, key: K, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut values = lock(&self.values);
        let h = values.entry(key).or_insert_with(|| Histogram {
            counts: vec![0; self.buckets.len()],
            count: 0,
            sum: 0.0,
        });
        for (count, bound) in h.counts.iter_mut().zip(self.buckets) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// `# HELP`, `# TYPE name histogram`, then per label values `name_bucket{labels,le="…"}` for
    /// every bound and `+Inf`, `name_sum{labels}` and `name_count{labels}`.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        write_header(name, help, "histogram", out);
        for (key, h) in lock(&self.values).iter() {
            let mut labels = String::new();
            write_labels(self.labels, key, &mut labels);
            for (bound, count) in self.buckets.iter().zip(&h.counts) {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_text_format() {
        let c = Counter::default();
        c.inc();
        c.inc();
        let mut out = String::new();
        c.render("x_total", "Things.", &mut out);
        assert_eq!(
            out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 2\n"
        );

        let v: CounterVec<(&str, u16)> = CounterVec::new(&["endpoint", "code"]);
        v.inc(("validate", 200));
        v.inc(("mutate", 200));
        v.inc(("validate", 200));
        assert_eq!(v.get(&("validate", 200)), 2);
        let mut out = String::new();
        v.render("r_total", "Requests.", &mut out);
        assert_eq!(
            out,
            "# HELP r_total Requests.\n# TYPE r_total counter\n\
             r_total{endpoint=\"mutate\",code=\"200\"} 1\n\
             r_total{endpoint=\"validate\",code=\"200\"} 2\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let v: CounterVec<&'static str> = CounterVec::new(&["l"]);
        v.inc("a\"b\\c\nd");
        let mut out = String::new();
        v.render("e_total", "E.", &mut out);
        assert!(out.ends_with("e_total{l=\"a\\\"b\\\\c\\nd\"} 1\n"), "{out}");
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        static BUCKETS: [f64; 3] = [0.001, 0.01, 1.0];
        let h: HistogramVec<&'static str> = HistogramVec::new(&["endpoint"], &BUCKETS);
        h.observe("v", Duration::from_micros(500));
        h.observe("v", Duration::from_millis(5));
        h.observe("v", Duration::from_secs(2));
        let mut out = String::new();
        h.render("d_seconds", "Durations.", &mut out);
        assert_eq!(
            out,
            "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{endpoint=\"v\",le=\"0.001\"} 1\n\
             d_seconds_bucket{endpoint=\"v\",le=\"0.01\"} 2\n\
             d_seconds_bucket{endpoint=\"v\",le=\"1\"} 2\n\
             d_seconds_bucket{endpoint=\"v\",le=\"+Inf\"} 3\n\
             d_seconds_sum{endpoint=\"v\"} 2.0055\n\
             d_seconds_count{endpoint=\"v\"} 3\n"
        );
    }

    #[test]
    fn internal_events_log_and_count_in_one_place() {
        struct Reloaded;
        impl InternalEvent<Counter> for Reloaded {
            fn emit(self, metrics: &Counter) {
                metrics.inc();
            }
        }
        let c = Counter::default();
        Reloaded.emit(&c);
        assert_eq!(c.get(), 1);
    }
}
