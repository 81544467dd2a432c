//! `--audit-log PATH`: an audit log file followed as kube-apiserver writes it (`--audit-log-path`,
//! JSON lines), across rotation, into the spool.
//!
//! kube-apiserver rotates by renaming the file (`--audit-log-maxsize`, lumberjack) and opening a
//! new one under the same name; `logrotate` with `copytruncate` truncates it in place. The
//! follower reads the file it has open to its end, then notices a different file under the path
//! (another inode) and goes on with it from its start, or a file shorter than where it was (a
//! truncation) and starts over. Complete lines only: a line still being written waits.
//!
//! Each line is judged as every audit command judges an event (`kubevigil_audit::Event::parse`);
//! a bad one is reported with `file:line` and counted, the others are appended to the spool, and
//! then the position (inode, offset, line) is saved in the state directory, so a restart goes on
//! where the last append ended: every event reaches the spool at least once.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::spool::{Spool, SpoolError};

/// A line longer than this is not an audit event anyone can use: skipped, reported.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Where following stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Position {
    inode: u64,
    offset: u64,
    /// Lines before `offset` (for `file:line` in messages).
    line: u64,
}

/// What a follower counts.
#[derive(Debug, Default)]
pub struct FollowStats {
    pub events: AtomicU64,
    pub rejected: AtomicU64,
    pub rotations: AtomicU64,
}

pub struct Follower {
    path: PathBuf,
    state: PathBuf,
    spool: Spool,
    pub stats: Arc<FollowStats>,
    poll: Duration,
}

impl Follower {
    /// Follows `path`, keeping its position under `state_dir/follow`.
    pub fn new(path: &Path, state_dir: &Path, spool: &Spool) -> io::Result<Follower> {
        let dir = state_dir.join("follow");
        fs::create_dir_all(&dir)?;
        let absolute = std::path::absolute(path)?;
        let key = Sha256::digest(absolute.as_os_str().as_encoded_bytes());
        let hex = kubevigil_model::text::hex(&key[..12]);
        Ok(Follower {
            path: path.to_path_buf(),
            state: dir.join(format!("{hex}.pos")),
            spool: spool.clone(),
            stats: Arc::new(FollowStats::default()),
            poll: Duration::from_millis(200),
        })
    }

    fn load(&self) -> Position {
        let text = fs::read_to_string(&self.state).unwrap_or_default();
        let mut n = text.split_whitespace().map(|v| v.parse::<u64>().ok());
        match (n.next().flatten(), n.next().flatten(), n.next().flatten()) {
            (Some(inode), Some(offset), Some(line)) => Position {
                inode,
                offset,
                line,
            },
            _ => Position::default(),
        }
    }

    fn save(&self, p: Position) -> io::Result<()> {
        let tmp = self.state.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {} {}", p.inode, p.offset, p.line)?;
        f.sync_all()?;
        fs::rename(&tmp, &self.state)
    }

    /// Follows until `stop` is set (after reading what is there), reporting problems to
    /// `on_error`. A full spool is waited out: the file keeps the events meanwhile.
    pub fn run(&self, stop: &AtomicBool, on_error: &mut dyn FnMut(&str)) {
        let mut pos = self.load();
        let mut open: Option<File> = None;
        let mut pending = Vec::new();
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            if open.is_none() {
                match File::open(&self.path) {
                    Ok(f) => {
                        let inode = f.metadata().map(|m| m.ino()).unwrap_or(0);
                        if inode != pos.inode {
                            // Another file than the one the saved position is about: rotated
                            // while we were not running. The rest of the old one first, if it
                            // is still beside it under its rotated name.
                            if pos.inode != 0 {
                                self.finish_rotated(&mut pos, on_error);
                                self.stats.rotations.fetch_add(1, Ordering::Relaxed);
                            }
                            pos = Position {
                                inode,
                                ..Position::default()
                            };
                        }
                        open = Some(f);
                        pending.clear();
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => on_error(&format!("{}: {e}", self.path.display())),
                }
            }
            let mut progressed = false;
            if let Some(f) = open.as_mut() {
                match self.read_more(f, &mut pos, &mut pending, on_error) {
                    Ok(n) => progressed = n > 0,
                    Err(FollowError::SpoolFull) => {}
                    Err(FollowError::Io(e)) => {
                        on_error(&format!("{}: {e}", self.path.display()));
                        open = None;
                    }
                }
                if !progressed && open.is_some() {
                    // At the end: has the path moved to another file, or been truncated?
                    match fs::metadata(&self.path) {
                        Ok(m) if m.ino() != pos.inode => {
                            // Rotated: this file is read to its end (above); the new one next.
                            self.stats.rotations.fetch_add(1, Ordering::Relaxed);
                            open = None;
                            pos = Position {
                                inode: m.ino(),
                                ..Position::default()
                            };
                            continue;
                        }
                        Ok(m) if m.len() < pos.offset => {
                            self.stats.rotations.fetch_add(1, Ordering::Relaxed);
                            pos.offset = 0;
                            pos.line = 0;
                            pending.clear();
                            if let Err(e) = self.save(pos) {
                                on_error(&format!("{}: {e}", self.state.display()));
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
            }
            if stopping && !progressed {
                return;
            }
            if !progressed {
                std::thread::sleep(self.poll);
            }
        }
    }

    /// Reads to its end the rotated file `pos` is about, found by its inode beside the path.
    fn finish_rotated(&self, pos: &mut Position, on_error: &mut dyn FnMut(&str)) {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let old = entries.filter_map(Result::ok).find(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.ino() == pos.inode)
        });
        let Some(mut f) = old.and_then(|e| File::open(e.path()).ok()) else {
            return;
        };
        let mut pending = Vec::new();
        while let Ok(n) = self.read_more(&mut f, pos, &mut pending, on_error) {
            if n == 0 {
                break;
            }
        }
    }

    /// Reads what was appended since `pos`: complete lines to the spool, then the position
    /// saved. Returns the bytes consumed.
    fn read_more(
        &self,
        f: &mut File,
        pos: &mut Position,
        pending: &mut Vec<u8>,
        on_error: &mut dyn FnMut(&str),
    ) -> Result<u64, FollowError> {
        let mut chunk = vec![0u8; 1 << 20];
        f.seek(SeekFrom::Start(pos.offset + pending.len() as u64))?;
        let n = f.read(&mut chunk)?;
        if n == 0 {
            return Ok(0);
        }
        pending.extend_from_slice(&chunk[..n]);
        let Some(last) = pending.iter().rposition(|&b| b == b'\n') else {
            if pending.len() > MAX_LINE_BYTES {
                // No line break in sight: skip to the next one.
                on_error(&format!(
                    "{}:{}: a line over {MAX_LINE_BYTES} bytes, skipped",
                    self.path.display(),
                    pos.line + 1
                ));
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                pos.offset += pending.len() as u64;
                pending.clear();
                return Ok(n as u64);
            }
            return Ok(n as u64);
        };
        let complete: Vec<u8> = pending.drain(..=last).collect();
        let mut lines: Vec<&[u8]> = Vec::new();
        let mut line_no = pos.line;
        for line in complete.split(|&b| b == b'\n') {
            line_no += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match kubevigil_audit::Event::parse(line) {
                Ok(_) => lines.push(line),
                Err(e) => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    on_error(&format!("{}:{line_no}: {e}", self.path.display()));
                }
            }
        }
        // The last split piece is the empty remainder after the final line break.
        line_no -= 1;
        match self.spool.append(&lines) {
            Ok(()) => {}
            Err(SpoolError::Full { .. }) => {
                // Read again later: the file keeps the events.
                pending.splice(0..0, complete);
                return Err(FollowError::SpoolFull);
            }
            Err(e) => {
                pending.splice(0..0, complete);
                return Err(FollowError::Io(io::Error::other(e)));
            }
        }
        self.stats
            .events
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        pos.offset += complete.len() as u64;
        pos.line = line_no;
        self.save(*pos)?;
        Ok(n as u64)
    }
}

enum FollowError {
    SpoolFull,
    Io(io::Error),
}

impl From<io::Error> for FollowError {
    fn from(e: io::Error) -> Self {
        FollowError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","verb":"get","requestURI":"/api","user":{{"username":"u"}}}}"#
        )
    }

