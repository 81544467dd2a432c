//! The audit spool: events the API server sent, on disk before they are acknowledged, until
//! detection has processed them.
//!
//! kube-apiserver's audit webhook backend retries a batch on an error and drops it after a
//! success, so `POST /audit` may answer 200 only once the batch cannot be lost: [`Spool::append`]
//! writes it and syncs it to disk first. Detection reads the spool in order
//! ([`SpoolReader`]) and commits how far it got ([`Spool::commit`]); after a crash it resumes
//! from the last commit, so every acknowledged event is processed at least once (events read
//! after the last commit are processed again: the history store folds the repeated alerts).
//!
//! Layout: segment files `DIR/NNNNNNNNNNNNNNNNNNNN.jsonl` (one event per line, compact JSON,
//! numbered in order) and `DIR/cursor` (the segment and byte offset processed up to, replaced
//! atomically). A batch is never split across segments. The spool is bounded by bytes: a batch
//! that does not fit is refused ([`SpoolError::Full`]) and nothing of it is written, so the API
//! server keeps it and retries (the overflow policy: refuse, never drop what was accepted).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A segment is closed for appends once it is this large.
pub const SEGMENT_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the audit spool is full ({used} of {max} bytes used; {needed} more needed)")]
    Full { used: u64, max: u64, needed: u64 },
    #[error("an event of the batch contains a line break")]
    LineBreak,
    #[error("audit spool {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl SpoolError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
        move |source| SpoolError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where reading stands: a segment's number and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug)]
struct Segment {
    number: u64,
    /// Bytes synced to disk: readers never read past them.
    len: u64,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    /// The last segment, open for appends.
    writer: File,
    /// Bytes of the segments on disk.
    used: u64,
    committed: Position,
}

