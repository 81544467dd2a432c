//! Kubernetes audit logs as an [`EventSource`], read by the one audit reader
//! (`kubevigil_audit::input::read_all`: files, gzip, stdin; JSON lines, arrays, `EventList`s)
//! that every audit command uses, so what an event is, and every error message, is the same.

use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;

use kubevigil_audit::reader::{Unparsed, parse_event_members};

use crate::source::{Checker, EventSource, SourceEvent, SourceSummary};

/// Audit log files (`-` is stdin), read in order.
#[derive(Debug, Clone)]
pub struct AuditLogSource {
    pub paths: Vec<PathBuf>,
}

impl AuditLogSource {
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        AuditLogSource {
            paths: paths.into_iter().map(Into::into).collect(),
        }
    }
}

impl EventSource for AuditLogSource {
    fn kind(&self) -> &'static str {
        "audit"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        let mut yielded = 0;
        let read = kubevigil_audit::input::read_all(
            &self.paths,
            |input, raw, _event| {
                yielded += 1;
                let event = SourceEvent {
                    input,
                    raw,
                    unwrapped_from: None,
                };
                on_event(&event).continue_value().ok_or(())
            },
            |e| on_error(e),
        );
        summarise(read, yielded)
    }

    /// `kubevigil_audit::reader::parse_event`: what [`AuditLogSource::read`] decides with
    /// `Event::parse`, with the same located errors.
    fn checker(&self) -> Option<Checker> {
        Some(|event, members| {
            let unparsed = Unparsed {
                raw: event.raw,
                unwrapped_from: event.unwrapped_from,
            };
            parse_event_members(event.input, unparsed, members)
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }

    fn read_unchecked(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        let mut yielded = 0;
        let read = kubevigil_audit::input::read_all_unparsed(
            &self.paths,
            |input, unparsed| {
                yielded += 1;
                let event = SourceEvent {
                    input,
                    raw: unparsed.raw,
                    unwrapped_from: unparsed.unwrapped_from,
                };
                on_event(&event).continue_value().ok_or(())
            },
            |e| on_error(e),
        );
        summarise(read, yielded)
    }

    /// The alert sample of [`crate::audit::sample`]: the request attributes an alert
    /// shows (auditID, user, sourceIPs, verb, objectRef, responseStatus, requestURI), never a
    /// request or response body, so no Secret data or token.
    fn sampler(&self) -> crate::source::Sampler {
        crate::audit::sample_noted
    }
}

/// The source's summary of a read; when `on_event` stopped it, what was yielded so far.
fn summarise(read: Result<kubevigil_audit::input::Summary, ()>, yielded: u64) -> SourceSummary {
    match read {
        Ok(s) => SourceSummary {
            events: s.events,
            rejected: s.rejected,
            failed_inputs: s.failed_inputs,
        },
        Err(()) => SourceSummary {
            events: yielded,
            ..SourceSummary::default()
        },
    }
}