    fn spooled(spool: &Spool) -> Vec<String> {
        let mut r = spool.reader();
        let mut out = Vec::new();
        loop {
            let b = r.next_batch(1 << 20, Duration::from_millis(1)).unwrap();
            if b.is_empty() {
                return out;
            }
            for l in b.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                out.push(v["auditID"].as_str().unwrap().to_string());
            }
        }
    }

    fn append(path: &Path, text: &str) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Follows until what is in the file is read, once.
    fn drain(f: &Follower) -> Vec<String> {
        let stop = AtomicBool::new(true);
        let mut errors = Vec::new();
        f.run(&stop, &mut |e| errors.push(e.to_string()));
        errors
    }

    #[test]
    fn follows_appends_rotation_and_truncation_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let spool = Spool::open(&dir.path().join("spool"), 1 << 20).unwrap();
        let f = Follower::new(&log, dir.path(), &spool).unwrap();
        assert!(drain(&f).is_empty(), "no file yet: nothing, no error");
        append(
            &log,
            &format!("{}\n{}\nnot json\n{}", event("a"), event("b"), event("c")),
        );
        let errors = drain(&f);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("audit.log:3: "), "{errors:?}");
        // "c" has no line break yet: it waits.
        assert_eq!(spooled(&spool), ["a", "b"]);
        append(&log, "\n");
        drain(&f);
        assert_eq!(spooled(&spool), ["a", "b", "c"]);
        // A restart goes on where it was.
        let f = Follower::new(&log, dir.path(), &spool).unwrap();
        drain(&f);
        assert_eq!(spooled(&spool).len(), 3);
        // Rotated by rename: the new file from its start.
        fs::rename(&log, dir.path().join("audit-2026-11-30T10-00-00.000.log")).unwrap();
        append(&log, &format!("{}\n", event("d")));
        drain(&f);
        assert_eq!(spooled(&spool), ["a", "b", "c", "d"]);
        assert_eq!(f.stats.rotations.load(Ordering::Relaxed), 1);
        // Truncated in place (copytruncate), noticed, then written again.
        fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        drain(&f);
        append(&log, &format!("{}\n", event("e")));
        drain(&f);
        assert_eq!(spooled(&spool), ["a", "b", "c", "d", "e"]);
        // This follower (since the restart) read d and e.
        assert_eq!(f.stats.events.load(Ordering::Relaxed), 2);
        assert_eq!(f.stats.rotations.load(Ordering::Relaxed), 2);
        // Written to, then rotated while the monitor was down: the rest of the old file first.
        append(&log, &format!("{}\n", event("f")));
        fs::rename(&log, dir.path().join("audit-2026-11-30T11-00-00.000.log")).unwrap();
        append(&log, &format!("{}\n", event("g")));
        let f = Follower::new(&log, dir.path(), &spool).unwrap();
        drain(&f);
        assert_eq!(spooled(&spool), ["a", "b", "c", "d", "e", "f", "g"]);
    }
}
