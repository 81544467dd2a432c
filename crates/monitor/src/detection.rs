//! Detection over the spool: the audit events the intake spooled, in order, through the same
//! engine as `kubevigil audit detect` (stream mode: an alert as soon as its event is processed),
//! with the spool committed behind them.
//!
//! [`SpoolSource::read`] commits a batch once every event of it went through the engine, and the
//! engine hands each alert to the caller (which tells it, then records it in the history store)
//! before it returns: a crash between the two repeats at most the last batch, whose alerts the
//! store then knows ([`kubevigil_store::AlertSeen::Known`]) unless the crash came between telling
//! one and recording it (told again: at least once). Correlations still waiting for their
//! condition are held in memory and start over after a crash.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kubevigil_audit::reader::RawEvent;
use kubevigil_detect::{EventSource, SourceEvent, SourceSummary};

use crate::spool::{Spool, SpoolReader};

/// The input name of spooled events in messages.
pub const INPUT: &str = "audit webhook";

/// Read at most this much of the spool at once.
const BATCH_BYTES: usize = 1 << 20;

/// The spool as an endless event source, until `stop` is set and the spool is read to its end.
pub struct SpoolSource {
    spool: Spool,
    reader: SpoolReader,
    stop: Arc<AtomicBool>,
    kind: &'static str,
    /// The input name in messages.
    input: &'static str,
    sampler: kubevigil_detect::source::Sampler,
    /// Events read and committed.
    pub processed: Arc<AtomicU64>,
    wait: Duration,
}

impl SpoolSource {
    /// The audit spool's events (audit events).
    pub fn new(spool: &Spool, stop: Arc<AtomicBool>) -> SpoolSource {
        SpoolSource::of(
            spool,
            stop,
            "audit",
            INPUT,
            kubevigil_detect::audit::sample_noted,
        )
    }

    /// A spool of events of `kind`, named `input` in messages, sampled by `sampler`.
    pub fn of(
        spool: &Spool,
        stop: Arc<AtomicBool>,
        kind: &'static str,
        input: &'static str,
        sampler: kubevigil_detect::source::Sampler,
    ) -> SpoolSource {
        SpoolSource {
            spool: spool.clone(),
            reader: spool.reader(),
            stop,
            kind,
            input,
            sampler,
            processed: Arc::new(AtomicU64::new(0)),
            wait: Duration::from_millis(100),
        }
    }
}

impl SpoolSource {
    /// The kind of its events (`audit`, `falco`), for logs.
    pub fn kind_name(&self) -> &'static str {
        self.kind
    }
}

impl EventSource for SpoolSource {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        let mut summary = SourceSummary::default();
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            let batch = match self.reader.next_batch(BATCH_BYTES, self.wait) {
                Ok(b) => b,
                Err(e) => {
                    on_error(&e);
                    summary.failed_inputs += 1;
                    std::thread::sleep(self.wait);
                    if stopping {
                        return summary;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                if stopping {
                    return summary;
                }
                continue;
            }
            let mut n = 0;
            for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                n += 1;
                let event = SourceEvent {
                    input: self.input,
                    raw: RawEvent {
                        line: 1,
                        col: 1,
                        text: line,
                    },
                    unwrapped_from: None,
                };
                if on_event(&event).is_break() {
                    summary.events += n;
                    return summary;
                }
            }
            summary.events += n;
            if let Err(e) = self.spool.commit(self.reader.position()) {
                on_error(&e);
            }
            self.processed.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn sampler(&self) -> kubevigil_detect::source::Sampler {
        self.sampler
    }
}
