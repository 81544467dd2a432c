//! Opening audit log inputs: files, gzip-compressed files (detected by their magic bytes, not
//! their name) and stdin (`-`), and [`read_all`], the input loop every audit command uses. The
//! only module of this crate that touches the file system.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::reader::Unparsed;
use crate::{Event, EventReader, RawEvent, ReadError};

/// Read buffer size: large enough that line splitting rarely crosses a refill.
const BUF_SIZE: usize = 64 * 1024;

/// Opens `path` (or stdin for `-`) for [`crate::EventReader`], decompressing gzip transparently.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return from_reader(io::stdin());
    }
    from_reader(File::open(path)?)
}

/// Wraps any reader, decompressing it when it starts with the gzip magic bytes `1f 8b`.
pub fn from_reader<R: Read + Send + 'static>(r: R) -> io::Result<Box<dyn BufRead + Send>> {
    let mut br = BufReader::with_capacity(BUF_SIZE, r);
    let head = br.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(BufReader::with_capacity(
            BUF_SIZE,
            MultiGzDecoder::new(br),
        )))
    } else {
        Ok(Box::new(br))
    }
}

/// The name an input is reported under: its path, or `<stdin>` for `-`.
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// What reading every input of one command gave. Every audit command exits 2 when
/// [`Summary::has_errors`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Events accepted.
    pub events: u64,
    /// Malformed events and lines, reported and skipped.
    pub rejected: u64,
    /// Inputs that could not be opened, or whose reading ended with an I/O error (a corrupt
    /// or truncated gzip file, for example): what was read before the error still counts.
    pub failed_inputs: u64,
}

impl Summary {
    pub fn has_errors(&self) -> bool {
        self.rejected > 0 || self.failed_inputs > 0
    }

    /// Counts a reading error (a failed input when fatal, else a rejected event) and reports it.
    fn failed(&mut self, e: &ReadError, on_error: &mut dyn FnMut(&ReadError)) {
        if e.is_fatal() {
            self.failed_inputs += 1;
        } else {
            self.rejected += 1;
        }
        on_error(e);
    }
}

/// The one way audit commands read their inputs: every event of every input, in order.
///
/// `on_event` gets the input's name, the event's text and position, and the parsed event
/// ([`crate::Event::parse`] decides what an event is, for every command alike). `on_error` gets
/// every problem, located (`file:line:column`); a malformed event is skipped, an unreadable
/// input ends that input, and the other inputs are still read. An error returned by `on_event`
/// (say, a closed stdout) stops reading and is returned.
pub fn read_all<E>(
    paths: &[impl AsRef<Path>],
    mut on_event: impl FnMut(&str, RawEvent<'_>, &Event<'_>) -> Result<(), E>,
    on_error: impl FnMut(&ReadError),
) -> Result<Summary, E> {
    read_inputs(paths, on_error, |name, reader, summary, on_error| {
        while let Some(item) = reader.next_event() {
            match item {
                Ok((raw, ev)) => {
                    summary.events += 1;
                    on_event(name, raw, &ev)?;
                }
                Err(e) => summary.failed(&e, on_error),
            }
        }
        Ok(())
    })
}

/// [`read_all`] without [`crate::Event::parse`]: `on_event` gets each event's text unparsed,
/// for [`crate::reader::parse_event`] to judge elsewhere (a worker thread), with the same
/// result. The summary counts every event yielded; rejecting one is up to the caller.
pub fn read_all_unparsed<E>(
    paths: &[impl AsRef<Path>],
    mut on_event: impl FnMut(&str, Unparsed<'_>) -> Result<(), E>,
    on_error: impl FnMut(&ReadError),
) -> Result<Summary, E> {
    read_inputs(paths, on_error, |name, reader, summary, on_error| {
        while let Some(item) = reader.next_unparsed() {
            match item {
                Ok(unparsed) => {
                    summary.events += 1;
                    on_event(name, unparsed)?;
                }
                Err(e) => summary.failed(&e, on_error),
            }
        }
        Ok(())
    })
}

type Reader = EventReader<Box<dyn BufRead + Send>>;

/// Every input in order (directories expanded to their rotated files), each through `each`.
fn read_inputs<E>(
    paths: &[impl AsRef<Path>],
    mut on_error: impl FnMut(&ReadError),
    mut each: impl FnMut(&str, &mut Reader, &mut Summary, &mut dyn FnMut(&ReadError)) -> Result<(), E>,
) -> Result<Summary, E> {
    let mut summary = Summary::default();
    let mut expanded = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.as_os_str() != "-" && path.is_dir() {
            match rotated_files(path) {
                Ok(files) => expanded.extend(files),
                Err(e) => {
                    on_error(&ReadError::open(display_name(path), e));
                    summary.failed_inputs += 1;
                }
            }
        } else {
            expanded.push(path.to_path_buf());
        }
    }
    for path in &expanded {
        let path = path.as_path();
        let name = display_name(path);
        let src = match open(path) {
            Ok(src) => src,
            Err(e) => {
                on_error(&ReadError::open(name, e));
                summary.failed_inputs += 1;
                continue;
            }
        };
        let mut reader = EventReader::new(name.clone(), src);
        each(&name, &mut reader, &mut summary, &mut on_error)?;
    }
    Ok(summary)
}

