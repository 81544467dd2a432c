//! YAML (and JSON, which is YAML) to `serde_json::Value` with a parallel span tree.
//!
//! Scalars resolve as Kubernetes resolves them: `kubectl` and the API machinery convert YAML to
//! JSON with sigs.k8s.io/yaml, which uses go-yaml v2's YAML 1.1 rules (see go-yaml v2
//! `resolve.go`): `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0777` is octal, `~` is null.
//! The parser is libyaml ([`crate::libyaml`]): go-yaml v2 is a line-by-line Go port of libyaml,
//! so both accept the same documents and read them to the same events, which yaml-rust2 did not
//! (flow sequences closed at the key's indentation, `key:<TAB>value`, quoted scalars continued at
//! the key's indentation were refused).
//! Aliases are expanded here, under a node budget, so a "billion laughs" document is refused
//! instead of exhausting memory; nesting depth is capped for the same reason.

use std::collections::HashMap;

use crate::libyaml::{EventParser, YamlEvent};
use serde_json::{Map, Number, Value};

use crate::span::{Pos, SpanNode};

/// Limits that keep hostile input from hanging or exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum number of nodes produced by alias expansion in one document.
    pub max_alias_nodes: usize,
    /// Maximum nesting depth of mappings and sequences.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_alias_nodes: 1_000_000,
            max_depth: 200,
        }
    }
}

/// A parse error with its position in the source (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct YamlError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// One parsed document: `None` when the document is empty (only comments or nothing).
pub type Document = Option<(Value, SpanNode)>;

/// Parses one YAML document. `line_offset` is added to every reported line, so a chunk cut out
/// of a multi-document file reports positions in the original file.
pub fn parse_document(text: &str, line_offset: u32, limits: Limits) -> Result<Document, YamlError> {
    parse_document_at(
        text,
        Pos {
            line: line_offset + 1,
            col: 1,
        },
        limits,
    )
}

/// Parses one YAML document that starts at `start` in its file (possibly in the middle of a line,
/// after a JSON object): positions on the text's first line are shifted by `start.col - 1`.
pub fn parse_document_at(text: &str, start: Pos, limits: Limits) -> Result<Document, YamlError> {
    let mut builder = Builder::new(text, start, limits);
    let mut parser = EventParser::new(text);
    // The whole stream is read: content after the first document is seen (and refused), not
    // dropped.
    loop {
        match parser.next() {
            Ok((YamlEvent::StreamEnd, _)) => break,
            Ok((event, index)) => {
                builder.on_event(event, index);
                if let Some(err) = builder.error.take() {
                    return Err(err);
                }
            }
            Err(e) => {
                let pos = builder.pos(e.index);
                return Err(YamlError {
                    line: pos.line,
                    col: pos.col,
                    message: e.message,
                });
            }
        }
    }
    Ok(builder.root)
}

enum Frame {
    Map {
        /// The entries in the order written, repeats and merged entries included; the map is
        /// built once at its end ([`build_map`]), each key hashed once, at its exact size.
        entries: Vec<(String, Value)>,
        spans: Vec<SpanNode>,
        /// The key read, its position, and whether it is a merge key (a plain, untagged `<<`).
        pending_key: Option<(String, Pos, bool)>,
        pos: Pos,
        anchor: Option<String>,
    },
    Seq {
        value: Vec<Value>,
        spans: Vec<SpanNode>,
        pos: Pos,
        anchor: Option<String>,
    },
}

