//! Streaming audit-event reader over any [`BufRead`].
//!
//! Accepted layouts (detected from the first non-blank line):
//! * JSON lines, one event per line (what `--audit-log-path` writes; the fast path). A line
//!   holding a whole `EventList` is expanded.
//! * Anything else is split structurally into top-level JSON values: pretty-printed events one
//!   after another, a JSON array of events, or an `EventList` object whose `items` array is
//!   streamed element by element (the list's own fields are skipped).
//!
//! A UTF-8 byte order mark at the start of the input is skipped (editors and some log shippers
//! write one); anywhere else it is an error like any other stray byte.
//!
//! Memory is bounded by the largest single event (or line), never by the input size. A malformed
//! event is returned as an error located at `name:line:column` and counted in
//! [`ReadStats::skipped`]; reading continues with the next event.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead};

use crate::event::{Event, EventError};
use kubevigil_model::json_skip::Members;

/// Lines or structural values longer than this are rejected (and skipped) to keep memory bounded.
pub const MAX_EVENT_BYTES: usize = 64 << 20;

/// One event's text and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// 1-based line number of the event's first byte.
    pub line: u64,
    /// 1-based column (in bytes) of the event's first byte.
    pub col: u64,
    pub text: &'a [u8],
}

impl RawEvent<'_> {
    /// Input position (line, column) of the byte at `offset` in [`RawEvent::text`]. Items of a
    /// one-line `EventList` are re-serialised: their offsets map to the list's start.
    pub fn position_of(&self, offset: usize) -> (u64, u64) {
        locate(self.line, self.col, self.text, offset)
    }
}

/// An event's text as [`EventReader::next_unparsed`] returns it, before [`Event::parse`].
#[derive(Debug, Clone, Copy)]
pub struct Unparsed<'a> {
    pub raw: RawEvent<'a>,
    /// What the event was unwrapped from (`EventList item`, `GKE log entry`, ...), if anything:
    /// its text is then re-serialised and its position is the wrapper's.
    pub unwrapped_from: Option<&'static str>,
}

/// [`Event::parse`] of an event read by [`EventReader::next_unparsed`] from the input named
/// `source_name`, an error located and worded as [`EventReader::next_event`] reports it.
pub fn parse_event<'a>(source_name: &str, u: Unparsed<'a>) -> Result<Event<'a>, ReadError> {
    let parsed = Event::parse(u.raw.text);
    locate_error(source_name, u, parsed)
}

/// [`parse_event`], noting the event's top-level members as [`Event::parse_members`] does.
pub fn parse_event_members<'a>(
    source_name: &str,
    u: Unparsed<'a>,
    members: &mut Members,
) -> Result<Event<'a>, ReadError> {
    let parsed = Event::parse_members(u.raw.text, members);
    locate_error(source_name, u, parsed)
}

fn locate_error<'a>(
    source_name: &str,
    u: Unparsed<'a>,
    parsed: Result<Event<'a>, EventError>,
) -> Result<Event<'a>, ReadError> {
    let RawEvent { line, col, text } = u.raw;
    parsed.map_err(|e| {
        let (line, col, kind) = match u.unwrapped_from {
            // Offsets in a re-serialised item mean nothing to the reader of the log.
            Some(label) => match event_error(line, col, text, e) {
                (line, col, ReadErrorKind::Invalid(m)) => {
                    (line, col, ReadErrorKind::Invalid(format!("{label}: {m}")))
                }
                other => other,
            },
            None => event_error(line, col, text, e),
        };
        ReadError {
            source_name: source_name.to_string(),
            line,
            col,
            kind,
        }
    })
}

/// The text of the current event, wherever the reader holds it.
fn text_at<'a, R: BufRead>(
    buf: &'a [u8],
    pending: &'a VecDeque<crate::wrapped::Item>,
    src: &'a mut R,
    loc: Loc,
) -> &'a [u8] {
    match loc {
        Loc::Buf => buf,
        Loc::Pending => match &pending[0] {
            Ok(text) => &text[..],
            Err(_) => &[],
        },
        Loc::Src(a, b) => src.fill_buf().map_or(&[][..], |c| &c[a..b]),
    }
}

