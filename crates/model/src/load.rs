//! Loading manifests from files, directories and stdin into an [`Inventory`].
//!
//! Every problem becomes a [`Diagnostic`] with file:line:column, and loading goes on with the
//! next document and the next file: one malformed manifest never hides the others.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::object::{Inventory, Object, Source};
use crate::span::SpanNode;
use crate::text::Escaped;
use crate::yaml::{self, Limits};

/// Largest input accepted from one file or from stdin, by default.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

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
    pub limits: Limits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
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
pub fn load_paths<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        let path = path.as_ref();
        if path == Path::new("-") {
            let mut buf = Vec::new();
            let limit = opts.max_file_bytes;
            match std::io::stdin()
                .lock()
                .take(limit + 1)
                .read_to_end(&mut buf)
            {
                Ok(_) => load_bytes_into("<stdin>", &buf, opts, &mut loaded),
                Err(e) => loaded
                    .diagnostics
                    .push(file_error("<stdin>", format!("cannot read: {e}"))),
            }
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                collect_dir(path, &mut files, &mut loaded.diagnostics);
                files.sort();
                load_files_parallel(&files, opts, &mut loaded);
            }
            Ok(_) => load_file_into(path, opts, &mut loaded),
            Err(e) => {
                let name = path.display().to_string();
                loaded
                    .diagnostics
                    .push(file_error(&name, format!("cannot read: {e}")));
            }
        }
    }
    loaded
}

/// Loads many files on all available cores; the result is in file order, as if loaded serially.
fn load_files_parallel(files: &[PathBuf], opts: &LoadOptions, loaded: &mut Loaded) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if workers <= 1 {
        for f in files {
            load_file_into(f, opts, loaded);
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<(usize, Loaded)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        let mut part = Loaded::default();
                        load_file_into(f, opts, &mut part);
                        mine.push((i, part));
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
    for (_, part) in parts {
        loaded.inventory.objects.extend(part.inventory.objects);
        loaded.diagnostics.extend(part.diagnostics);
    }
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
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
            out.push(path);
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

fn load_file_into(path: &Path, opts: &LoadOptions, loaded: &mut Loaded) {
    let name = path.display().to_string();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > opts.max_file_bytes {
        loaded.diagnostics.push(file_error(
            &name,
            format!(
                "file is {size} bytes, over the {} byte limit; skipped",
                opts.max_file_bytes
            ),
        ));
        return;
    }
    match std::fs::read(path) {
        Ok(bytes) => load_bytes_into(&name, &bytes, opts, loaded),
        Err(e) => loaded
            .diagnostics
            .push(file_error(&name, format!("cannot read: {e}"))),
    }
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
    if let Some(i) = bytes.iter().take(8192).position(|&b| b == 0) {
        let (line, col) = line_col(bytes, i);
        loaded.diagnostics.push(Diagnostic {
            level: DiagLevel::Error,
            file: name.to_string(),
            line,
            col,
            message: "binary data (NUL byte), not a YAML or JSON manifest; skipped".into(),
        });
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, col) = line_col(bytes, e.valid_up_to());
            loaded.diagnostics.push(Diagnostic {
                level: DiagLevel::Error,
                file: name.to_string(),
                line,
                col,
                message: "invalid UTF-8; skipped".into(),
            });
            return;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    load_text_into(name, text, opts, loaded);
}

/// Loads YAML or JSON text, possibly many documents.
pub fn load_text_into(name: &str, text: &str, opts: &LoadOptions, loaded: &mut Loaded) {
    let file: Arc<str> = Arc::from(name);
    for chunk in split_documents(text) {
        match yaml::parse_document(chunk.text, chunk.first_line - 1, opts.limits) {
            Ok(None) => {}
            Ok(Some((value, spans))) => add_document(&file, value, spans, loaded),
            Err(err) => {
                // A JSON document the YAML parser refuses (tabs, say) may still be valid JSON.
                if looks_like_json(chunk.text) {
                    match serde_json::from_str::<Value>(chunk.text) {
                        Ok(value) => {
                            let pos = crate::span::Pos {
                                line: chunk.first_line,
                                col: 1,
                            };
                            add_document(&file, value, SpanNode::leaf(pos), loaded);
                            continue;
                        }
                        Err(json_err) => {
                            loaded.diagnostics.push(Diagnostic {
                                level: DiagLevel::Error,
                                file: name.to_string(),
                                line: json_err.line() as u32 + chunk.first_line - 1,
                                col: json_err.column() as u32,
                                message: format!("invalid JSON: {json_err}"),
                            });
                            continue;
                        }
                    }
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

struct Chunk<'a> {
    text: &'a str,
    /// 1-based line of the chunk's first line in the file.
    first_line: u32,
}

/// Splits a YAML stream into documents at `---` and `...` marker lines, so that an error in
/// one document does not stop the parse of the next ones.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    let mut offset = 0usize;
    let mut line_no = 1u32;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let is_start =
            trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t");
        let is_end = trimmed == "...";
        if is_start && offset > start {
            chunks.push(Chunk {
                text: &text[start..offset],
                first_line: start_line,
            });
            start = offset;
            start_line = line_no;
        }
        offset += line.len();
        line_no += 1;
        if is_end {
            chunks.push(Chunk {
                text: &text[start..offset - line.len()],
                first_line: start_line,
            });
            start = offset;
            start_line = line_no;
        }
    }
    if start < text.len() {
        chunks.push(Chunk {
            text: &text[start..],
            first_line: start_line,
        });
    }
    chunks
}

fn line_col(bytes: &[u8], index: usize) -> (u32, u32) {
    let before = &bytes[..index.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() as u32 + 1;
    (line, col)
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
        assert_eq!(l.inventory.objects[1].source.line, 7);
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
            .map(|o| (o.kind.as_str(), o.name.as_str(), o.source.line))
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
    fn json_with_tabs_falls_back_to_json_parser() {
        let l = load(
            "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"c\"}\n}\n",
        );
        assert_eq!(l.inventory.objects.len(), 1, "{:?}", l.diagnostics);
    }
}