/// The audit log files of a directory, oldest first: regular files (or links to them) named
/// `*.log`, `*.log.gz`, `*.json` or `*.json.gz`, in byte order of their names.
///
/// That is the kube-apiserver's rotation order: with `--audit-log-path=DIR/audit.log`, the
/// API server's log rotation (gopkg.in/natefinch/lumberjack.v2, `backupName`) renames full
/// files to `audit-<time>.log` with the time written `2006-01-02T15-04-05.000` (sortable;
/// UTC) and gzips them to
/// `audit-<time>.log.gz` with `--audit-log-compress`; since `-` sorts before `.`, every
/// backup comes before the file being written.
pub fn rotated_files(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            [".log", ".log.gz", ".json", ".json.gz"]
                .iter()
                .any(|ext| name.ends_with(ext))
                && p.is_file()
        })
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Most malformed-event messages a command prints per run; the rest are counted only.
pub const MAX_PRINTED_READ_ERRORS: u64 = 100;

/// What a command tells people about the problems [`read_all`] reports: the first
/// [`MAX_PRINTED_READ_ERRORS`] escaped (they quote the input), then one line saying the rest are
/// only counted, then nothing (a log of garbage must not flood the terminal). Shared by the
/// event and error callbacks of one run, hence `&self`.
#[derive(Debug, Default)]
pub struct ReadErrorLog {
    printed: std::cell::Cell<u64>,
}

impl ReadErrorLog {
    /// The line to print for `err` (without a newline), if any.
    pub fn message(&self, err: &dyn std::fmt::Display) -> Option<String> {
        let n = self.printed.get();
        self.printed.set(n + 1);
        match n {
            n if n < MAX_PRINTED_READ_ERRORS => Some(format!(
                "error: {}",
                kubevigil_model::Escaped(&err.to_string())
            )),
            MAX_PRINTED_READ_ERRORS => {
                Some("error: more malformed events; only counting from now on".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A kube-apiserver log directory (`--audit-log-path=DIR/audit.log`, rotated and
    /// compressed backups) is read oldest first, the file being written last; other files
    /// are left alone.
    #[test]
    fn a_directory_is_read_in_rotation_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, id: &str, gz: bool| {
            let line = format!("{{\"auditID\":\"{id}\"}}\n");
            let bytes = if gz {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(line.as_bytes()).unwrap();
                enc.finish().unwrap()
            } else {
                line.into_bytes()
            };
            std::fs::write(dir.path().join(name), bytes).unwrap();
        };
        write("audit.log", "current", false);
        write("audit-2024-05-01T11-00-00.000.log.gz", "second", true);
        write("audit-2024-05-01T09-30-00.000.log", "first", false);
        write("notes.txt", "not-a-log", false);
        std::fs::create_dir(dir.path().join("old.log")).unwrap();
        let mut ids = Vec::new();
        let summary = read_all(
            &[dir.path()],
            |_, _, ev| {
                ids.push(ev.audit_id().to_string());
                Ok::<(), ()>(())
            },
            |e| panic!("{e}"),
        )
        .unwrap();
        assert_eq!(ids, ["first", "second", "current"]);
        assert_eq!(summary.events, 3);
    }

    #[test]
    fn gzip_is_detected_by_magic() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"auditID\":\"z\"}\n").unwrap();
        let gz = enc.finish().unwrap();
        let mut r = crate::EventReader::new("x.log", from_reader(io::Cursor::new(gz)).unwrap());
        let (_, ev) = r.next_event().unwrap().unwrap();
        assert_eq!(ev.audit_id(), "z");
        let mut plain = crate::EventReader::new(
            "y",
            from_reader(io::Cursor::new(b"{\"auditID\":\"p\"}".to_vec())).unwrap(),
        );
        assert_eq!(plain.next_event().unwrap().unwrap().1.audit_id(), "p");
    }

    #[test]
    fn error_log_prints_the_first_hundred_escaped_then_one_line_then_nothing() {
        let log = ReadErrorLog::default();
        let err = |i: u64| ReadError {
            source_name: "a\x1b.log".to_string(),
            line: i + 1,
            col: 1,
            kind: crate::reader::ReadErrorKind::Invalid("bad".into()),
        };
        let lines: Vec<Option<String>> = (0..MAX_PRINTED_READ_ERRORS + 2)
            .map(|i| log.message(&err(i)))
            .collect();
        assert_eq!(lines[0].as_deref(), Some("error: a\\e.log:1:1: bad"));
        assert!(
            lines[..100]
                .iter()
                .all(|l| l.as_deref().is_some_and(|l| !l.contains('\x1b')))
        );
        assert_eq!(
            lines[100].as_deref(),
            Some("error: more malformed events; only counting from now on")
        );
        assert_eq!(lines[101], None);
    }
}
