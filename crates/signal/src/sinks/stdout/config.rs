use std::io;

use super::StdoutSink;

/// Configuration of the stdout sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdoutConfig {
    /// Colour the severity (decided by the caller: a terminal, `--color`, `NO_COLOR`).
    pub color: bool,
}

impl StdoutConfig {
    /// A sink writing to this process's standard output.
    pub fn build(self) -> StdoutSink<io::Stdout> {
        StdoutSink::new(io::stdout(), self)
    }
}