struct Builder<'t> {
    text: &'t str,
    /// The last position computed: a byte index of `text` and its position (marks mostly move
    /// forward, so positions are computed incrementally).
    cursor: std::cell::Cell<(usize, Pos)>,
    stack: Vec<Frame>,
    anchors: HashMap<String, (Value, SpanNode, usize)>,
    root: Document,
    error: Option<YamlError>,
    /// Where the text starts in its file.
    start: Pos,
    limits: Limits,
    alias_nodes: usize,
    /// The scalar being completed is a plain, untagged `<<` (a merge key when it is a key; go-yaml
    /// v2 `isMerge`): a quoted `"<<"` is an ordinary key.
    merge_key: bool,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str, start: Pos, limits: Limits) -> Self {
        Builder {
            text,
            cursor: std::cell::Cell::new((0, start)),
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            error: None,
            start,
            limits,
            alias_nodes: 0,
            merge_key: false,
        }
    }

    /// A parser mark's byte index as a position in the file. libyaml's own line and column are
    /// not used: it also breaks lines at U+0085, U+2028 and U+2029, which editors and every other
    /// position this project reports do not.
    fn pos(&self, index: u64) -> Pos {
        let mut index = usize::try_from(index)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while !self.text.is_char_boundary(index) {
            index -= 1;
        }
        let (mut at, mut pos) = self.cursor.get();
        if index < at {
            (at, pos) = (0, self.start);
        }
        let pos = pos.advance(&self.text.as_bytes()[at..index]);
        self.cursor.set((index, pos));
        pos
    }

    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: pos.line,
                col: pos.col,
                message,
            });
        }
        self.stack.clear();
    }

    fn push_frame(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= self.limits.max_depth {
            let max = self.limits.max_depth;
            self.fail(pos, format!("nesting deeper than {max} levels"));
            return;
        }
        self.stack.push(frame);
    }

    /// Attaches a finished node to its parent (or makes it the document root).
    fn complete(&mut self, value: Value, span: SpanNode, anchor: Option<String>) {
        if let Some(anchor) = anchor {
            let size = count_nodes(&value);
            self.anchors
                .insert(anchor, (value.clone(), span.clone(), size));
        }
        match self.stack.last_mut() {
            None if self.root.is_some() => self.fail(
                span.pos,
                "a second document without a `---` line before it".into(),
            ),
            None => self.root = Some((value, span)),
            Some(Frame::Seq {
                value: items,
                spans,
                ..
            }) => {
                items.push(value);
                spans.push(span);
            }
            Some(Frame::Map {
                entries,
                spans,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    // This node is a key.
                    let key = match value {
                        Value::String(s) => s,
                        Value::Null => "null".to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        other => {
                            let pos = span.pos;
                            let _ = other;
                            self.fail(pos, "complex mapping keys are not supported".into());
                            return;
                        }
                    };
                    *pending_key = Some((key, span.pos, std::mem::take(&mut self.merge_key)));
                }
                Some((key, key_pos, is_merge)) => {
                    let entry_span = SpanNode {
                        pos: key_pos,
                        children: span.children,
                    };
                    if is_merge {
                        merge_into(entries, spans, value, entry_span);
                    } else {
                        entries.push((key, value));
                        spans.push(entry_span);
                    }
                }
            },
        }
    }
}

/// YAML merge keys (`<<: *base`), as go-yaml v2 applies them (`decoder.merge` in
/// sigs.k8s.io/yaml/goyaml.v2 `decode.go`): the merged mapping is decoded *into* the mapping
/// being built, so it overrides keys written before the `<<` and is overridden by keys after it;
/// of a sequence of mappings, the first wins (they are applied last to first). PyYAML lets
/// explicit keys win wherever they are; kubectl's answer is kept.
fn merge_into(
    entries: &mut Vec<(String, Value)>,
    spans: &mut Vec<SpanNode>,
    value: Value,
    span: SpanNode,
) {
    let mut sources: Vec<(Value, SpanNode)> = match value {
        Value::Array(items) => items
            .into_iter()
            .zip(
                span.children
                    .into_iter()
                    .chain(std::iter::repeat_with(SpanNode::default)),
            )
            .collect(),
        other => vec![(other, span)],
    };
    sources.reverse();
    for (source, source_span) in sources {
        let Value::Object(source_entries) = source else {
            continue;
        };
        let mut child_spans = source_span.children.into_iter();
        for (k, v) in source_entries {
            let s = child_spans
                .next()
                .unwrap_or_else(|| SpanNode::leaf(source_span.pos));
            entries.push((k, v));
            spans.push(s);
        }
    }
}