/// Position of `text[offset]` when `text` starts at (`line`, `col`).
fn locate(line: u64, col: u64, text: &[u8], offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    match memchr::memrchr(b'\n', before) {
        None => (line, col + before.len() as u64),
        Some(nl) => (
            line + memchr::memchr_iter(b'\n', before).count() as u64,
            (before.len() - nl) as u64,
        ),
    }
}

/// Counters over everything read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Events returned successfully.
    pub events: u64,
    /// Errors returned: malformed events or lines (skipped), or the I/O error that ended the
    /// input.
    pub skipped: u64,
    /// Bytes consumed from the input (after decompression).
    pub bytes: u64,
}

/// A problem with one event (skipped) or with the input itself.
#[derive(Debug, thiserror::Error)]
pub struct ReadError {
    /// Input name as given to [`EventReader::new`] (a path, or `-` for stdin).
    pub source_name: String,
    /// 1-based line and column (in bytes) of the problem; both 0 when the input could not be
    /// opened at all.
    pub line: u64,
    pub col: u64,
    pub kind: ReadErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    /// Not an audit event (`kind`/`apiVersion`), located at the event's start.
    #[error("{0}")]
    Event(EventError),
    /// Invalid JSON, or JSON that does not have the shape of an audit event; located at the
    /// offending byte.
    #[error("{0}")]
    Invalid(String),
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    #[error("cannot open: {0}")]
    Open(io::Error),
    #[error("{0}")]
    Structure(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.source_name, self.kind)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.source_name, self.line, self.col, self.kind
            )
        }
    }
}

impl ReadError {
    /// I/O errors end the input; all other errors only skip one event.
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, ReadErrorKind::Io(_) | ReadErrorKind::Open(_))
    }

    /// An input that cannot be opened.
    pub fn open(source_name: impl Into<String>, e: io::Error) -> ReadError {
        ReadError {
            source_name: source_name.into(),
            line: 0,
            col: 0,
            kind: ReadErrorKind::Open(e),
        }
    }
}

/// Why `text` (starting at `line`:`col`) is not an event, located at the offending byte.
fn event_error(line: u64, col: u64, text: &[u8], e: EventError) -> Failure {
    match e {
        EventError::Field { offset, message } => {
            let (line, col) = locate(line, col, text, offset);
            (
                line,
                col,
                ReadErrorKind::Invalid(format!("not an audit event: {message}")),
            )
        }
        EventError::Json(j) => {
            let offset = crate::event::offset_in(text, j.line(), j.column());
            let (line, col) = locate(line, col, text, offset);
            let msg = crate::event::serde_message(&j);
            let what = match j.classify() {
                serde_json::error::Category::Data => "not an audit event",
                _ => "invalid JSON",
            };
            (line, col, ReadErrorKind::Invalid(format!("{what}: {msg}")))
        }
        other => (line, col, ReadErrorKind::Event(other)),
    }
}

enum Mode {
    Undecided,
    Lines,
    Structural(Splitter),
}

/// Where the current event's text is.
#[derive(Clone, Copy)]
enum Loc {
    /// In the source's read buffer (the common case: no copy).
    Src(usize, usize),
    /// Copied into `buf` (lines crossing a buffer refill, structural values).
    Buf,
    /// The front of `pending` (an item of a one-line EventList).
    Pending,
}

/// A 1-based (line, column) input position.
type Pos = (u64, u64);
/// An event's start position and where its text is.
type Found = (u64, u64, Loc);
/// A problem and its position.
type Failure = (u64, u64, ReadErrorKind);

/// Streaming reader; call [`EventReader::next_event`] until it returns `None`.
pub struct EventReader<R> {
    name: String,
    src: R,
    mode: Mode,
    buf: Vec<u8>,
    /// Bytes of the source buffer holding the current event, consumed on the next call.
    to_consume: usize,
    /// Position of the next byte to be read.
    line: u64,
    col: u64,
    /// Items of a one-line EventList or of a managed cluster's wrapper (CloudWatch, Azure,
    /// GKE), re-serialised, with the wrapper's position.
    pending: VecDeque<crate::wrapped::Item>,
    pending_pos: Pos,
    /// What `pending`'s items were unwrapped from ("EventList item", "GKE log entry", ...).
    pending_label: &'static str,
    /// Whether the current event is `pending`'s front (popped on the next call).
    pending_current: bool,
    stats: ReadStats,
    done: bool,
}

