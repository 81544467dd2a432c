//! Loading manifests from files, directories and stdin into an [`Inventory`].
//!
//! Every problem becomes a [`Diagnostic`] with file:line:column, and loading goes on with the
//! next document and the next file: one malformed manifest never hides the others.
//!
//! Input is read as `kubectl apply -f` reads it (k8s.io/cli-runtime `pkg/resource/visitor.go`,
//! `FileVisitor.Visit` and `StreamVisitor.Visit`): a byte order mark selects UTF-8 or UTF-16, a
//! stream that starts with `{` is a stream of JSON objects (`{...}{...}`) and the rest is YAML
//! documents separated by `---` lines (k8s.io/apimachinery `pkg/util/yaml/decoder.go`).

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::object::{Inventory, Object, Source};
use crate::span::{FieldPath, Pos, SpanNode};
use crate::text::Escaped;
use crate::yaml::{self, Limits};

/// Largest input accepted from one file or from stdin, by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Input bytes that the directory loader parses at the same time, by default.
pub const DEFAULT_MAX_BYTES_IN_FLIGHT: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagLevel {
    Note,
    Warning,
    Error,
}

/// A problem or remark about the input, with its location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: DiagLevel,
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl Diagnostic {
    /// A problem with the field at `path` of `object`: at the field's line and column for an
    /// object read from a file; otherwise named by its origin (`cluster <context>`, `admission
    /// request <uid>`) without a position.
    pub fn at_field(object: &Object, path: &FieldPath, level: DiagLevel, message: String) -> Self {
        match object.file_pos_of(path) {
            Some((file, pos)) => Diagnostic {
                level,
                file: file.to_string(),
                line: pos.line,
                col: pos.col,
                message,
            },
            None => Diagnostic {
                level,
                file: object.source.to_string(),
                line: 0,
                col: 0,
                message,
            },
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            DiagLevel::Note => "note",
            DiagLevel::Warning => "warning",
            DiagLevel::Error => "error",
        };
        // For people: the file name and the message may quote hostile input.
        let (file, message) = (Escaped(&self.file), Escaped(&self.message));
        if self.line > 0 {
            write!(f, "{file}:{}:{}: {level}: {message}", self.line, self.col)
        } else {
            write!(f, "{file}: {level}: {message}")
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub max_file_bytes: u64,
    /// Bytes of input that the directory loader reads and parses at the same time: files load on
    /// every core while the sum of their sizes stays within this budget; a larger file loads alone.
    pub max_bytes_in_flight: u64,
    pub limits: Limits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_bytes_in_flight: DEFAULT_MAX_BYTES_IN_FLIGHT,
            limits: Limits::default(),
        }
    }
}

/// What loading produced: the objects, and everything worth telling the user.
#[derive(Debug, Default)]
pub struct Loaded {
    pub inventory: Inventory,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == DiagLevel::Error)
    }
}

/// Loads every path: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`), and `-` for stdin.
///
/// A path named explicitly is read whatever it is (a FIFO, `/dev/stdin`, a process substitution);
/// a directory walk loads regular files only and notes anything else it skips.
pub fn load_paths<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> Loaded {
    let (mut loaded, _) = load_paths_each(paths, opts, &|_: &mut Loaded| ());
    let identities: Vec<Identity> = loaded.inventory.objects.iter().map(Identity::of).collect();
    let duplicates = find_duplicates(&identities);
    let mut drop = vec![false; identities.len()];
    for d in duplicates {
        drop[d.index] = d.identical;
        loaded.diagnostics.push(d.diagnostic);
    }
    let mut i = 0;
    loaded.inventory.objects.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    loaded
}

