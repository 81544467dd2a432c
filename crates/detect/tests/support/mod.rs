//! What the source tests share: a built-in pack run over a source.

use std::sync::Arc;

use kubevigil_detect::rules::{Events, RuleFiles};
use kubevigil_detect::{DetectionAlert, Detector, EventSource, Mode};

/// The built-in pack for `events` (which must compile without errors) over `source`, as files
/// are read (one alert per key and period): the alerts, the located errors, the events read.
pub fn run(
    events: Events,
    source: &mut dyn EventSource,
) -> (Vec<DetectionAlert>, Vec<String>, u64) {
    let loaded = RuleFiles::read(&[])
        .unwrap()
        .for_events(events)
        .compile(true, &[]);
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.level != kubevigil_model::DiagLevel::Error),
        "{:?}",
        loaded.diagnostics
    );
    let mut alerts = Vec::new();
    let mut errors = Vec::new();
    let summary = Detector::new(Arc::new(loaded.set))
        .with_mode(Mode::Batch)
        .run(
            source,
            |a| -> Result<(), ()> {
                alerts.push(a.clone());
                Ok(())
            },
            |e| errors.push(e.to_string()),
        )
        .unwrap();
    (alerts, errors, summary.events)
}

/// The names of the rules that raised `alerts`, sorted, once each.
pub fn names(alerts: &[DetectionAlert]) -> Vec<String> {
    let mut n: Vec<String> = alerts.iter().map(|a| a.name().to_string()).collect();
    n.sort();
    n.dedup();
    n
}
