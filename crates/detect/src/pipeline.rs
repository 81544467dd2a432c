//! Audit events from every input, in order, through the Sigma engine; alerts out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use std::sync::{Mutex, mpsc};

use kubevigil_audit::ReadError;
use kubevigil_audit::reader::{RawEvent, ReadErrorKind};
use kubevigil_model::Severity;
use kubevigil_model::json_skip::Members;
use kubevigil_sigma::event::JsonError;
use kubevigil_sigma::{Alert, CorrStats, Engine, Matcher, Matches, RuleMeta, RuleSet};

use crate::DetectionAlert;
use crate::dedup::{self, DedupStats, Deduplicator, KeyPart, Mode};
use crate::rules::{RuleDoc, names};
use crate::source::{Checker, EventSource, Sampler, SourceEvent, SourceSummary};
use crate::stats::Stats;
use crate::tuning::Tuning;

/// Runs a rule set over audit logs: the engine, then the configuration's exceptions, then
/// deduplication ([`crate::dedup`]). One detector per event stream: correlation and dedup state
/// and request deduplication carry over from one input to the next.
pub struct Detector {
    // Samples are kept as compact JSON text: correlation state may hold many of them.
    engine: Engine<String>,
    alerts: Vec<Alert<String>>,
    /// Per rule (by file and line): what its alerts say and how they are deduplicated.
    rules: HashMap<(String, usize), Arc<RuleCtx>, ahash::RandomState>,
    tuning: Tuning,
    mode: Mode,
    dedup: Deduplicator,
    stats: Stats,
    /// Alerts ready to be emitted.
    ready: Vec<DetectionAlert>,
    /// The latest event time seen, for alerts whose event has none.
    now: Option<i64>,
}

struct RuleCtx {
    doc: Arc<RuleDoc>,
    names: Vec<String>,
    key: Vec<KeyPart>,
    period_ms: i64,
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
    /// Updates of earlier alerts (stream mode).
    pub updates: u64,
    /// Matches dropped by the configuration's exceptions.
    pub excepted: u64,
    /// Correlation groups dropped when their window passed, or for the memory cap.
    pub correlation: CorrStats,
    /// Repeats folded into earlier alerts, and keys closed early for the memory cap.
    pub dedup: DedupStats,
}

impl Summary {
    /// Whether any input or event could not be read (the CLI exits 2).
    pub fn has_errors(&self) -> bool {
        self.skipped > 0 || self.failed_inputs > 0
    }
}

impl Detector {
    /// A detector with the default tuning (no exception, dedup by [`KeyPart::default_for`] over
    /// [`dedup::DEFAULT_PERIOD_MS`]) in [`Mode::Stream`].
    pub fn new(rules: Arc<RuleSet>) -> Detector {
        let mut d = Detector {
            engine: Engine::new(rules)
                .with_sensitive_fields(Box::new(crate::audit::is_secret_field)),
            alerts: Vec::new(),
            rules: HashMap::default(),
            tuning: Tuning::default(),
            mode: Mode::Stream,
            dedup: Deduplicator::new(Mode::Stream, dedup::DEFAULT_MAX_ENTRIES),
            stats: Stats::default(),
            ready: Vec::new(),
            now: None,
        };
        d.index_rules();
        d
    }

    /// Applies the configuration's exceptions and dedup settings.
    pub fn with_tuning(mut self, tuning: Tuning) -> Detector {
        self.tuning = tuning;
        self.index_rules();
        self
    }

    /// How repeats are reported: [`Mode::Stream`] for stdin and the monitor, [`Mode::Batch`]
    /// for files.
    pub fn with_mode(mut self, mode: Mode) -> Detector {
        self.mode = mode;
        self.dedup = Deduplicator::new(mode, self.tuning.max_entries);
        self
    }