/// [`load_paths`] without the duplicate check, calling `each` on every input (a file, stdin) as
/// soon as it is read, on the thread that read it: what `each` leaves in the [`Loaded`] it is
/// given is kept, in input order, and what it returns is collected in input order. A scan checks
/// each file's objects there and keeps only the few that checks over all objects read, so that
/// the object trees of a large input are never all in memory at once.
pub fn load_paths_each<P: AsRef<Path>, T: Send>(
    paths: &[P],
    opts: &LoadOptions,
    each: &(dyn Fn(&mut Loaded) -> T + Sync),
) -> (Loaded, Vec<T>) {
    let mut loaded = Loaded::default();
    let mut results = Vec::new();
    let keep = |mut part: Loaded, result: T, loaded: &mut Loaded, results: &mut Vec<T>| {
        results.push(result);
        loaded.inventory.objects.append(&mut part.inventory.objects);
        loaded.diagnostics.append(&mut part.diagnostics);
    };
    for path in paths {
        let path = path.as_ref();
        let mut part = Loaded::default();
        if path == Path::new("-") {
            match read_limited(std::io::stdin().lock(), 0, opts.max_file_bytes) {
                Ok(buf) => load_bytes_into("<stdin>", &buf, opts, &mut part),
                Err(e) => part
                    .diagnostics
                    .push(file_error("<stdin>", format!("cannot read: {e}"))),
            }
            let result = each(&mut part);
            keep(part, result, &mut loaded, &mut results);
            continue;
        }
        let name = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                collect_dir(path, &mut files, &mut loaded.diagnostics);
                files.sort();
                for (part, result) in load_files_parallel(&files, opts, each) {
                    keep(part, result, &mut loaded, &mut results);
                }
                continue;
            }
            Ok(m) if m.is_file() && m.len() > opts.max_file_bytes => {
                part.diagnostics.push(over_limit(&name, m.len(), opts));
            }
            Ok(m) => {
                match std::fs::File::open(path)
                    .and_then(|f| read_limited(f, m.len(), opts.max_file_bytes))
                {
                    Ok(bytes) => load_bytes_into(&name, &bytes, opts, &mut part),
                    Err(e) => part
                        .diagnostics
                        .push(file_error(&name, format!("cannot read: {e}"))),
                }
            }
            Err(e) => part
                .diagnostics
                .push(file_error(&name, format!("cannot read: {e}"))),
        }
        let result = each(&mut part);
        keep(part, result, &mut loaded, &mut results);
    }
    (loaded, results)
}

/// What tells copies of one object apart: its identity (apiVersion, kind, namespace and
/// `metadata.name`), a digest of its content, and where it is.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `None` for an object named only by `generateName` (every one is a distinct object).
    key: Option<(String, String, String, String)>,
    /// SHA-256 of the value, with mapping keys in sorted order: equal exactly when the values
    /// are equal (`serde_json::Value`'s equality ignores key order too). A cryptographic digest,
    /// so that a crafted copy cannot pass for an identical one and be dropped unchecked.
    content: [u8; 32],
    display: String,
    api_version: String,
    /// The file, or the origin of an object that did not come from one (then `line` is 0).
    file: String,
    line: u32,
    col: u32,
}

impl Identity {
    pub fn of(object: &Object) -> Identity {
        use sha2::{Digest, Sha256};
        let name = object
            .value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let key = name.map(|name| {
            (
                object.api_version.clone(),
                object.kind.clone(),
                object.namespace.clone().unwrap_or_default(),
                name.to_string(),
            )
        });
        // The encoding is written out whole, then hashed at once: fed to the hasher part by
        // part, its many small pieces cost more than the hashing.
        let content: [u8; 32] = DIGEST_BUFFER.with_borrow_mut(|buf| {
            buf.clear();
            encode_value(&object.value, buf);
            let digest = Sha256::digest(&buf[..]).into();
            if buf.capacity() > 1 << 20 {
                *buf = Vec::new();
            }
            digest
        });
        let (file, line, col) = match object.source.file() {
            Some(s) => (s.file.to_string(), s.line, s.col),
            None => (object.source.to_string(), 0, 0),
        };
        Identity {
            key,
            content,
            display: object.display_name(),
            api_version: object.api_version.clone(),
            file,
            line,
            col,
        }
    }
}

