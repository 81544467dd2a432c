//! kubevigil-audit: Kubernetes audit events and audit policies.
//!
//! * [`event`]: typed zero-copy view of one audit event (request attributes; bodies kept raw).
//! * [`reader`]: streaming reader over any `BufRead` (JSON lines, arrays, EventList, pretty JSON).
//! * [`input`]: opens files, gzip files (by magic bytes) and stdin for the reader.
//!
//! See README.md for formats, semantics and upstream references.

pub mod event;
mod fastparse;
pub use fastparse::top_level_members;
pub mod input;
pub mod reader;
pub mod wrapped;

pub use event::{Event, EventError, Level, Stage, StageSet};
pub use reader::{EventReader, RawEvent, ReadError, ReadStats};
pub mod checker;
pub mod lint;
pub mod policy;
pub mod recommend;
pub mod redact;
pub mod simulate;