/// The spool of one monitor, shared by the intake (appends) and detection (reads, commits).
#[derive(Debug, Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    appended: Condvar,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.jsonl"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the cursor file: `SEGMENT OFFSET`.
fn read_cursor(path: &Path) -> io::Result<Option<Position>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let mut parts = text.split_whitespace().map(str::parse::<u64>);
            match (parts.next(), parts.next()) {
                (Some(Ok(segment)), Some(Ok(offset))) => Ok(Some(Position { segment, offset })),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a spool cursor", path.display()),
                )),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, bounded to `max_bytes`. A segment's bytes after its
    /// last line break (a batch being written when the process died, never acknowledged) are
    /// cut off.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let err = SpoolError::io(dir);
        fs::create_dir_all(dir).map_err(err)?;
        let mut numbers: Vec<u64> = fs::read_dir(dir)
            .map_err(SpoolError::io(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        let cursor_path = dir.join("cursor");
        let committed = read_cursor(&cursor_path)
            .map_err(SpoolError::io(&cursor_path))?
            .unwrap_or(Position {
                segment: numbers.first().copied().unwrap_or(0),
                offset: 0,
            });
        let mut segments = VecDeque::new();
        let mut used = 0;
        for number in numbers {
            let path = segment_path(dir, number);
            // Segments before the cursor's were processed: a crash came before their removal.
            if number < committed.segment {
                fs::remove_file(&path).map_err(SpoolError::io(&path))?;
                continue;
            }
            let len = complete_len(&path).map_err(SpoolError::io(&path))?;
            used += len;
            segments.push_back(Segment { number, len });
        }
        if segments.is_empty() {
            let number = committed.segment;
            segments.push_back(Segment { number, len: 0 });
        }
        let last = segments.back().expect("one segment at least");
        let path = segment_path(dir, last.number);
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(SpoolError::io(&path))?;
        sync_dir(dir).map_err(SpoolError::io(dir))?;
        Ok(Spool {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                max_bytes,
                state: Mutex::new(State {
                    segments,
                    writer,
                    used,
                    committed,
                }),
                appended: Condvar::new(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes on disk (processed events of the segment being read included).
    pub fn used_bytes(&self) -> u64 {
        self.state().used
    }

    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// Where the last commit left reading.
    pub fn committed(&self) -> Position {
        self.state().committed
    }

    /// Appends a batch of events (each one line of compact JSON) and syncs it to disk; when this
    /// returns `Ok`, the batch survives a crash. All or nothing: on an error none of it is
    /// appended.
    pub fn append(&self, events: &[&[u8]]) -> Result<(), SpoolError> {
        if events.iter().any(|e| e.contains(&b'\n')) {
            return Err(SpoolError::LineBreak);
        }
        let bytes: u64 = events.iter().map(|e| e.len() as u64 + 1).sum();
        if bytes == 0 {
            return Ok(());
        }
        let mut st = self.state();
        if st.used + bytes > self.inner.max_bytes {
            return Err(SpoolError::Full {
                used: st.used,
                max: self.inner.max_bytes,
                needed: bytes,
            });
        }
        let dir = &self.inner.dir;
        if st.segments.back().expect("a segment").len >= SEGMENT_BYTES {
            let number = st.segments.back().expect("a segment").number + 1;
            let path = segment_path(dir, number);
            st.writer = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(SpoolError::io(&path))?;
            sync_dir(dir).map_err(SpoolError::io(dir))?;
            st.segments.push_back(Segment { number, len: 0 });
        }
        let mut buf = Vec::with_capacity(bytes as usize);
        for e in events {
            buf.extend_from_slice(e);
            buf.push(b'\n');
        }
        let last = st.segments.back().expect("a segment");
        let (number, len) = (last.number, last.len);
        let path = segment_path(dir, number);
        let written = st
            .writer
            .write_all(&buf)
            .and_then(|()| st.writer.sync_data());
        if let Err(e) = written {
            // A full disk may have taken part of the batch: cut it off, so that the segment
            // holds only acknowledged batches.
            let _ = st.writer.set_len(len);
            return Err(SpoolError::io(&path)(e));
        }
        st.segments.back_mut().expect("a segment").len += bytes;
        st.used += bytes;
        drop(st);
        self.inner.appended.notify_all();
        Ok(())
    }

    /// Records that everything before `at` was processed: persisted atomically (a crash resumes
    /// there), and segments wholly before it removed.
    pub fn commit(&self, at: Position) -> Result<(), SpoolError> {
        let dir = &self.inner.dir;
        let tmp = dir.join("cursor.tmp");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{} {}", at.segment, at.offset)?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join("cursor"))?;
            sync_dir(dir)
        };
        write().map_err(SpoolError::io(&tmp))?;
        let mut st = self.state();
        st.committed = at;
        while st.segments.len() > 1 && st.segments.front().expect("nonempty").number < at.segment {
            let gone = st.segments.pop_front().expect("nonempty");
            let path = segment_path(dir, gone.number);
            fs::remove_file(&path).map_err(SpoolError::io(&path))?;
            st.used -= gone.len;
        }
        // Everything written was processed: start a new segment so the space is freed now,
        // not when the segment would have filled.
        let last = st.segments.back().expect("a segment");
        if last.number == at.segment && last.len == at.offset && last.len > 0 {
            let (old, number) = (last.number, last.number + 1);
            let path = segment_path(dir, number);
            st.writer = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(SpoolError::io(&path))?;
            sync_dir(dir).map_err(SpoolError::io(dir))?;
            st.segments.push_back(Segment { number, len: 0 });
            let gone = st.segments.pop_front().expect("two segments");
            debug_assert_eq!(gone.number, old);
            let path = segment_path(dir, old);
            fs::remove_file(&path).map_err(SpoolError::io(&path))?;
            st.used -= gone.len;
        }
        Ok(())
    }

    /// A reader from the last commit.
    pub fn reader(&self) -> SpoolReader {
        SpoolReader {
            spool: self.clone(),
            at: self.committed(),
            file: None,
        }
    }
}

/// The length of a segment's complete lines; a trailing partial line is cut off.
fn complete_len(path: &Path) -> io::Result<u64> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // Find the last line break, reading backwards in blocks.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            let complete = start + i as u64 + 1;
            if complete < len {
                f.set_len(complete)?;
                f.sync_all()?;
            }
            return Ok(complete);
        }
        end = start;
    }
    f.set_len(0)?;
    f.sync_all()?;
    Ok(0)
}

