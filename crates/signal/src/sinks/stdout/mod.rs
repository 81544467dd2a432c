//! One line per signal, for people:
//! `TIME SEVERITY KIND RULE: SUMMARY [SUBJECT] key=KEY`. Everything taken from the input is
//! escaped ([`kubevigil_model::Escaped`]), so no control character reaches the terminal.

mod config;
#[cfg(test)]
mod tests;

pub use config::StdoutConfig;

use std::io::{self, Write};

use kubevigil_model::{Escaped, Severity};

use crate::{Signal, Sink};

pub struct StdoutSink<W: Write> {
    out: W,
    config: StdoutConfig,
}

impl<W: Write> StdoutSink<W> {
    pub fn new(out: W, config: StdoutConfig) -> Self {
        StdoutSink { out, config }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The human line of a signal, without its newline.
pub fn line(s: &Signal, color: bool) -> String {
    let severity = format!("{:<8}", s.severity.as_str());
    let severity = if color {
        let code = match s.severity {
            Severity::Critical | Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low | Severity::Info => "36",
        };
        format!("\x1b[{code}m{severity}\x1b[0m")
    } else {
        severity
    };
    format!(
        "{} {severity} {:<7} {}: {} [{}] key={}",
        Escaped(s.time.as_deref().unwrap_or("-")),
        s.kind(),
        Escaped(s.rule()),
        Escaped(s.summary()),
        Escaped(&s.subject),
        Escaped(&s.key),
    )
}

impl<W: Write> Sink for StdoutSink<W> {
    fn send(&mut self, signal: &Signal) -> io::Result<()> {
        writeln!(self.out, "{}", line(signal, self.config.color))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
