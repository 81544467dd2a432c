//! YAML (and JSON, which is YAML) to `serde_json::Value` with a parallel span tree.
//!
//! Scalars resolve as Kubernetes resolves them: `kubectl` and the API machinery convert YAML to
//! JSON with sigs.k8s.io/yaml, which uses go-yaml v2's YAML 1.1 rules (see go-yaml v2
//! `resolve.go`): `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0777` is octal, `~` is null.
//! Aliases are expanded here, under a node budget, so a "billion laughs" document is refused
//! instead of exhausting memory; nesting depth is capped for the same reason.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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
    let mut builder = Builder::new(start, start.advance(text.as_bytes()), limits);
    let mut parser = Parser::new_from_str(text);
    // Multi-document mode: content after the first document is seen (and refused), not dropped.
    let result = parser.load(&mut builder, true);
    if let Some(err) = builder.error.take() {
        return Err(err);
    }
    if let Err(e) = result {
        let pos = builder.pos(*e.marker());
        return Err(YamlError {
            line: pos.line,
            col: pos.col,
            message: e.info().to_string(),
        });
    }
    Ok(builder.root)
}

enum Frame {
    Map {
        value: Map<String, Value>,
        spans: Vec<SpanNode>,
        pending_key: Option<(String, Pos)>,
        pos: Pos,
        anchor: usize,
    },
    Seq {
        value: Vec<Value>,
        spans: Vec<SpanNode>,
        pos: Pos,
        anchor: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, SpanNode, usize)>,
    root: Document,
    error: Option<YamlError>,
    /// Where the text starts in its file.
    start: Pos,
    /// Just past the text's last character.
    end: Pos,
    limits: Limits,
    alias_nodes: usize,
}

impl Builder {
    fn new(start: Pos, end: Pos, limits: Limits) -> Self {
        Builder {
            end,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            error: None,
            start,
            limits,
            alias_nodes: 0,
        }
    }

    /// A parser mark (1-based line, 0-based column in characters) as a position in the file.
    fn pos(&self, mark: Marker) -> Pos {
        let line = (mark.line() as u32).max(1);
        let shift = if line == 1 {
            self.start.col.saturating_sub(1)
        } else {
            0
        };
        let pos = Pos {
            line: (line + self.start.line).saturating_sub(1).max(1),
            col: mark.col() as u32 + 1 + shift,
        };
        // The scanner marks some nodes and errors at the end of the input one line further down,
        // as if the text ended with a line break: keep every position inside the text.
        pos.min(self.end)
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
    fn complete(&mut self, value: Value, span: SpanNode, anchor: usize) {
        if anchor != 0 {
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
                value: map,
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
                    *pending_key = Some((key, span.pos));
                }
                Some((key, key_pos)) => {
                    let entry_span = SpanNode {
                        pos: key_pos,
                        children: span.children,
                    };
                    if key == "<<" {
                        merge_into(map, spans, value, entry_span);
                    } else if let Some(i) = map
                        .contains_key(&key)
                        .then(|| map.keys().position(|k| *k == key))
                        .flatten()
                    {
                        // A repeated key replaces the value in place (last one wins, as in go-yaml).
                        map.insert(key, value);
                        spans[i] = entry_span;
                    } else {
                        map.insert(key, value);
                        spans.push(entry_span);
                    }
                }
            },
        }
    }
}

/// YAML merge keys (`<<: *base`), as go-yaml v2 applies them: keys already present win.
fn merge_into(
    map: &mut Map<String, Value>,
    spans: &mut Vec<SpanNode>,
    value: Value,
    span: SpanNode,
) {
    let sources: Vec<(Value, SpanNode)> = match value {
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
    for (source, source_span) in sources {
        let Value::Object(entries) = source else {
            continue;
        };
        let mut child_spans = source_span.children.into_iter();
        for (k, v) in entries {
            let s = child_spans
                .next()
                .unwrap_or_else(|| SpanNode::leaf(source_span.pos));
            if map.contains_key(&k) {
                continue;
            }
            map.insert(k, v);
            spans.push(s);
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = self.pos(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(text, style, tag.as_ref());
                self.complete(value, SpanNode::leaf(pos), anchor);
            }
            Event::SequenceStart(anchor, _) => self.push_frame(
                Frame::Seq {
                    value: Vec::new(),
                    spans: Vec::new(),
                    pos,
                    anchor,
                },
                pos,
            ),
            Event::MappingStart(anchor, _) => self.push_frame(
                Frame::Map {
                    value: Map::new(),
                    spans: Vec::new(),
                    pending_key: None,
                    pos,
                    anchor,
                },
                pos,
            ),
            // Containers are stored at their exact size: the inventory is kept for the whole run,
            // and growth slack was about a quarter of its weight.
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
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
                    value,
                    mut spans,
                    pos,
                    anchor,
                    ..
                }) => {
                    // The mapping starts at its first key (the parser marks a block mapping inside
                    // a sequence item at the first `:`).
                    let pos = spans.first().map_or(pos, |s| s.pos);
                    spans.shrink_to_fit();
                    // serde_json's map cannot shrink; collecting it again allocates it exactly.
                    let value: Map<String, Value> = value.into_iter().collect();
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
            Event::Alias(id) => {
                match self.anchors.get(&id) {
                    Some((value, span, size)) => {
                        self.alias_nodes += size;
                        if self.alias_nodes > self.limits.max_alias_nodes {
                            let max = self.limits.max_alias_nodes;
                            self.fail(
                            pos,
                            format!("alias expansion exceeds {max} nodes (YAML bomb?); document refused"),
                        );
                            return;
                        }
                        let (value, mut span) = (value.clone(), span.clone());
                        span.pos = pos;
                        self.complete(value, span, 0);
                    }
                    None => self.fail(pos, "alias refers to an unknown anchor".into()),
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Resolves a scalar per go-yaml v2 (what sigs.k8s.io/yaml, and so kubectl, uses).
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag.filter(|t| t.handle == "!!" || t.handle == "tag:yaml.org,2002:") {
        match tag.suffix.as_str() {
            "str" | "binary" | "timestamp" => return Value::String(text),
            "null" => return Value::Null,
            "bool" | "int" | "float" => {
                return resolve_plain(&text).unwrap_or(Value::String(text));
            }
            _ => {}
        }
    }
    if style != TScalarStyle::Plain {
        return Value::String(text);
    }
    resolve_plain(&text).unwrap_or(Value::String(text))
}

fn resolve_plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Some(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Some(Value::Bool(false));
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return None, // not representable in JSON: keep the text
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(n) = parse_int(&plain) {
        return Some(Value::Number(n.into()));
    }
    if looks_like_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Number::from_f64(f).map(Value::Number);
    }
    None
}

/// Go's strconv.ParseInt(s, 0, 64): optional sign, `0x`, `0o`, `0b`, leading-`0` octal.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
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
    if digits.is_empty() {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -magnitude } else { magnitude };
    i64::try_from(v).ok()
}

fn looks_like_float(s: &str) -> bool {
    let body = s.trim_start_matches(['-', '+']);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit())
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