impl<R: BufRead> EventReader<R> {
    /// `name` is used in error messages (`name:line:column: message`).
    pub fn new(name: impl Into<String>, src: R) -> Self {
        EventReader {
            name: name.into(),
            src,
            mode: Mode::Undecided,
            buf: Vec::with_capacity(8192),
            to_consume: 0,
            line: 1,
            col: 1,
            pending: VecDeque::new(),
            pending_pos: (0, 0),
            pending_label: "",
            pending_current: false,
            stats: ReadStats::default(),
            done: false,
        }
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event, parsed into its request attributes ([`Event::parse`]). Malformed
    /// events come back as located errors (already counted as skipped); keep calling to
    /// continue with the next one.
    pub fn next_event(&mut self) -> Option<Result<(RawEvent<'_>, Event<'_>), ReadError>> {
        let (line, col, loc) = match self.found()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let unparsed = Unparsed {
            raw: RawEvent {
                line,
                col,
                text: text_at(&self.buf, &self.pending, &mut self.src, loc),
            },
            unwrapped_from: matches!(loc, Loc::Pending).then_some(self.pending_label),
        };
        match parse_event(&self.name, unparsed) {
            Ok(ev) => {
                self.stats.events += 1;
                Some(Ok((unparsed.raw, ev)))
            }
            Err(e) => {
                self.stats.skipped += 1;
                Some(Err(e))
            }
        }
    }

    /// The next event's text, not parsed yet: [`parse_event`] judges it (on any thread) exactly
    /// as [`EventReader::next_event`] would. Errors are those of the input's structure, already
    /// counted as skipped; [`ReadStats::events`] counts no event returned here.
    pub fn next_unparsed(&mut self) -> Option<Result<Unparsed<'_>, ReadError>> {
        let (line, col, loc) = match self.found()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Unparsed {
            raw: RawEvent {
                line,
                col,
                text: text_at(&self.buf, &self.pending, &mut self.src, loc),
            },
            unwrapped_from: matches!(loc, Loc::Pending).then_some(self.pending_label),
        }))
    }

    /// Moves to the next event and finds its text; an item that could not be unwrapped is an
    /// error here (counted as skipped).
    fn found(&mut self) -> Option<Result<Found, ReadError>> {
        let (line, col, loc) = match self.current()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        if let Loc::Pending = loc
            && let Err(why) = &self.pending[0]
        {
            self.stats.skipped += 1;
            return Some(Err(ReadError {
                source_name: self.name.clone(),
                line,
                col,
                kind: ReadErrorKind::Invalid(format!(
                    "{}: {}",
                    self.pending_label,
                    kubevigil_model::Escaped(why)
                )),
            }));
        }
        Some(Ok((line, col, loc)))
    }

    /// Moves to the next event; every error returned is counted in `stats.skipped`.
    fn current(&mut self) -> Option<Result<Found, ReadError>> {
        let advanced = match self.advance()? {
            // `advance` left the event in the read buffer and consumed nothing since, so
            // `fill_buf` returns the same bytes without reading; checked all the same.
            Ok((line, col, Loc::Src(a, b))) => match self.src.fill_buf() {
                Ok(c) if c.len() >= b => Ok((line, col, Loc::Src(a, b))),
                Ok(_) => Err((line, col, io::Error::other("read buffer changed").into())),
                Err(e) => Err((line, col, e.into())),
            },
            other => other,
        };
        match advanced {
            Ok(x) => Some(Ok(x)),
            Err((line, col, kind)) => {
                if matches!(kind, ReadErrorKind::Io(_)) {
                    self.done = true;
                }
                self.stats.skipped += 1;
                Some(Err(ReadError {
                    source_name: self.name.clone(),
                    line,
                    col,
                    kind,
                }))
            }
        }
    }

    /// Moves to the next event: its start position and where its text is.
    fn advance(&mut self) -> Option<Result<Found, Failure>> {
        if self.to_consume > 0 {
            self.src.consume(self.to_consume);
            self.to_consume = 0;
        }
        if self.pending_current {
            self.pending.pop_front();
            self.pending_current = false;
        }
        loop {
            if !self.pending.is_empty() {
                self.pending_current = true;
                let (line, col) = self.pending_pos;
                return Some(Ok((line, col, Loc::Pending)));
            }
            if self.done {
                return None;
            }
            let result = match self.mode {
                Mode::Undecided => {
                    if let Err(e) = self.decide() {
                        return Some(Err((self.line, self.col, e.into())));
                    }
                    continue;
                }
                Mode::Lines => self.read_line(),
                Mode::Structural(_) => self
                    .read_structural()
                    .map(|found| found.map(|(line, col)| (line, col, Loc::Buf))),
            };
            let (line, col, loc) = match result {
                Ok(Some(x)) => x,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => return Some(Err(e)),
            };
            // A whole EventList on one line (rare): expand it into `pending`.
            let text = match loc {
                Loc::Buf => &self.buf[..],
                Loc::Src(a, b) => match self.src.fill_buf() {
                    Ok(chunk) => &chunk[a..b],
                    Err(e) => return Some(Err((line, col, e.into()))),
                },
                Loc::Pending => unreachable!("pending handled above"),
            };
            if !may_be_wrapped(text) {
                return Some(Ok((line, col, loc)));
            }
            match crate::wrapped::unwrap(text) {
                Ok(Some((items, label))) => {
                    self.pending_pos = (line, col);
                    self.pending_label = label;
                    self.pending.extend(items);
                    if self.to_consume > 0 {
                        self.src.consume(self.to_consume);
                        self.to_consume = 0;
                    }
                }
                Ok(None) => return Some(Ok((line, col, loc))),
                Err(e) => return Some(Err(event_error(line, col, text, e))),
            }
        }
    }

    /// Skips a leading byte order mark and blank space, then looks at the first line:
    /// `{...}` on one line means JSON lines.
    fn decide(&mut self) -> io::Result<()> {
        let chunk = self.src.fill_buf()?;
        if chunk.starts_with(b"\xEF\xBB\xBF") {
            self.src.consume(3);
            self.stats.bytes += 3;
        }
        loop {
            let chunk = self.src.fill_buf()?;
            if chunk.is_empty() {
                self.done = true;
                return Ok(());
            }
            let skip = chunk.iter().take_while(|b| b.is_ascii_whitespace()).count();
            for &b in &chunk[..skip] {
                if b == b'\n' {
                    self.line += 1;
                    self.col = 1;
                } else {
                    self.col += 1;
                }
            }
            self.stats.bytes += skip as u64;
            let at_content = skip < chunk.len();
            self.src.consume(skip);
            if at_content {
                break;
            }
        }
        // Peek at the first line without consuming it. A first line longer than the read
        // buffer selects the structural splitter, which reads JSON lines correctly too (it only
        // recovers less well from a corrupt line).
        let chunk = self.src.fill_buf()?;
        let first_line = match memchr::memchr(b'\n', chunk) {
            Some(i) => &chunk[..i],
            None => chunk,
        };
        let trimmed = trim_ascii(first_line);
        self.mode = if trimmed.first() == Some(&b'{') && trimmed.last() == Some(&b'}') {
            Mode::Lines
        } else {
            Mode::Structural(Splitter::default())
        };
        Ok(())
    }

    /// Finds the next non-blank line: in the source buffer when it is whole there, else
    /// copied into `buf`. Lines are consumed whole, so every line but the first starts at
    /// column 1 (`self.col` carries the blank space `decide` consumed on the first line).
    fn read_line(&mut self) -> Result<Option<Found>, Failure> {
        loop {
            let start_line = self.line;
            let start_col = std::mem::replace(&mut self.col, 1);
            // Fast path: the whole line is in the read buffer.
            let chunk = loop {
                match self.src.fill_buf() {
                    Ok(c) => break c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err((start_line, start_col, e.into())),
                }
            };
            if chunk.is_empty() {
                return Ok(None);
            }
            if let Some(nl) = memchr::memchr(b'\n', chunk) {
                self.line += 1;
                self.stats.bytes += nl as u64 + 1;
                let t = trim_ascii(&chunk[..nl]);
                if t.is_empty() {
                    self.src.consume(nl + 1);
                    continue;
                }
                let a = t.as_ptr() as usize - chunk.as_ptr() as usize;
                self.to_consume = nl + 1;
                return Ok(Some((
                    start_line,
                    start_col + a as u64,
                    Loc::Src(a, a + t.len()),
                )));
            }
            // The line continues past the buffer: collect it.
            self.buf.clear();
            let mut too_long = false;
            let mut line_bytes = 0u64;
            loop {
                let chunk = match self.src.fill_buf() {
                    Ok(c) => c,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err((start_line, start_col + line_bytes, e.into())),
                };
                if chunk.is_empty() {
                    break;
                }
                let (take, end) = match memchr::memchr(b'\n', chunk) {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                if self.buf.len() + take <= MAX_EVENT_BYTES {
                    self.buf.extend_from_slice(&chunk[..take]);
                } else {
                    too_long = true;
                }
                self.src.consume(take);
                self.stats.bytes += take as u64;
                line_bytes += take as u64;
                if end {
                    break;
                }
            }
            self.line += 1;
            if too_long {
                return Err((
                    start_line,
                    start_col,
                    ReadErrorKind::Structure(format!("line longer than {MAX_EVENT_BYTES} bytes")),
                ));
            }
            let t = trim_ascii(&self.buf);
            if t.is_empty() {
                continue;
            }
            let (s, e) = (t.as_ptr() as usize - self.buf.as_ptr() as usize, t.len());
            self.buf.truncate(s + e);
            if s > 0 {
                self.buf.drain(..s);
            }
            return Ok(Some((start_line, start_col + s as u64, Loc::Buf)));
        }
    }

    fn read_structural(&mut self) -> Result<Option<Pos>, Failure> {
        let Mode::Structural(sp) = &mut self.mode else {
            unreachable!()
        };
        self.buf.clear();
        loop {
            let chunk = match self.src.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((self.line, self.col, e.into())),
            };
            if chunk.is_empty() {
                return match sp.finish() {
                    Some((line, col)) => Err((
                        line,
                        col,
                        ReadErrorKind::Structure(
                            "unexpected end of input inside a JSON value".into(),
                        ),
                    )),
                    None => Ok(None),
                };
            }
            let mut pos = (self.line, self.col);
            let (used, outcome) = sp.feed(chunk, &mut self.buf, &mut pos);
            (self.line, self.col) = pos;
            self.src.consume(used);
            self.stats.bytes += used as u64;
            match outcome {
                Feed::More => {}
                Feed::Value(start) => return Ok(Some(start)),
                Feed::Error((line, col), msg) => {
                    return Err((line, col, ReadErrorKind::Structure(msg)));
                }
            }
        }
    }
}

