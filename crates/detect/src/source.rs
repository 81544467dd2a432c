//! Event sources: where events come from. Each source reads its own inputs and says what a
//! signal may keep of an event (a redacted sample); the detection engine and the sinks never
//! see more.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

use kubevigil_audit::reader::RawEvent;
use kubevigil_model::json_skip::Members;

/// One event as a source yields it: its JSON text and where it was read.
#[derive(Debug, Clone, Copy)]
pub struct SourceEvent<'a> {
    /// The input's name (a file name, `-` for stdin).
    pub input: &'a str,
    /// The event's JSON text, validated by the source (unless read by
    /// [`EventSource::read_unchecked`]), with the position of its first byte (and
    /// [`RawEvent::position_of`] for any byte in it).
    pub raw: RawEvent<'a>,
    /// What the event was unwrapped from (an audit `EventList`, a managed cluster's export), if
    /// anything: its text is then re-serialised and its position is the wrapper's.
    pub unwrapped_from: Option<&'static str>,
}

/// A source's own validation of an event read by [`EventSource::read_unchecked`]: the located
/// error `read` would have reported, or `Ok`. A checker that scans the event's JSON notes its
/// top-level members in the [`Members`] (complete when it could), so that the rules' projection
/// does not scan the text again.
pub type Checker = fn(&SourceEvent<'_>, &mut Members) -> Result<(), String>;

/// The longest log line or Event message an alert keeps, in bytes.
pub const MAX_SAMPLE_MESSAGE: usize = 1024;

/// Cuts `s` to `max` bytes (at a character boundary), marking the cut with `…`: what samples
/// keep of texts their input chose.
pub(crate) fn cap_text(s: &mut String, max: usize) {
    if s.len() > max {
        s.truncate(s.floor_char_boundary(max));
        s.push('…');
    }
}

/// Opens one input of a source: a file, or stdin for `-`.
fn open_input(path: &std::path::Path) -> std::io::Result<Box<dyn std::io::Read>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(std::io::stdin().lock()))
    } else {
        Ok(Box::new(std::fs::File::open(path)?))
    }
}

/// Reads each of `paths` in order (`-` is stdin) with `read(path, name, input, summary,
/// on_error)`: an input that cannot be opened, or whose reading ends with an I/O error, is
/// reported (`name: ...`) and counted in `failed_inputs`, and the next one is read. `read`
/// stops the whole source with [`ControlFlow::Break`].
pub fn read_inputs(
    paths: &[std::path::PathBuf],
    on_error: &mut dyn FnMut(&dyn fmt::Display),
    mut read: impl FnMut(
        &std::path::Path,
        &str,
        Box<dyn std::io::Read>,
        &mut SourceSummary,
        &mut dyn FnMut(&dyn fmt::Display),
    ) -> std::io::Result<ControlFlow<()>>,
) -> SourceSummary {
    let mut summary = SourceSummary::default();
    for path in paths {
        let name = path.to_string_lossy().into_owned();
        let outcome = match open_input(path) {
            Ok(input) => read(path, &name, input, &mut summary, on_error)
                .map_err(|e| format!("read error: {e}")),
            Err(e) => Err(format!("cannot open: {e}")),
        };
        match outcome {
            Ok(ControlFlow::Break(())) => break,
            Ok(ControlFlow::Continue(())) => {}
            Err(message) => {
                on_error(&InputError {
                    input: &name,
                    at: None,
                    message,
                });
                summary.failed_inputs += 1;
            }
        }
    }
    summary
}

/// A reader of lines over `input`, gzip-compressed or not (told by its first bytes).
pub(crate) fn line_reader(input: Box<dyn Read>) -> std::io::Result<Box<dyn BufRead>> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// Reads a line into `buf` (with its newline), at most `max` bytes of it; the rest of a
/// longer line is consumed and dropped (`true`). Returns the bytes consumed.
pub(crate) fn read_capped_line(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((consumed, cut));
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        if take > room {
            cut = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, cut));
        }
    }
}

