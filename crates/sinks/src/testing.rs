//! Test support (feature `test-support`): a real Alertmanager (Debian's
//! `prometheus-alertmanager`) started for a test on a free port, and a plain HTTP GET to read its
//! API. Used by this crate's tests and the monitor's.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARIES: [&str; 2] = ["/usr/bin/prometheus-alertmanager", "alertmanager"];

/// The first of `KUBEVIGIL_ALERTMANAGER` (when set: only it) or [`BINARIES`] that runs.
pub fn alertmanager_binary() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KUBEVIGIL_ALERTMANAGER") {
        Some(p) => vec![PathBuf::from(p)],
        None => BINARIES.iter().map(PathBuf::from).collect(),
    };
    candidates.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The binary; `None` (skip) when missing, a failure under CI.
pub fn binary_or_skip() -> Option<PathBuf> {
    let binary = alertmanager_binary();
    if binary.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "alertmanager is not installed (Debian package prometheus-alertmanager); CI must have it"
        );
        eprintln!(
            "skipped: alertmanager is not installed (apt-get install prometheus-alertmanager)"
        );
    }
    binary
}

/// Alertmanager, killed when dropped.
pub struct Running {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Alertmanager with its configuration and data in `dir`, listening on `port`, and
/// waits until it is ready.
pub fn start(binary: &Path, dir: &Path, port: u16) -> Running {
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let log = dir.join("alertmanager.log");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let running = Running { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = get(port, "/-/ready") {
            return running;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager not ready; its log:\n{}",
            std::fs::read_to_string(&running.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.0 GET: status and body.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