/// Reads the spool in order, waiting for appends.
#[derive(Debug)]
pub struct SpoolReader {
    spool: Spool,
    at: Position,
    file: Option<(u64, File)>,
}

impl SpoolReader {
    /// Where the next read starts.
    pub fn position(&self) -> Position {
        self.at
    }

    /// The next events (whole lines, at most about `max_bytes` unless one line is longer),
    /// waiting up to `wait` for some to be appended. Empty when none came.
    pub fn next_batch(&mut self, max_bytes: usize, wait: Duration) -> Result<Vec<u8>, SpoolError> {
        loop {
            // The readable end of the current segment, and whether a later one exists.
            let (end, next) = {
                let st = self.spool.state();
                let mut found = None;
                let mut next = None;
                for s in &st.segments {
                    if s.number == self.at.segment {
                        found = Some(s.len);
                    } else if s.number > self.at.segment && next.is_none() {
                        next = Some(s.number);
                    }
                }
                match found {
                    Some(len) if len > self.at.offset => (len, next),
                    _ if next.is_some() => (self.at.offset, next),
                    _ => {
                        let (st, _) = self
                            .spool
                            .inner
                            .appended
                            .wait_timeout(st, wait)
                            .unwrap_or_else(|p| p.into_inner());
                        drop(st);
                        if self.has_data() {
                            continue;
                        }
                        return Ok(Vec::new());
                    }
                }
            };
            if end <= self.at.offset {
                // This segment is read to its end and a later one exists.
                self.at = Position {
                    segment: next.expect("a later segment"),
                    offset: 0,
                };
                self.file = None;
                continue;
            }
            return self.read_lines(end, max_bytes);
        }
    }

    fn has_data(&self) -> bool {
        let st = self.spool.state();
        st.segments.iter().any(|s| {
            s.number > self.at.segment || (s.number == self.at.segment && s.len > self.at.offset)
        })
    }

