//! Runs the kubevigil binary of the build under test with arguments and stdin, from the
//! workspace root; its output, status and stderr collected.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn kubevigil(args: &[&str], stdin: &(impl AsRef<[u8]> + ?Sized)) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubevigil");
    // A usage error exits before reading stdin: the pipe may then be closed under the write.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_ref()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

/// The JSON lines a command printed (`-o json` alerts), parsed.
#[allow(dead_code)] // Not every test binary that includes this module reads JSON lines.
pub fn json_lines(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
