//! One [`Signal`] per line as JSON (`{"time","severity","subject","key","body":{"kind",
//! "data"}}`), with the project's escapes (`kubevigil_model::text::json`): no raw control
//! character or terminal escape, whatever the input held. `serde_json::from_str::<Signal>`
//! reads each line back.

mod config;
#[cfg(test)]
mod tests;

pub use config::JsonLinesConfig;

use std::io::{self, Write};

use crate::{Signal, Sink};

pub struct JsonLinesSink<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesSink<W> {
    pub fn new(out: W) -> Self {
        JsonLinesSink { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for JsonLinesSink<W> {
    fn send(&mut self, signal: &Signal) -> io::Result<()> {
        let value = serde_json::to_value(signal)?;
        kubevigil_model::text::json::to_writer(&mut self.out, &value, false)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