thread_local! {
    /// The encoding of the object being digested ([`encode_value`]), reused.
    static DIGEST_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes `value` to `out` unambiguously (a tag and a length before every part), mapping keys
/// in sorted order.
fn encode_value(value: &Value, out: &mut Vec<u8>) {
    let text = |out: &mut Vec<u8>, tag: u8, s: &str| {
        out.push(tag);
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    match value {
        Value::Null => text(out, b'z', ""),
        Value::Bool(b) => text(out, b'b', if *b { "t" } else { "f" }),
        // `Number` equality tells 1 from 1.0, and so does its text.
        Value::Number(n) => text(out, if n.is_f64() { b'f' } else { b'i' }, &n.to_string()),
        Value::String(s) => text(out, b's', s),
        Value::Array(items) => {
            out.push(b'a');
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_value(item, out);
            }
        }
        Value::Object(map) => {
            out.push(b'o');
            out.extend_from_slice(&(map.len() as u64).to_le_bytes());
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                out.extend_from_slice(&(k.len() as u64).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                encode_value(v, out);
            }
        }
    }
}

/// A later copy of an object found earlier in the input.
#[derive(Debug)]
pub struct Duplicate {
    /// Its index among the identities given to [`find_duplicates`].
    pub index: usize,
    /// Whether it equals the first copy (and is not checked again).
    pub identical: bool,
    /// The warning, at this copy, naming the first.
    pub diagnostic: Diagnostic,
}

/// Objects with the same apiVersion, kind, namespace (none counts as `""`) and `metadata.name`
/// give a warning at each later copy naming where the first one is. An identical copy is dropped
/// (checking both would report every finding twice). A copy that differs is kept and checked too:
/// `kubectl apply` would apply the later one over the first, so dropping either could hide what
/// reaches the cluster, and a benign first copy must not mask a dangerous second one. Objects named
/// only by `generateName` are distinct objects and all kept.
pub fn find_duplicates<'a>(identities: impl IntoIterator<Item = &'a Identity>) -> Vec<Duplicate> {
    use std::collections::HashMap;
    let mut first: HashMap<&(String, String, String, String), &Identity> = HashMap::new();
    let mut out = Vec::new();
    for (index, id) in identities.into_iter().enumerate() {
        let Some(key) = &id.key else { continue };
        let Some(&original) = first.get(key) else {
            first.insert(key, id);
            continue;
        };
        let place = if original.line > 0 {
            format!("{}:{}:{}", original.file, original.line, original.col)
        } else {
            original.file.clone()
        };
        let identical = original.content == id.content;
        let message = if identical {
            format!(
                "duplicate object {} ({}): already defined at {}; this copy is ignored",
                id.display, id.api_version, place,
            )
        } else {
            format!(
                "duplicate object {} ({}): already defined differently at {}; both are checked (kubectl apply would apply this copy over it)",
                id.display, id.api_version, place,
            )
        };
        out.push(Duplicate {
            index,
            identical,
            diagnostic: Diagnostic {
                level: DiagLevel::Warning,
                file: id.file.clone(),
                line: id.line,
                col: id.col,
                message,
            },
        });
    }
    out
}

/// Reads at most `limit + 1` bytes (one more than allowed, so that an oversized input is detected
/// without reading all of it). `size_hint` is the expected size (0 when unknown).
fn read_limited(reader: impl Read, size_hint: u64, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size_hint.min(limit) as usize + 1);
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Loads the files of a directory walk on all available cores while at most
/// `opts.max_bytes_in_flight` bytes of input are being read and parsed; the result is in file
/// order, as if loaded serially.
fn load_files_parallel<T: Send>(
    files: &[PathBuf],
    opts: &LoadOptions,
    each: &(dyn Fn(&mut Loaded) -> T + Sync),
) -> Vec<(Loaded, T)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let budget = ByteBudget::new(opts.max_bytes_in_flight);
    // The file's bytes stay counted in flight until `each` is done with its objects.
    let load = |f: &PathBuf| {
        let mut part = Loaded::default();
        let _permit = load_walked_file(f, opts, &budget, &mut part);
        let result = each(&mut part);
        (part, result)
    };
    if workers <= 1 {
        return files.iter().map(load).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<(usize, (Loaded, T))> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        mine.push((i, load(f)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("loader thread panicked"))
            .collect()
    });
    parts.sort_by_key(|(i, _)| *i);
    parts.into_iter().map(|(_, part)| part).collect()
}

/// A budget of bytes in flight, shared by the loader threads. Permits are granted in the order
/// they are asked for, so a large file is not starved by a run of small ones; a request larger
/// than the whole budget waits until nothing else is in flight, then runs alone.
struct ByteBudget {
    limit: u64,
    state: Mutex<BudgetState>,
    freed: Condvar,
}

