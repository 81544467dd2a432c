//! Where signals go. Each sink lives in its own folder with its configuration (`config.rs`),
//! its implementation (`mod.rs`) and its tests (`tests.rs`), as vector's sinks do; Alertmanager,
//! Slack and webhook sinks will follow the same shape.

#[cfg(test)]
mod fixtures;
pub mod jsonl;
pub mod stdout;

use std::io;

use crate::Signal;

/// A destination for signals, in the order they are sent.
pub trait Sink {
    fn send(&mut self, signal: &Signal) -> io::Result<()>;
    /// Writes out what is buffered.
    fn flush(&mut self) -> io::Result<()>;
}