/// Reads `paths` line by line (gzip too), each non-blank line made an event's JSON text by
/// `make`, or refused with the 0-based column of the problem in the line and a message (reported
/// `input:line:column`, counted, the next line read); a line over `max_line` bytes is reported
/// and skipped. The sources of one JSON value per line (Falco alerts, Hubble flows) share it.
pub(crate) fn read_json_lines(
    paths: &[std::path::PathBuf],
    max_line: usize,
    on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
    on_error: &mut dyn FnMut(&dyn fmt::Display),
    mut make: impl FnMut(&[u8]) -> Result<String, (u64, String)>,
) -> SourceSummary {
    read_inputs(paths, on_error, |_, name, input, summary, on_error| {
        let mut reader = line_reader(input)?;
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let (read, cut) = read_capped_line(&mut *reader, &mut buf, max_line)?;
            if read == 0 {
                return Ok(ControlFlow::Continue(()));
            }
            line_no += 1;
            let line = buf.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let indent = (buf.len() - buf.trim_ascii_start().len()) as u64;
            let made = if cut {
                Err((
                    max_line as u64 - indent,
                    format!("line longer than {} MiB: not read", max_line >> 20),
                ))
            } else {
                make(line)
            };
            let text = match made {
                Ok(text) => text,
                Err((col, message)) => {
                    on_error(&InputError {
                        input: name,
                        at: Some((line_no, indent + col + 1)),
                        message,
                    });
                    summary.rejected += 1;
                    continue;
                }
            };
            summary.events += 1;
            let flow = on_event(&SourceEvent {
                input: name,
                raw: RawEvent {
                    line: line_no,
                    col: indent + 1,
                    text: text.as_bytes(),
                },
                unwrapped_from: None,
            });
            if flow.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    })
}

/// A problem with an input, located when it concerns a part of it: `input:line:column:
/// message`, else `input: message`.
#[derive(Debug)]
pub struct InputError<'a> {
    pub input: &'a str,
    pub at: Option<(u64, u64)>,
    pub message: String,
}

impl fmt::Display for InputError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.input, self.message),
            None => write!(f, "{}: {}", self.input, self.message),
        }
    }
}

/// What a signal keeps of an event of a source (its compact JSON text): identifying
/// attributes, never a body, a token or a secret value. A plain function, run on any thread.
/// It is given the event's top-level members when the source's [`Checker`] noted them
/// (`complete`), so that it need not split the event again.
pub type Sampler = fn(&[u8], &Members) -> String;

/// What reading a source gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceSummary {
    /// Events yielded.
    pub events: u64,
    /// Malformed events, reported and skipped.
    pub rejected: u64,
    /// Inputs that could not be read, or whose reading ended with an error.
    pub failed_inputs: u64,
}

impl SourceSummary {
    pub fn has_errors(&self) -> bool {
        self.rejected > 0 || self.failed_inputs > 0
    }
}

/// A stream of events: Kubernetes audit logs, pod logs, Kubernetes Events and Falco alerts;
/// Hubble flows later.
pub trait EventSource {
    /// The kind of events, for logs and metrics: `audit`.
    fn kind(&self) -> &'static str;

    /// Yields every event, in order, to `on_event` (which may stop the source with
    /// [`ControlFlow::Break`]); every problem goes to `on_error`, located
    /// (`input:line:column: ...`) and quoting the input (escape it before a terminal), and
    /// reading goes on with the next event or input.
    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary;

    /// The validation [`EventSource::read_unchecked`] leaves to the caller, when the source has
    /// that mode: a plain function, run on any thread.
    fn checker(&self) -> Option<Checker> {
        None
    }

    /// Like [`EventSource::read`], except that when [`EventSource::checker`] gives a checker,
    /// events are yielded before it judged them (the summary counts them all), so that the
    /// caller can run it on other threads.
    fn read_unchecked(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        self.read(on_event, on_error)
    }

    /// What a signal may keep of an event, as compact JSON text (the form alerts hold):
    /// identifying attributes, never a body, a token or a secret value.
    fn sampler(&self) -> Sampler;

    /// [`EventSource::sampler`]'s sample of an event, parsed.
    fn sample(&self, event: &[u8]) -> serde_json::Value {
        serde_json::from_str(&(self.sampler())(event, &Members::default()))
            .unwrap_or(serde_json::Value::Null)
    }
}