#[derive(Default)]
struct BudgetState {
    in_flight: u64,
    next_ticket: u64,
    serving: u64,
}

struct Permit<'a> {
    budget: &'a ByteBudget,
    bytes: u64,
}

impl ByteBudget {
    fn new(limit: u64) -> Self {
        ByteBudget {
            limit: limit.max(1),
            state: Mutex::default(),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self, bytes: u64) -> Permit<'_> {
        let bytes = bytes.min(self.limit);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        while s.serving != ticket || s.in_flight + bytes > self.limit {
            s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.serving += 1;
        s.in_flight += bytes;
        // The next ticket may fit in what is left.
        self.freed.notify_all();
        Permit {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// Opens a file found by a directory walk without blocking, so that a FIFO put there after the
/// walk cannot hang the open, and returns it with the metadata of what was actually opened.
fn open_walked(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Loads one file of a directory walk; returns its permit, held while its objects are in memory.
fn load_walked_file<'b>(
    path: &Path,
    opts: &LoadOptions,
    budget: &'b ByteBudget,
    loaded: &mut Loaded,
) -> Option<Permit<'b>> {
    let name = path.display().to_string();
    let (file, meta) = match open_walked(path) {
        Ok(opened) => opened,
        Err(e) => {
            loaded
                .diagnostics
                .push(file_error(&name, format!("cannot read: {e}")));
            return None;
        }
    };
    if !meta.is_file() {
        loaded
            .diagnostics
            .push(not_regular(&name, meta.file_type()));
        return None;
    }
    if meta.len() > opts.max_file_bytes {
        loaded.diagnostics.push(over_limit(&name, meta.len(), opts));
        return None;
    }
    let permit = budget.acquire(meta.len());
    match read_limited(file, meta.len(), opts.max_file_bytes) {
        Ok(bytes) => load_bytes_into(&name, &bytes, opts, loaded),
        Err(e) => loaded
            .diagnostics
            .push(file_error(&name, format!("cannot read: {e}"))),
    }
    Some(permit)
}

/// A directory whose YAML files are not manifests but the sources of a renderer: what it is, and
/// the command that renders it.
fn rendered_by(dir: &Path) -> Option<(&'static str, &'static str)> {
    if dir.join("Chart.yaml").exists() {
        return Some(("a Helm chart (Chart.yaml)", "helm template"));
    }
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| dir.join(f).exists())
        .then_some(("a kustomization", "kubectl kustomize"))
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    // A chart's templates are not YAML until rendered (`{{ ... }}`), and a kustomization's files
    // are its inputs, not what it applies: the whole directory is skipped, with one error that
    // says how to render it.
    if let Some((what, command)) = rendered_by(dir) {
        let name = dir.display().to_string();
        diags.push(file_error(
            &name,
            format!(
                "{what}, not manifests: render it with `{command} {name}` and scan the output \
                 (`{command} {name} | kubevigil scan -`); directory skipped"
            ),
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(file_error(
                &dir.display().to_string(),
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if ft.is_dir() {
            if !hidden {
                collect_dir(&path, out, diags);
            }
        } else if is_manifest_name(&path) {
            // A FIFO, socket or device named *.yaml would block the scan or never end: only
            // regular files (or symlinks to them) are loaded. A dangling symlink is loaded, and
            // its read error reported.
            match std::fs::metadata(&path) {
                Ok(m) if !m.is_file() => {
                    diags.push(not_regular(&path.display().to_string(), m.file_type()))
                }
                _ => out.push(path),
            }
        }
    }
}

fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml" | "yml" | "json")
    )
}

fn not_regular(name: &str, file_type: std::fs::FileType) -> Diagnostic {
    let what = if file_type.is_dir() {
        "a directory"
    } else {
        special_kind(file_type)
    };
    Diagnostic {
        level: DiagLevel::Note,
        file: name.to_string(),
        line: 0,
        col: 0,
        message: format!("{what}, not a regular file; skipped"),
    }
}

#[cfg(unix)]
fn special_kind(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

#[cfg(not(unix))]
fn special_kind(_: std::fs::FileType) -> &'static str {
    "something else"
}

fn over_limit(name: &str, size: u64, opts: &LoadOptions) -> Diagnostic {
    file_error(
        name,
        format!(
            "file is {size} bytes, over the {} byte limit; skipped",
            opts.max_file_bytes
        ),
    )
}

/// Loads one input's bytes (file content or stdin).
pub fn load_bytes_into(name: &str, bytes: &[u8], opts: &LoadOptions, loaded: &mut Loaded) {
    if bytes.len() as u64 > opts.max_file_bytes {
        loaded.diagnostics.push(file_error(
            name,
            format!(
                "input is over the {} byte limit; skipped",
                opts.max_file_bytes
            ),
        ));
        return;
    }
    match decode_text(bytes) {
        Ok(text) => load_text_into(name, &text, opts, loaded),
        Err((pos, message)) => loaded.diagnostics.push(Diagnostic {
            level: DiagLevel::Error,
            file: name.to_string(),
            line: pos.line,
            col: pos.col,
            message,
        }),
    }
}

/// Decodes an input as kubectl does: it reads every file and stdin through
/// `unicode.BOMOverride(unicode.UTF8.NewDecoder())` (golang.org/x/text/encoding/unicode; see
/// `FileVisitor.Visit` in k8s.io/cli-runtime `pkg/resource/visitor.go`), which drops a UTF-8 byte
/// order mark and transcodes UTF-16 with a byte order mark (either endianness) to UTF-8. Without
/// a byte order mark the input is UTF-8. Positions in errors count characters after the mark.
fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, (Pos, String)> {
    let text = if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        decode_utf16(rest, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        decode_utf16(rest, u16::from_be_bytes)?
    } else {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        refuse_binary(body)?;
        let text = std::str::from_utf8(body).map_err(|e| {
            (
                pos_at(body, e.valid_up_to()),
                "invalid UTF-8; skipped".into(),
            )
        })?;
        return Ok(Cow::Borrowed(text));
    };
    refuse_binary(text.as_bytes())?;
    Ok(Cow::Owned(text))
}

fn refuse_binary(bytes: &[u8]) -> Result<(), (Pos, String)> {
    match bytes.iter().take(8192).position(|&b| b == 0) {
        Some(i) => Err((
            pos_at(bytes, i),
            "binary data (NUL byte), not a YAML or JSON manifest; skipped".into(),
        )),
        None => Ok(()),
    }
}

fn decode_utf16(body: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, (Pos, String)> {
    let units = body.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    let mut out = String::with_capacity(body.len() / 2);
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => out.push(c),
            Err(e) => {
                return Err((
                    pos_at(out.as_bytes(), out.len()),
                    format!(
                        "invalid UTF-16 (unpaired surrogate {:#06x}); skipped",
                        e.unpaired_surrogate()
                    ),
                ));
            }
        }
    }
    if body.len() % 2 == 1 {
        return Err((
            pos_at(out.as_bytes(), out.len()),
            "invalid UTF-16 (odd number of bytes); skipped".into(),
        ));
    }
    Ok(out)
}

/// Loads YAML or JSON text, possibly many documents.
pub fn load_text_into(name: &str, text: &str, opts: &LoadOptions, loaded: &mut Loaded) {
    let file: Arc<str> = Arc::from(name);
    let yaml_from = if text.trim_start().starts_with('{') {
        load_json_stream(&file, text, opts, loaded)
    } else {
        0
    };
    for chunk in split_documents(text, yaml_from) {
        match yaml::parse_document_at(chunk.text, chunk.start, opts.limits) {
            Ok(None) => {}
            Ok(Some((value, spans))) => add_document(&file, value, spans, loaded),
            Err(err) => {
                // A JSON document the YAML parser refuses (tabs, say) may still be valid JSON.
                if looks_like_json(chunk.text) {
                    add_json_document(&file, chunk.text, chunk.start, loaded);
                    continue;
                }
                loaded.diagnostics.push(Diagnostic {
                    level: DiagLevel::Error,
                    file: name.to_string(),
                    line: err.line,
                    col: err.col,
                    message: format!("invalid YAML: {}", err.message),
                });
            }
        }
    }
}

/// Loads the stream of JSON values at the start of `text` (whitespace between them, or none:
/// `{...}{...}`), as apimachinery's `YAMLOrJSONDecoder` does for a stream that starts with `{`:
/// it decodes JSON values one after the other and, at the first one that is not valid JSON,
/// reads the rest of the stream as YAML, after skipping whitespace up to and including the first
/// line break (k8s.io/apimachinery `pkg/util/yaml/decoder.go`, `YAMLOrJSONDecoder.Decode` and
/// `consumeWhitespace`, since Kubernetes 1.33). Returns where the YAML part starts.
fn load_json_stream(file: &Arc<str>, text: &str, opts: &LoadOptions, loaded: &mut Loaded) -> usize {
    let text = &*replace_lone_surrogates(text);
    let is_json_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
    let mut end = 0;
    // Position of byte `end`, advanced incrementally (a stream may hold many objects).
    let mut end_pos = Pos { line: 1, col: 1 };
    while let Some(Ok(_)) = values.next() {
        let stop = values.byte_offset();
        let start = stop - text[end..stop].trim_start_matches(is_json_space).len();
        let json = &text[start..stop];
        let pos = end_pos.advance(&text.as_bytes()[end..start]);
        end_pos = pos.advance(json.as_bytes());
        // The YAML parser (JSON is YAML) gives every field its position; JSON it refuses, such as
        // tab indentation, is read without positions below the document.
        match yaml::parse_document_at(json, pos, opts.limits) {
            Ok(Some((value, spans))) => add_document(file, value, spans, loaded),
            Ok(None) => {}
            Err(_) => add_json_document(file, json, pos, loaded),
        }
        end = stop;
    }
    if text[end..].trim_start_matches(is_json_space).is_empty() {
        return text.len();
    }
    let rest = &text[end..];
    let skipped = rest
        .char_indices()
        .find(|&(_, c)| c == '\n' || !c.is_whitespace())
        .map_or(rest.len(), |(i, c)| if c == '\n' { i + 1 } else { i });
    end + skipped
}

/// Adds a document parsed as JSON (positions only for the document itself), or reports why it is
/// not JSON.
fn add_json_document(file: &Arc<str>, text: &str, start: Pos, loaded: &mut Loaded) {
    match serde_json::from_str::<Value>(&replace_lone_surrogates(text)) {
        Ok(value) => add_document(file, value, SpanNode::leaf(start), loaded),
        Err(e) => {
            // serde_json counts lines at LF only and columns in bytes (the column of the offending
            // byte, 1-based): find that byte, and give its position as everywhere else.
            let line_start = match e.line() {
                0 | 1 => 0,
                n => text
                    .match_indices('\n')
                    .nth(n - 2)
                    .map_or(text.len(), |(i, _)| i + 1),
            };
            let at = (line_start + e.column().saturating_sub(1)).min(text.len());
            let pos = start.advance(&text.as_bytes()[..at]);
            loaded.diagnostics.push(Diagnostic {
                level: DiagLevel::Error,
                file: file.to_string(),
                line: pos.line,
                col: pos.col,
                message: format!("invalid JSON: {e}"),
            });
        }
    }
}

/// Go's encoding/json, which decodes JSON input for kubectl, reads a `\uXXXX` escape of a UTF-16
/// surrogate that is not part of a valid pair as U+FFFD (`unquoteBytes` in encoding/json
/// `decode.go`); serde_json refuses it. The escape is rewritten to `\ufffd` (the same length, so
/// every position stays valid); a valid pair is kept.
fn replace_lone_surrogates(text: &str) -> Cow<'_, str> {
    fn unit_at(b: &[u8], i: usize) -> Option<u16> {
        let hex = b.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    }
    let b = text.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = unit_at(b, i) else {
            i += 2; // another escape, `\\` included
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        let pair = high && unit_at(b, i + 6).is_some_and(|u| (0xDC00..0xE000).contains(&u));
        if pair {
            i += 12;
        } else if (0xD800..0xE000).contains(&unit) {
            out.get_or_insert_with(|| b.to_vec())[i + 2..i + 6].copy_from_slice(b"fffd");
            i += 6;
        } else {
            i += 6;
        }
    }
    match out {
        // Only ASCII hex digits were replaced by ASCII: still UTF-8.
        Some(bytes) => Cow::Owned(String::from_utf8(bytes).expect("ASCII replaced by ASCII")),
        None => Cow::Borrowed(text),
    }
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

fn add_document(file: &Arc<str>, value: Value, spans: SpanNode, loaded: &mut Loaded) {
    let pos = spans.pos;
    match value {
        Value::Null => {}
        Value::Object(_) => add_object(file, value, spans, loaded),
        _ => loaded.diagnostics.push(Diagnostic {
            level: DiagLevel::Note,
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            message: "document is not a mapping; skipped".into(),
        }),
    }
}

fn add_object(file: &Arc<str>, mut value: Value, mut spans: SpanNode, loaded: &mut Loaded) {
    let pos = spans.pos;
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let is_list = kind.ends_with("List") && value.get("items").is_some_and(Value::is_array);
    if is_list {
        // `kind: List` and typed lists (PodList, ...): items of a typed list may omit their
        // apiVersion/kind, which are then implied by the list itself.
        let list_api = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let item_kind = (kind != "List").then(|| kind.trim_end_matches("List").to_string());
        let item_spans = spans
            .take_entry(&value, "items")
            .map(|s| s.children)
            .unwrap_or_default();
        let items = match value.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let mut item_spans = item_spans.into_iter();
        for mut item in items {
            let item_span = item_spans.next().unwrap_or_else(|| SpanNode::leaf(pos));
            if let (Some(obj), Some(k)) = (item.as_object_mut(), item_kind.as_ref()) {
                if !obj.contains_key("kind") {
                    obj.insert("kind".into(), Value::String(k.clone()));
                }
                if let (false, Some(api)) = (obj.contains_key("apiVersion"), list_api.as_ref()) {
                    obj.insert("apiVersion".into(), Value::String(api.clone()));
                }
            }
            if item.is_object() {
                add_object(file, item, item_span, loaded);
            }
        }
        return;
    }
    let source = Source {
        file: file.clone(),
        line: pos.line,
        col: pos.col,
    };
    match Object::from_value(value, spans, source) {
        Some(obj) => loaded.inventory.objects.push(obj),
        None => loaded.diagnostics.push(Diagnostic {
            level: DiagLevel::Note,
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            message: "document has no apiVersion/kind; skipped".into(),
        }),
    }
}

/// One document of a YAML stream, as kubectl's document splitter cuts it.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub text: &'a str,
    /// Where the chunk starts in the file.
    pub start: Pos,
}

/// Splits a YAML stream, from byte `from` on, into documents at `---` and `...` marker lines, so
/// that an error in one document does not stop the parse of the next ones.
///
/// As in apimachinery's `YAMLReader.Read` (`pkg/util/yaml/decoder.go`), a `---` line with nothing
/// but a comment after it only separates documents, and each document is parsed as a stream of
/// its own; go-yaml skips a byte order mark at the start of a stream (`yaml_parser_determine_encoding`
/// in go-yaml v2 `readerc.go`), so a document that starts with one is read, not skipped.
pub fn split_documents(text: &str, from: usize) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let first = pos_at(text.as_bytes(), from);
    let mut push = |start: usize, end: usize, line: u32, col: u32| {
        let body = &text[start..end];
        let body = body.strip_prefix('\u{feff}').unwrap_or(body);
        if !body.is_empty() {
            chunks.push(Chunk {
                text: body,
                start: Pos { line, col },
            });
        }
    };
    let (mut start, mut start_line, mut start_col) = (from, first.line, first.col);
    let mut offset = from;
    let mut line_no = first.line;
    for line in text[from..].split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let marker = trimmed
            .strip_prefix("---")
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        let bare_marker = marker.is_some_and(|rest| {
            let rest = rest.trim_start_matches([' ', '\t']);
            rest.is_empty() || rest.starts_with('#')
        });
        let is_end = trimmed.strip_prefix("...").is_some_and(|rest| {
            let rest = rest.trim_start_matches([' ', '\t']);
            rest.is_empty() || rest.starts_with('#')
        });
        if marker.is_some() && offset > start {
            push(start, offset, start_line, start_col);
        }
        if marker.is_some() {
            (start, start_line, start_col) = (offset, line_no, 1);
        }
        offset += line.len();
        line_no = Pos {
            line: line_no,
            col: 1,
        }
        .advance(line.as_bytes())
        .line;
        if is_end {
            push(start, offset - line.len(), start_line, start_col);
        }
        if is_end || bare_marker {
            (start, start_line, start_col) = (offset, line_no, 1);
        }
    }
    if start < text.len() {
        push(start, text.len(), start_line, start_col);
    }
    chunks
}