/// The mapping of `entries` (in the order written) as go-yaml builds it: a repeated key keeps
/// the place of its first occurrence and takes the value (and position) of its last, whether
/// written or merged. Each key is hashed once. Returns the map and the positions of its
/// entries, in the map's order.
fn build_map(
    entries: Vec<(String, Value)>,
    spans: Vec<SpanNode>,
) -> (Map<String, Value>, Vec<SpanNode>) {
    use serde_json::map::Entry;
    let mut map = Map::with_capacity(entries.len());
    // The entries whose key was already there, with the key.
    let mut repeats: Vec<(usize, String)> = Vec::new();
    for (i, (key, value)) in entries.into_iter().enumerate() {
        match map.entry(key) {
            Entry::Vacant(e) => {
                e.insert(value);
            }
            Entry::Occupied(mut e) => {
                repeats.push((i, e.key().clone()));
                e.insert(value);
            }
        }
    }
    if repeats.is_empty() {
        return (map, spans);
    }
    let place: HashMap<&str, usize> = map
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut placed: Vec<SpanNode> = Vec::with_capacity(map.len());
    let mut repeats = repeats.into_iter().peekable();
    for (i, span) in spans.into_iter().enumerate() {
        match repeats.next_if(|(r, _)| *r == i) {
            // The key's first occurrence came earlier: its place is filled.
            Some((_, key)) => placed[place[key.as_str()]] = span,
            None => placed.push(span),
        }
    }
    (map, placed)
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl Builder<'_> {
    fn on_event(&mut self, event: YamlEvent, index: u64) {
        let pos = self.pos(index);
        match event {
            YamlEvent::Scalar {
                anchor,
                tag,
                value,
                plain,
            } => {
                self.merge_key = plain && tag.is_none() && value == "<<";
                let value = resolve_scalar(value, plain, tag.as_deref());
                self.complete(value, SpanNode::leaf(pos), anchor);
                self.merge_key = false;
            }
            YamlEvent::SequenceStart { anchor } => self.push_frame(
                Frame::Seq {
                    value: Vec::new(),
                    spans: Vec::new(),
                    pos,
                    anchor,
                },
                pos,
            ),
            YamlEvent::MappingStart { anchor } => self.push_frame(
                Frame::Map {
                    entries: Vec::new(),
                    spans: Vec::new(),
                    pending_key: None,
                    pos,
                    anchor,
                },
                pos,
            ),
            // Containers are stored at their exact size: the inventory is kept for the whole run,
            // and growth slack was about a quarter of its weight.
            YamlEvent::SequenceEnd | YamlEvent::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    mut value,
                    mut spans,
                    pos,
                    anchor,
                }) => {
                    value.shrink_to_fit();
                    spans.shrink_to_fit();
                    self.complete(
                        Value::Array(value),
                        SpanNode {
                            pos,
                            children: spans,
                        },
                        anchor,
                    )
                }
                Some(Frame::Map {
                    entries,
                    spans,
                    pos,
                    anchor,
                    ..
                }) => {
                    let (value, mut spans) = build_map(entries, spans);
                    // The mapping starts at its first key.
                    let pos = spans.first().map_or(pos, |s| s.pos);
                    spans.shrink_to_fit();
                    self.complete(
                        Value::Object(value),
                        SpanNode {
                            pos,
                            children: spans,
                        },
                        anchor,
                    )
                }
                None => {}
            },
            YamlEvent::Alias { anchor } => match self.anchors.get(&anchor) {
                Some((value, span, size)) => {
                    self.alias_nodes += size;
                    if self.alias_nodes > self.limits.max_alias_nodes {
                        let max = self.limits.max_alias_nodes;
                        self.fail(
                            pos,
                            format!(
                                "alias expansion exceeds {max} nodes (YAML bomb?); document refused"
                            ),
                        );
                        return;
                    }
                    let (value, mut span) = (value.clone(), span.clone());
                    span.pos = pos;
                    self.complete(value, span, None);
                }
                None => self.fail(pos, format!("unknown anchor '{anchor}' referenced")),
            },
            YamlEvent::Boundary | YamlEvent::StreamEnd => {}
        }
    }
}

/// Resolves a scalar per go-yaml v2 (what sigs.k8s.io/yaml, and so kubectl, uses).
fn resolve_scalar(text: String, plain: bool, tag: Option<&str>) -> Value {
    if let Some(suffix) = tag.and_then(|t| t.strip_prefix("tag:yaml.org,2002:")) {
        match suffix {
            "str" | "timestamp" => return Value::String(text),
            "binary" => return Value::String(decode_binary(text)),
            "null" => return Value::Null,
            "bool" | "int" | "float" => {
                return resolve_plain(&text).unwrap_or(Value::String(text));
            }
            _ => {}
        }
    }
    // go-yaml v2 resolves only untagged plain scalars; another tag (`!Ref`, `!`) keeps the text.
    if !plain || tag.is_some() {
        return Value::String(text);
    }
    resolve_plain(&text).unwrap_or(Value::String(text))
}

/// go-yaml v2 decodes `!!binary` (base64, line breaks allowed) to a Go string, which JSON then
/// encodes with U+FFFD for bytes that are not UTF-8. Undecodable text stays as written (go-yaml
/// refuses the document; keeping the text loses nothing a check needs).
fn decode_binary(text: String) -> String {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => text,
    }
}

/// go-yaml v2 `resolve` for an untagged plain scalar: the first character picks what it may be
/// (`resolveTable`); `None` keeps it a string.
fn resolve_plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Some(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Some(Value::Bool(false));
        }
        // Not representable in JSON (sigs.k8s.io/yaml fails to convert them): keep the text.
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return None,
        _ => {}
    }
    match text.as_bytes()[0] {
        // strconv.ParseFloat on the text as written.
        b'.' => parse_go_float(text)
            .and_then(Number::from_f64)
            .map(Value::Number),
        b'0'..=b'9' | b'-' | b'+' => {
            // Timestamps (`2001-12-14`) resolve to a timestamp that is decoded into an
            // interface{} as its text: no number can start with four digits and a dash anyway.
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(n) = parse_int(&plain) {
                return Some(Value::Number(n));
            }
            if is_yaml_style_float(&plain) {
                return parse_go_float(&plain)
                    .and_then(Number::from_f64)
                    .map(Value::Number);
            }
            None
        }
        _ => None,
    }
}

