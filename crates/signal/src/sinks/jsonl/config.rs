use std::io::{self, Write};
use std::path::PathBuf;

use super::JsonLinesSink;

/// Configuration of the JSON-lines sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonLinesConfig {
    /// The file to append to; `None` (or `-`) writes to standard output.
    pub path: Option<PathBuf>,
}

impl JsonLinesConfig {
    /// Opens the destination: the file is created if missing and appended to, so a restarted
    /// monitor never truncates what it wrote before.
    pub fn build(&self) -> io::Result<JsonLinesSink<Box<dyn Write + Send>>> {
        let out: Box<dyn Write + Send> = match &self.path {
            Some(p) if p.as_os_str() != "-" => Box::new(io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            _ => Box::new(io::BufWriter::new(io::stdout())),
        };
        Ok(JsonLinesSink::new(out))
    }
}