/// The 1-based line and column (in characters) of byte `index`.
fn pos_at(bytes: &[u8], index: usize) -> Pos {
    Pos { line: 1, col: 1 }.advance(&bytes[..index.min(bytes.len())])
}

fn file_error(name: &str, message: String) -> Diagnostic {
    Diagnostic {
        level: DiagLevel::Error,
        file: name.to_string(),
        line: 0,
        col: 0,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
        loaded
    }

    #[test]
    fn multi_doc_with_error_in_the_middle() {
        let l = load(
            "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nkey: [unclosed\n---\napiVersion: v1\nkind: B\nmetadata:\n  name: b\n",
        );
        assert_eq!(l.inventory.objects.len(), 2);
        assert_eq!(l.inventory.objects[1].source.file().unwrap().line, 7);
        let err = l
            .diagnostics
            .iter()
            .find(|d| d.level == DiagLevel::Error)
            .unwrap();
        assert!(err.line >= 5, "{err}");
    }

    #[test]
    fn lists_expand_with_positions() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s1\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: d1\n    namespace: prod\n";
        let l = load(text);
        let names: Vec<_> = l
            .inventory
            .objects
            .iter()
            .map(|o| {
                (
                    o.kind.as_str(),
                    o.name.as_str(),
                    o.source.file().unwrap().line,
                )
            })
            .collect();
        assert_eq!(names, vec![("Service", "s1", 4), ("Deployment", "d1", 8)]);
        assert_eq!(l.inventory.objects[1].namespace.as_deref(), Some("prod"));
    }

    #[test]
    fn typed_list_items_inherit_kind() {
        let l = load(r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"p"}}]}"#);
        assert_eq!(l.inventory.objects[0].kind, "Pod");
        assert_eq!(l.inventory.objects[0].api_version, "v1");
    }

    #[test]
    fn documents_without_kind_are_noted_and_empty_ignored() {
        let l = load("---\n# only a comment\n---\nfoo: bar\n---\n");
        assert!(l.inventory.objects.is_empty());
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(l.diagnostics[0].level, DiagLevel::Note);
    }

    #[test]
    fn binary_input_is_refused_with_location() {
        let mut loaded = Loaded::default();
        load_bytes_into(
            "b.yaml",
            b"abc\n\x00\x01",
            &LoadOptions::default(),
            &mut loaded,
        );
        assert!(loaded.has_errors());
        assert_eq!(loaded.diagnostics[0].line, 2);
    }

    #[test]
    fn byte_budget_bounds_bytes_in_flight_and_runs_oversized_requests_alone() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let budget = ByteBudget::new(100);
        let (in_flight, peak, alone) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (budget, in_flight, peak, alone) = (&budget, &in_flight, &peak, &alone);
                s.spawn(move || {
                    for i in 0..200u64 {
                        let size = if (i + t) % 17 == 0 {
                            1000
                        } else {
                            10 + (i * 7 + t) % 50
                        };
                        let _permit = budget.acquire(size);
                        let charged = size.min(100);
                        let now = in_flight.fetch_add(charged, Ordering::SeqCst) + charged;
                        peak.fetch_max(now, Ordering::SeqCst);
                        if size > 100 && now != charged {
                            alone.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::yield_now();
                        in_flight.fetch_sub(charged, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
        assert_eq!(
            alone.load(Ordering::SeqCst),
            0,
            "an oversized file shared the budget"
        );
        assert_eq!(budget.state.lock().unwrap().in_flight, 0);
    }

    #[test]
    fn json_with_tabs_falls_back_to_json_parser() {
        let l = load(
            "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"c\"}\n}\n",
        );
        assert_eq!(l.inventory.objects.len(), 1, "{:?}", l.diagnostics);
    }
}