    /// Per-rule counts so far (`--stats`).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn index_rules(&mut self) {
        let set = Arc::clone(self.engine.rule_set());
        self.rules = set
            .rules()
            .iter()
            .map(|r| {
                (
                    (r.meta.file.clone(), r.meta.line),
                    Arc::new(self.ctx(&r.meta, r.correlation)),
                )
            })
            .collect();
        self.dedup = Deduplicator::new(self.mode, self.tuning.max_entries);
    }

    /// Key and period: the rule's `dedup` attribute, else the configuration's, else the default.
    fn ctx(&self, meta: &RuleMeta, correlation: bool) -> RuleCtx {
        let (doc, _) = RuleDoc::from_meta(meta);
        let spec = doc.dedup.clone().unwrap_or_default();
        RuleCtx {
            names: names(meta),
            key: spec
                .key
                .or_else(|| self.tuning.key.clone())
                .unwrap_or_else(|| KeyPart::default_for(correlation)),
            period_ms: spec.period_ms.unwrap_or(self.tuning.period_ms),
            doc: Arc::new(doc),
        }
    }

    /// Turns the engine's alerts into detection alerts, through exceptions and dedup.
    fn take_engine_alerts(&mut self) {
        if let Some(now) = self.engine.now() {
            self.now = Some(self.now.map_or(now, |n| n.max(now)));
            self.dedup.close_until(now, &mut self.ready);
        }
        for a in self.alerts.drain(..) {
            let key = (a.rule.file.clone(), a.rule.line);
            let ctx = match self.rules.get(&key) {
                Some(c) => Arc::clone(c),
                None => Arc::new(RuleCtx {
                    doc: Arc::new(RuleDoc::from_meta(&a.rule).0),
                    names: names(&a.rule),
                    key: KeyPart::default_for(a.correlation),
                    period_ms: self.tuning.period_ms,
                }),
            };
            let mut alert = DetectionAlert::from_engine(a, &ctx.doc);
            if alert.first_seen.is_none() {
                alert.first_seen = self.now;
                alert.last_seen = self.now;
            }
            if self.tuning.exception_for(&alert, &ctx.names).is_some() {
                self.stats.excepted(&alert);
                continue;
            }
            let labels = alert.labels();
            self.stats.matched(&alert, &labels);
            alert.dedup_key = dedup::key_of(&alert, &ctx.key, &labels);
            self.dedup.push(alert, ctx.period_ms, &mut self.ready);
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
        let sampler = source.sampler();
        let read = source.read(
            &mut |event| {
                let raw = event.raw;
                // One sample per event, however many rules and correlations want it.
                let mut cached: Option<String> = None;
                let mut sample = || {
                    cached
                        .get_or_insert_with(|| sampler(raw.text, &Members::default()))
                        .clone()
                };
                if let Err(e) = self
                    .engine
                    .process_json(raw.text, &mut sample, &mut self.alerts)
                {
                    // The engine's scanner accepts every event the reader accepts; should it
                    // ever not, the event is reported like any other malformed one.
                    (on_error.borrow_mut())(&unprojected_error(event, e));
                    unprojected += 1;
                }
                match self.after_event(&mut summary, &mut on_alert) {
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
        self.finish(read, unprojected, summary, &mut on_alert)
    }

    /// Like [`Detector::run`], with the events of `source` evaluated by `threads` worker
    /// threads (their [`Matcher`]s find what each event matches, and build its sample) while
    /// this thread applies the results in input order: request deduplication, correlations,
    /// exceptions, alert deduplication and `on_alert` see exactly what [`Detector::run`] would
    /// give them, in the same order. Events travel in batches, so an alert may wait for its
    /// batch to fill: for files, not for a stream someone watches (use [`Detector::run`]).
    /// Batches in flight are bounded, and so is memory.
    pub fn run_parallel<E>(
        &mut self,
        source: &mut (dyn EventSource + Send),
        threads: usize,
        mut on_alert: impl FnMut(&DetectionAlert) -> Result<(), E>,
        mut on_error: impl FnMut(&dyn fmt::Display),
    ) -> Result<Summary, E> {
        let threads = threads.max(1);
        let mut summary = Summary::default();
        // Events the source's checker or the engine's scanner rejected on a worker.
        let mut rejected = 0u64;
        let checker = source.checker();
        let sampler = source.sampler();
        let mut stopped = None;
        let read = std::thread::scope(|scope| {
            let (work_tx, work_rx) = mpsc::sync_channel::<(Batch, Reply)>(threads * 2);
            // Evaluated batches go back to the reader, which fills them again: their buffers are
            // not grown from nothing (copied at every doubling) for each batch.
            let (recycle_tx, recycle_rx) = mpsc::channel::<Batch>();
            let work_rx = Arc::new(Mutex::new(work_rx));
            // Receivers of the batches' outcomes, in input order; its bound bounds the batches
            // in flight.
            let (order_tx, order_rx) =
                mpsc::sync_channel::<mpsc::Receiver<Vec<Outcome>>>(threads * BATCHES_PER_WORKER);
            for _ in 0..threads {
                let work_rx = Arc::clone(&work_rx);
                let mut matcher = self.engine.matcher();
                let recycle_tx = recycle_tx.clone();
                let worker = std::thread::Builder::new().name("detect-match".into());
                worker
                    .spawn_scoped(scope, move || {
                        loop {
                            // The lock is held while waiting only: one worker takes each batch.
                            let job = work_rx
                                .lock()
                                .map_err(|_| ())
                                .and_then(|rx| rx.recv().map_err(|_| ()));
                            let Ok((batch, reply)) = job else { break };
                            let mut batch = batch;
                            let outcomes =
                                evaluate_batch(&mut matcher, checker, sampler, &mut batch);
                            // The sequencer may have stopped: then nobody wants the outcome.
                            let _ = reply.send(outcomes);
                            // A buffer grown past the usual size by one huge event is not
                            // kept: memory after such an event goes back to what it was.
                            if batch.text.capacity() <= 2 * BATCH_BYTES {
                                batch.text.clear();
                                batch.inputs.clear();
                                let _ = recycle_tx.send(batch);
                            }
                        }
                    })
                    .expect("failed to spawn a thread");
            }
            let reader = std::thread::Builder::new().name("detect-read".into());
            let reader = reader
                .spawn_scoped(scope, move || {
                    let send = |batch: Batch| -> bool {
                        let (reply, outcome) = mpsc::sync_channel(1);
                        order_tx.send(outcome).is_ok() && work_tx.send((batch, reply)).is_ok()
                    };
                    let batch = RefCell::new(Batch::default());
                    let mut input: Option<Arc<str>> = None;
                    let on_event = &mut |event: &SourceEvent<'_>| {
                        let name = match &input {
                            Some(n) if **n == *event.input => n,
                            _ => &*input.insert(Arc::from(event.input)),
                        };
                        let mut b = batch.borrow_mut();
                        // The batch names each input once (not an `Arc` count changed on two
                        // threads for every event).
                        if b.inputs.last().is_none_or(|last| !Arc::ptr_eq(last, name)) {
                            b.inputs.push(Arc::clone(name));
                        }
                        let name = b.inputs.len() - 1;
                        let start = b.text.len();
                        b.text.extend_from_slice(event.raw.text);
                        let end = b.text.len();
                        b.items.push(BatchItem::Event {
                            input: name,
                            line: event.raw.line,
                            col: event.raw.col,
                            start,
                            end,
                            unwrapped_from: event.unwrapped_from,
                        });
                        if b.items.len() >= BATCH_EVENTS || b.text.len() >= BATCH_BYTES {
                            let empty = recycle_rx.try_recv().unwrap_or_default();
                            let full = std::mem::replace(&mut *b, empty);
                            if !send(full) {
                                return ControlFlow::Break(());
                            }
                        }
                        ControlFlow::Continue(())
                    };
                    let on_error = &mut |e: &dyn fmt::Display| {
                        let error = BatchItem::Error(e.to_string());
                        batch.borrow_mut().items.push(error)
                    };
                    // With a checker, the workers judge the events too.
                    let read = if checker.is_some() {
                        source.read_unchecked(on_event, on_error)
                    } else {
                        source.read(on_event, on_error)
                    };
                    let last = batch.into_inner();
                    if !last.items.is_empty() {
                        send(last);
                    }
                    read
                })
                .expect("failed to spawn a thread");
            'batches: for outcomes in order_rx.iter() {
                // A worker that panicked dropped its reply: the panic surfaces at the join.
                let Ok(outcomes) = outcomes.recv() else { break };
                for outcome in outcomes {
                    match outcome {
                        Outcome::Event { matches, sample } => {
                            let mut sample = || sample.clone().unwrap_or_else(|| "null".into());
                            self.engine.apply(&matches, &mut sample, &mut self.alerts);
                        }
                        Outcome::Unprojected(message) => {
                            on_error(&message);
                            rejected += 1;
                        }
                        Outcome::Rejected(message) => {
                            on_error(&message);
                            rejected += 1;
                            continue;
                        }
                        Outcome::Error(message) => {
                            on_error(&message);
                            continue;
                        }
                    }
                    if let Err(e) = self.after_event(&mut summary, &mut on_alert) {
                        stopped = Some(e);
                        break 'batches;
                    }
                }
            }
            // Stops the reader, if still reading (it was stopped).
            drop(order_rx);
            reader
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        if let Some(e) = stopped {
            return Err(e);
        }
        self.finish(read, rejected, summary, &mut on_alert)
    }

    /// After each event: its alerts, through exceptions and dedup, out.
    fn after_event<E>(
        &mut self,
        summary: &mut Summary,
        on_alert: &mut impl FnMut(&DetectionAlert) -> Result<(), E>,
    ) -> Result<(), E> {
        self.take_engine_alerts();
        emit(&mut self.ready, &mut self.stats, summary, on_alert)
    }

    /// At the end of the input: what correlations and dedup still hold, and the counts.
    fn finish<E>(
        &mut self,
        read: SourceSummary,
        // Events the source yielded and this detector rejected.
        unprojected: u64,
        mut summary: Summary,
        on_alert: &mut impl FnMut(&DetectionAlert) -> Result<(), E>,
    ) -> Result<Summary, E> {
        self.engine.flush(&mut self.alerts);
        self.take_engine_alerts();
        let stats = &mut self.stats;
        emit(&mut self.ready, stats, &mut summary, on_alert)?;
        // Then the held alerts, one at a time (not all materialised at once).
        while self.dedup.close_first(&mut self.ready) {
            emit(&mut self.ready, stats, &mut summary, on_alert)?;
        }
        summary.events = read.events - unprojected;
        summary.skipped = read.rejected + unprojected;
        summary.failed_inputs = read.failed_inputs;
        summary.correlation = self.engine.stats().correlation;
        summary.dedup = self.dedup.stats();
        summary.excepted = self.stats.rules().iter().map(|r| r.excepted).sum();
        Ok(summary)
    }
}

/// Events per batch handed to a worker thread, and the most bytes a batch collects.
const BATCH_EVENTS: usize = 256;
const BATCH_BYTES: usize = 1 << 20;
/// Batches read but not yet applied, per worker thread.
const BATCHES_PER_WORKER: usize = 4;

/// Events read, copied into one buffer, for a worker.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    /// The names of the inputs the events come from.
    inputs: Vec<Arc<str>>,
    items: Vec<BatchItem>,
}

enum BatchItem {
    Event {
        /// The index of its input's name in [`Batch::inputs`].
        input: usize,
        line: u64,
        col: u64,
        start: usize,
        end: usize,
        unwrapped_from: Option<&'static str>,
    },
    /// A problem the source reported at this point of the input.
    Error(String),
}

/// What a worker found for each item of a batch.
enum Outcome {
    Event {
        matches: Matches,
        /// The alert sample, when a rule matched.
        sample: Option<String>,
    },
    /// Rejected by the engine's scanner.
    Unprojected(String),
    /// Rejected by the source's checker.
    Rejected(String),
    Error(String),
}

type Reply = mpsc::SyncSender<Vec<Outcome>>;

fn evaluate_batch(
    matcher: &mut Matcher,
    checker: Option<Checker>,
    sampler: Sampler,
    batch: &mut Batch,
) -> Vec<Outcome> {
    let Batch {
        text,
        inputs,
        items,
    } = batch;
    let text = &*text;
    let mut members = Members::default();
    items
        .drain(..)
        .map(|item| match item {
            BatchItem::Error(message) => Outcome::Error(message),
            BatchItem::Event {
                input,
                line,
                col,
                start,
                end,
                unwrapped_from,
            } => {
                let raw = RawEvent {
                    line,
                    col,
                    text: &text[start..end],
                };
                let event = SourceEvent {
                    input: &inputs[input],
                    raw,
                    unwrapped_from,
                };
                members.clear();
                if let Some(Err(message)) = checker.map(|check| check(&event, &mut members)) {
                    return Outcome::Rejected(message);
                }
                let mut matches = Matches::default();
                match matcher.evaluate_members(raw.text, &members, &mut matches) {
                    Ok(()) => Outcome::Event {
                        sample: (!matches.is_empty()).then(|| sampler(raw.text, &members)),
                        matches,
                    },
                    Err(e) => Outcome::Unprojected(unprojected_error(&event, e).to_string()),
                }
            }
        })
        .collect()
}

/// An event the reader accepted but the engine's scanner did not.
fn unprojected_error(event: &SourceEvent<'_>, e: JsonError) -> ReadError {
    let (line, col) = event.raw.position_of(e.offset);
    ReadError {
        source_name: event.input.to_string(),
        line,
        col,
        kind: ReadErrorKind::Invalid(e.message.into()),
    }
}

fn emit<E>(
    ready: &mut Vec<DetectionAlert>,
    stats: &mut Stats,
    summary: &mut Summary,
    on_alert: &mut impl FnMut(&DetectionAlert) -> Result<(), E>,
) -> Result<(), E> {
    for alert in ready.drain(..) {
        if alert.update {
            summary.updates += 1;
        } else {
            summary.alerts += 1;
        }
        summary.worst = summary.worst.max(Some(alert.severity));
        stats.emitted(&alert);
        on_alert(&alert)?;
    }
    Ok(())
}
