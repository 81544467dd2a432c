//! Audit events from every input, in order, through the Sigma engine; alerts out.

use std::cell::RefCell;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use kubevigil_audit::ReadError;
use kubevigil_audit::reader::ReadErrorKind;
use kubevigil_model::Severity;
use kubevigil_sigma::{Alert, CorrStats, Engine, RuleSet};

use crate::DetectionAlert;
use crate::source::EventSource;

/// Runs a rule set over audit logs. One detector per event stream: correlation state and
/// request deduplication carry over from one input to the next.
pub struct Detector {
    // Samples are kept as compact JSON text: correlation state may hold many of them.
    engine: Engine<String>,
    alerts: Vec<Alert<String>>,
}

/// What a run read and raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events evaluated.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// The highest severity among them.
    pub worst: Option<Severity>,
    /// Malformed events, reported and skipped.
    pub skipped: u64,
    /// Inputs that could not be opened or whose reading ended with an I/O error.
    pub failed_inputs: u64,
    /// Correlation groups dropped when their window passed, or for the memory cap.
    pub correlation: CorrStats,
}

impl Summary {
    /// Whether any input or event could not be read (the CLI exits 2).
    pub fn has_errors(&self) -> bool {
        self.skipped > 0 || self.failed_inputs > 0
    }
}

impl Detector {
    pub fn new(rules: Arc<RuleSet>) -> Detector {
        Detector {
            engine: Engine::new(rules)
                .with_sensitive_fields(Box::new(crate::audit::is_secret_field)),
            alerts: Vec::new(),
        }
    }

    /// Reads every event of `source` (for audit logs, [`AuditLogSource`](crate::AuditLogSource):
    /// the one reader every audit command uses) and evaluates it; at the end of the input,
    /// flushes what correlations still hold. `on_alert` gets each alert as it is raised;
    /// `on_error` every malformed event or unreadable input, located (`file:line:column`), in
    /// input order. An error returned by `on_alert` (say, a closed stdout) stops the run and is
    /// returned.
    pub fn run<E>(
        &mut self,
        source: &mut dyn EventSource,
        mut on_alert: impl FnMut(&DetectionAlert) -> Result<(), E>,
        on_error: impl FnMut(&dyn fmt::Display),
    ) -> Result<Summary, E> {
        let mut summary = Summary::default();
        let on_error = RefCell::new(on_error);
        let mut unprojected = 0u64;
        let mut stopped = None;
        let read = source.read(
            &mut |event| {
                let raw = event.raw;
                let mut sample = || crate::audit::sample(raw.text);
                if let Err(e) = self
                    .engine
                    .process_json(raw.text, &mut sample, &mut self.alerts)
                {
                    // The engine's scanner accepts every event the reader accepts; should it
                    // ever not, the event is reported like any other malformed one.
                    let (line, col) = raw.position_of(e.offset);
                    (on_error.borrow_mut())(&ReadError {
                        source_name: event.input.to_string(),
                        line,
                        col,
                        kind: ReadErrorKind::Invalid(e.message.into()),
                    });
                    unprojected += 1;
                }
                match emit(&mut self.alerts, &mut summary, &mut on_alert) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        stopped = Some(e);
                        ControlFlow::Break(())
                    }
                }
            },
            &mut |e| (on_error.borrow_mut())(e),
        );
        if let Some(e) = stopped {
            return Err(e);
        }
        self.engine.flush(&mut self.alerts);
        emit(&mut self.alerts, &mut summary, &mut on_alert)?;
        summary.events = read.events - unprojected;
        summary.skipped = read.rejected + unprojected;
        summary.failed_inputs = read.failed_inputs;
        summary.correlation = self.engine.stats().correlation;
        Ok(summary)
    }
}

fn emit<E>(
    alerts: &mut Vec<Alert<String>>,
    summary: &mut Summary,
    on_alert: &mut impl FnMut(&DetectionAlert) -> Result<(), E>,
) -> Result<(), E> {
    for alert in alerts.drain(..) {
        let alert = DetectionAlert::from_engine(&alert);
        summary.alerts += 1;
        summary.worst = summary.worst.max(Some(alert.severity));
        on_alert(&alert)?;
    }
    Ok(())
}