    fn read_lines(&mut self, end: u64, max_bytes: usize) -> Result<Vec<u8>, SpoolError> {
        let path = segment_path(&self.spool.inner.dir, self.at.segment);
        if self
            .file
            .as_ref()
            .is_none_or(|(n, _)| *n != self.at.segment)
        {
            let f = File::open(&path).map_err(SpoolError::io(&path))?;
            self.file = Some((self.at.segment, f));
        }
        let (_, f) = self.file.as_mut().expect("opened");
        let want = ((end - self.at.offset) as usize).min(max_bytes.max(1));
        let mut buf = vec![0u8; want];
        f.seek(SeekFrom::Start(self.at.offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(SpoolError::io(&path))?;
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => buf.truncate(i + 1),
            None => {
                // One line longer than max_bytes: read it whole (appends are whole lines).
                let mut rest = Vec::new();
                let mut line_end = false;
                let mut chunk = [0u8; 64 * 1024];
                while !line_end {
                    let n = f.read(&mut chunk).map_err(SpoolError::io(&path))?;
                    if n == 0 {
                        break;
                    }
                    match chunk[..n].iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            rest.extend_from_slice(&chunk[..=i]);
                            line_end = true;
                        }
                        None => rest.extend_from_slice(&chunk[..n]),
                    }
                }
                buf.extend_from_slice(&rest);
            }
        }
        self.at.offset += buf.len() as u64;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &[u8]) -> Vec<String> {
        buf.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect()
    }

    fn read_all(r: &mut SpoolReader) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let b = r.next_batch(1 << 20, Duration::from_millis(1)).unwrap();
            if b.is_empty() {
                return out;
            }
            out.extend(lines(&b));
        }
    }

    #[test]
    fn appended_batches_are_read_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&[b"{\"a\":1}", b"{\"a\":2}"]).unwrap();
        spool.append(&[b"{\"a\":3}"]).unwrap();
        let mut r = spool.reader();
        assert_eq!(read_all(&mut r), ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        // Nothing committed: a restart reads everything again.
        drop((r, spool));
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let mut r = spool.reader();
        assert_eq!(read_all(&mut r).len(), 3);
        // Committed: a restart resumes after it.
        spool.commit(r.position()).unwrap();
        spool.append(&[b"{\"a\":4}"]).unwrap();
        drop((r, spool));
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(read_all(&mut spool.reader()), ["{\"a\":4}"]);
    }

    #[test]
    fn a_batch_cut_short_by_a_crash_is_dropped_at_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&[b"{\"a\":1}"]).unwrap();
        drop(spool);
        // A write the process never finished (nor acknowledged).
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"a\":2}\n{\"a\":").unwrap();
        drop(f);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(read_all(&mut spool.reader()), ["{\"a\":1}", "{\"a\":2}"]);
        spool.append(&[b"{\"a\":3}"]).unwrap();
        assert_eq!(
            read_all(&mut spool.reader()),
            ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]
        );
    }

    #[test]
    fn a_full_spool_refuses_whole_batches_and_frees_space_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let event = [b'x'; 99];
        let spool = Spool::open(dir.path(), 1000).unwrap();
        for _ in 0..10 {
            spool.append(&[&event]).unwrap();
        }
        let err = spool.append(&[&event]).unwrap_err();
        assert!(
            matches!(
                err,
                SpoolError::Full {
                    used: 1000,
                    max: 1000,
                    needed: 100
                }
            ),
            "{err}"
        );
        assert_eq!(spool.used_bytes(), 1000);
        // Half processed: half the space is still in use.
        let mut r = spool.reader();
        let half = r.next_batch(500, Duration::from_millis(1)).unwrap();
        assert_eq!(lines(&half).len(), 5);
        spool.commit(r.position()).unwrap();
        assert_eq!(spool.used_bytes(), 1000);
        assert!(spool.append(&[&event]).is_err());
        // All processed: the space is free, and reading goes on where it was.
        assert_eq!(read_all(&mut r).len(), 5);
        spool.commit(r.position()).unwrap();
        assert_eq!(spool.used_bytes(), 0);
        spool.append(&[&event]).unwrap();
        assert_eq!(read_all(&mut r).len(), 1);
        assert!(spool.append(&[b"{}\n"]).is_err(), "line breaks are refused");
    }

    #[test]
    fn segments_roll_and_processed_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 4 * SEGMENT_BYTES).unwrap();
        let big = vec![b'y'; (SEGMENT_BYTES / 2) as usize];
        for _ in 0..5 {
            spool.append(&[&big]).unwrap();
        }
        let count = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "jsonl")
                })
                .count()
        };
        assert_eq!(count(), 3, "two full segments and the one being written");
        let mut r = spool.reader();
        let mut n = 0;
        loop {
            let b = r.next_batch(1 << 20, Duration::from_millis(1)).unwrap();
            if b.is_empty() {
                break;
            }
            n += lines(&b).len();
        }
        assert_eq!(n, 5);
        spool.commit(r.position()).unwrap();
        assert_eq!(count(), 1);
        assert_eq!(spool.used_bytes(), 0);
        // A restart after the commit starts at the end.
        drop((r, spool));
        let spool = Spool::open(dir.path(), 4 * SEGMENT_BYTES).unwrap();
        assert!(read_all(&mut spool.reader()).is_empty());
    }

    #[test]
    fn a_reader_waits_for_appends_from_another_thread() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let mut r = spool.reader();
        let writer = spool.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            writer.append(&[b"{\"late\":true}"]).unwrap();
        });
        let b = r.next_batch(1 << 20, Duration::from_secs(10)).unwrap();
        assert_eq!(lines(&b), ["{\"late\":true}"]);
        t.join().unwrap();
    }
}