/// Go's strconv.ParseInt(s, 0, 64), then ParseUint(s, 0, 64): optional sign, `0x`, `0o`, `0b`,
/// leading-`0` octal (underscores are already removed).
fn parse_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    // from_str_radix accepts a sign of its own; Go does not after the prefix.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        // -9223372036854775808 is the most negative int64.
        (magnitude <= i64::MIN.unsigned_abs())
            .then(|| (magnitude as i128).wrapping_neg() as i64)
            .map(Number::from)
    } else {
        Some(Number::from(magnitude))
    }
}

/// go-yaml v2.4's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    let mantissa_end = b
        .iter()
        .position(|&c| c == b'e' || c == b'E')
        .unwrap_or(b.len());
    let (mantissa, exponent) = b.split_at(mantissa_end);
    let digits = |x: &[u8]| !x.is_empty() && x.iter().all(u8::is_ascii_digit);
    let mantissa_ok = match mantissa.iter().position(|&c| c == b'.') {
        Some(0) => digits(&mantissa[1..]),
        Some(dot) => digits(&mantissa[..dot]) && mantissa[dot + 1..].iter().all(u8::is_ascii_digit),
        None => digits(mantissa),
    };
    let exponent_ok = match exponent {
        [] => true,
        [_, b'-' | b'+', rest @ ..] | [_, rest @ ..] => digits(rest),
    };
    mantissa_ok && exponent_ok
}

/// Go's strconv.ParseFloat for the decimal forms that reach it (no `inf`/`nan` words, which
/// Rust would also accept).
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if body
        .bytes()
        .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        parse_document(text, 0, Limits::default())
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn scalars_resolve_like_go_yaml_v2() {
        let v = parse(
            "a: yes\nb: 'yes'\nc: 0777\nd: 12\ne: 1.5\nf: ~\ng: 0x1F\nh: 1e3\ni: v1.29\nj: -3\nk: \"12\"\n",
        );
        assert_eq!(
            v,
            json!({"a": true, "b": "yes", "c": 511, "d": 12, "e": 1.5, "f": null, "g": 31, "h": 1000.0, "i": "v1.29", "j": -3, "k": "12"})
        );
    }

    #[test]
    fn spans_point_at_keys() {
        let text =
            "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx\n";
        let (value, spans) = parse_document(text, 10, Limits::default())
            .unwrap()
            .unwrap();
        let p = crate::span::FieldPath::parse_keys("spec.containers")
            .index(0)
            .key("image");
        assert_eq!(spans.pos_of(&value, &p), Pos { line: 16, col: 5 });
        let dup = "a: 1\nb: 2\na: 3\n";
        let (value, spans) = parse_document(dup, 0, Limits::default()).unwrap().unwrap();
        assert_eq!(value, serde_json::json!({"a": 3, "b": 2}));
        let key = |k| crate::span::FieldPath::parse_keys(k);
        assert_eq!(spans.pos_of(&value, &key("a")).line, 3);
        assert_eq!(spans.pos_of(&value, &key("b")).line, 2);
    }

    #[test]
    fn merge_keys_and_aliases() {
        let v = parse("base: &b {x: 1, z: 2}\nobj:\n  <<: *b\n  z: 3\n");
        assert_eq!(v["obj"], json!({"z": 3, "x": 1}));
        // A key keeps the place of its first occurrence and the value and position of its
        // last, written or merged.
        let text = "base: &b {x: 1, z: 2}\nobj:\n  z: 0\n  <<: *b\n  z: 3\n  w: 4\n  x: 5\n";
        let (value, spans) = parse_document(text, 0, Limits::default()).unwrap().unwrap();
        let keys: Vec<&String> = value["obj"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "x", "w"]);
        assert_eq!(value["obj"], json!({"z": 3, "x": 5, "w": 4}));
        let at = |k: &str| {
            let p = crate::span::FieldPath::parse_keys("obj").key(k);
            spans.pos_of(&value, &p).line
        };
        assert_eq!((at("z"), at("x"), at("w")), (5, 7, 6));
    }

    #[test]
    fn yaml_bomb_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse_document(&doc, 0, Limits::default()).unwrap_err();
        assert!(err.message.contains("YAML bomb"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "[".repeat(5000) + &"]".repeat(5000);
        let err = parse_document(&doc, 0, Limits::default()).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion limit"),
            "{err}"
        );
    }

    #[test]
    fn content_after_the_document_is_an_error_not_dropped() {
        // The parser used to stop after the first node and drop the rest of the text silently.
        for (text, line) in [
            ("{a: 1} {b: 2}\n", 1),
            ("[1]\n[2]\n", 2),
            ("a: 1\n... # end\nb: 2\n", 3),
        ] {
            let err = parse_document(text, 0, Limits::default()).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_document("a: b\n  c: d\n", 4, Limits::default()).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
    }
}