/// Whether a value may be a wrapper of events ([`crate::wrapped`]): values that start like
/// an Event cannot; the others must name a wrapper's key.
fn may_be_wrapped(text: &[u8]) -> bool {
    !text.starts_with(br#"{"kind":"Event","#)
        && wrapper_finders().iter().any(|f| f.find(text).is_some())
}

fn wrapper_finders() -> &'static [memchr::memmem::Finder<'static>] {
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    FINDERS.get_or_init(|| {
        [
            &b"\"EventList\""[..],
            b"\"message\"",
            b"\"protoPayload\"",
            b"\"properties\"",
            b"\"records\"",
            b"\"logEvents\"",
            b"\"events\"",
        ]
        .iter()
        .map(|m| memchr::memmem::Finder::new(*m))
        .collect()
    })
}

/// A byte for an error message: printable ASCII quoted, anything else in hex (never raw
/// control characters).
fn describe(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte {b:#04x}")
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

enum Feed {
    More,
    Value(Pos),
    Error(Pos, String),
}

/// Byte-level splitter of top-level JSON values (see the module docs).
#[derive(Default)]
struct Splitter {
    depth: u32,
    in_str: bool,
    esc: bool,
    /// Depth at which the value being captured started, with its start position.
    capture: Option<(u32, Pos)>,
    /// Depth at which elements start: 1 inside a top-level array, 2 inside an `items` array.
    element_depth: Option<u32>,
    /// Top-level object: the last key seen at depth 1 and whether `:` followed it.
    key: Vec<u8>,
    collecting_key: bool,
    after_items_colon: bool,
    too_long: bool,
}

impl Splitter {
    /// Returns the start of an unfinished value at end of input.
    fn finish(&mut self) -> Option<Pos> {
        let open = self.capture.map(|(_, l)| l);
        *self = Splitter::default();
        open
    }

    /// Consumes bytes of `chunk` until a value ends (or an error); `pos` is the position of
    /// `chunk[0]` and is advanced past the bytes used.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>, pos: &mut Pos) -> (usize, Feed) {
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            i += 1;
            // Position of `b` itself; `pos` moves to the next byte.
            let here = *pos;
            if b == b'\n' {
                *pos = (pos.0 + 1, 1);
            } else {
                pos.1 += 1;
            }
            if self.capture.is_some() {
                if out.len() < MAX_EVENT_BYTES {
                    out.push(b);
                } else {
                    self.too_long = true;
                }
            }
            if self.in_str {
                if self.esc {
                    self.esc = false;
                } else if b == b'\\' {
                    self.esc = true;
                } else if b == b'"' {
                    self.in_str = false;
                    self.collecting_key = false;
                } else if self.collecting_key && self.key.len() < 16 {
                    self.key.push(b);
                }
                continue;
            }
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => continue,
                _ => {}
            }
            // Start of an element of a top-level array or of an EventList's items.
            if self.capture.is_none()
                && self.element_depth == Some(self.depth)
                && b != b','
                && b != b']'
            {
                self.capture = Some((self.depth, here));
                out.clear();
                out.push(b);
            }
            match b {
                b'"' => {
                    self.in_str = true;
                    if self.depth == 1 && self.element_depth.is_none() {
                        self.key.clear();
                        self.collecting_key = true;
                        self.after_items_colon = false;
                    }
                }
                b'{' | b'[' => {
                    if self.depth == 0 {
                        if b == b'[' {
                            self.element_depth = Some(1);
                        } else {
                            self.capture = Some((0, here));
                            out.clear();
                            out.push(b);
                        }
                    } else if self.depth == 1
                        && b == b'['
                        && self.after_items_colon
                        && self.element_depth.is_none()
                    {
                        // An EventList: drop the list envelope, stream its items.
                        self.capture = None;
                        out.clear();
                        self.element_depth = Some(2);
                    }
                    self.after_items_colon = false;
                    self.depth += 1;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return (i, Feed::Error(here, format!("unexpected '{}'", b as char)));
                    }
                    self.depth -= 1;
                    if self.element_depth == Some(self.depth + 1)
                        && b == b']'
                        && self.capture.is_none()
                    {
                        // End of the array holding elements.
                        self.element_depth = None;
                    }
                    if let Some(outcome) = self.end_of_value_at(self.depth, out) {
                        return (i, outcome);
                    }
                }
                b':' => {
                    self.after_items_colon = self.depth == 1 && self.key == b"items";
                }
                b',' => {
                    // A scalar element ends at the comma following it.
                    if let Some((d, _)) = self.capture
                        && d == self.depth
                    {
                        out.pop();
                        if let Some(outcome) = self.emit(out) {
                            return (i, outcome);
                        }
                    }
                }
                _ => {
                    if self.depth == 0 {
                        // Garbage between top-level values: report and skip the line.
                        while i < chunk.len() && chunk[i] != b'\n' {
                            i += 1;
                            pos.1 += 1;
                        }
                        return (
                            i,
                            Feed::Error(
                                here,
                                format!("unexpected {} outside any JSON value", describe(b)),
                            ),
                        );
                    }
                }
            }
        }
        (i, Feed::More)
    }

    /// Called after a closing bracket brought us back to `depth`.
    fn end_of_value_at(&mut self, depth: u32, out: &mut Vec<u8>) -> Option<Feed> {
        match self.capture {
            Some((d, _)) if d == depth => self.emit(out),
            // A closing bracket that ends the array holding scalar elements.
            Some((d, _)) if d == depth + 1 => {
                out.pop();
                let r = self.emit(out);
                self.element_depth = None;
                r
            }
            _ => None,
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>) -> Option<Feed> {
        let (_, start) = self.capture.take()?;
        if std::mem::take(&mut self.too_long) {
            out.clear();
            return Some(Feed::Error(
                start,
                format!("value longer than {MAX_EVENT_BYTES} bytes"),
            ));
        }
        Some(Feed::Value(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str) -> (Vec<(u64, String)>, Vec<String>, ReadStats) {
        collect_with(input, 7)
    }

    fn collect_with(input: &str, capacity: usize) -> (Vec<(u64, String)>, Vec<String>, ReadStats) {
        let mut r = EventReader::new(
            "t",
            io::BufReader::with_capacity(capacity, input.as_bytes()),
        );
        let (mut ok, mut errs) = (Vec::new(), Vec::new());
        while let Some(item) = r.next_event() {
            match item {
                Ok((raw, ev)) => ok.push((raw.line, ev.audit_id().to_string())),
                Err(e) => errs.push(e.to_string()),
            }
        }
        (ok, errs, r.stats())
    }

    #[test]
    fn json_lines_with_corrupt_line() {
        let input = "{\"auditID\":\"a\"}\n\n{\"auditID\":\"b\"\n{\"auditID\":\"c\"}\n";
        // The layout is decided on the first line as seen in the read buffer; lines are
        // read in place or copied when they cross a refill, depending on the buffer size.
        for capacity in [20, 23, 33, 64, 4096] {
            let (ok, errs, stats) = collect_with(input, capacity);
            assert_eq!(
                ok,
                vec![(1, "a".into()), (4, "c".into())],
                "capacity {capacity}"
            );
            assert_eq!(errs.len(), 1);
            assert!(errs[0].starts_with("t:3:14: invalid JSON"), "{}", errs[0]);
            assert_eq!(stats.skipped, 1);
            assert_eq!(stats.events, 2);
            assert_eq!(stats.bytes, input.len() as u64);
        }
    }

    #[test]
    fn errors_at_a_newline_are_located_on_its_line() {
        // serde_json reports a raw newline inside a string as column 0 of the next line.
        let (ok, errs, _) = collect("[{\"auditID\": \"a\nb\"}]");
        assert!(ok.is_empty());
        assert_eq!(
            errs,
            [
                "t:1:16: invalid JSON: control character (\\u0000-\\u001F) found while parsing a string"
            ]
        );
    }

    #[test]
    fn json_array_pretty() {
        let input = "[\n  {\"auditID\": \"a\", \"x\": [1, {\"y\": \"]}\"}]},\n  {\n    \"auditID\": \"b\"\n  }\n]\n";
        let (ok, errs, _) = collect(input);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(ok, vec![(2, "a".into()), (3, "b".into())]);
    }

    #[test]
    fn event_list_pretty_and_one_line() {
        let input = "{\n \"kind\": \"EventList\",\n \"apiVersion\": \"audit.k8s.io/v1\",\n \"metadata\": {},\n \"items\": [\n  {\"auditID\": \"a\"},\n  {\"auditID\": \"b\"}\n ]\n}\n";
        let (ok, errs, _) = collect(input);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(ok, vec![(6, "a".into()), (7, "b".into())]);
        let one = r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a"},{"auditID":"b"}]}"#;
        let (ok, errs, _) = collect(one);
        assert!(errs.is_empty());
        assert_eq!(ok, vec![(1, "a".into()), (1, "b".into())]);
    }

    #[test]
    fn concatenated_pretty_events() {
        let input = "{\n \"auditID\": \"a\"\n}\n{\n \"auditID\": \"b\"\n}\n";
        let (ok, errs, _) = collect(input);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(ok, vec![(1, "a".into()), (4, "b".into())]);
    }

    #[test]
    fn array_with_non_event_elements() {
        let (ok, errs, stats) =
            collect("[\n{\"auditID\":\"a\"},\n 5,\n {\"kind\":\"Pod\"},\n {\"auditID\":\"d\"}]");
        assert_eq!(ok, vec![(2, "a".into()), (5, "d".into())]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("t:3:2: not an audit event: expected a JSON object"),
            "{}",
            errs[0]
        );
        assert!(
            errs[1].starts_with("t:4:2: not an audit event: kind \"Pod\""),
            "{}",
            errs[1]
        );
        assert_eq!(stats.skipped, 2);
    }

    #[test]
    fn truncated_structural_input() {
        let (ok, errs, _) = collect("[\n{\"auditID\":\"a\"},\n{\"auditID\":");
        assert_eq!(ok.len(), 1);
        assert_eq!(
            errs,
            vec!["t:3:1: unexpected end of input inside a JSON value".to_string()]
        );
    }

    #[test]
    fn empty_input() {
        let (ok, errs, _) = collect("  \n\n");
        assert!(ok.is_empty() && errs.is_empty());
    }
}
