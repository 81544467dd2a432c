//! YAML loading that keeps line/column positions, so unsupported constructs can be reported
//! as `file:line:col`. Built on yaml-rust2's marked event API.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Scalar rendered as text (numbers and booleans as YAML writes them).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(i) => Some(i.to_string()),
            Kind::Float(f) => Some(f.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// A string or a list of strings, as a list.
    pub fn str_list(&self) -> Option<Vec<String>> {
        match &self.kind {
            Kind::Str(_) | Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => {
                Some(vec![self.scalar_text()?])
            }
            Kind::Seq(items) => items.iter().map(|n| n.scalar_text()).collect(),
            Kind::Null => Some(Vec::new()),
            Kind::Map(_) => None,
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parses every document of a YAML stream.
pub fn load_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line(),
        col: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    Ok(builder.docs)
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, Option<Node>)>,
    anchors: std::collections::HashMap<usize, Node>,
    anchor_stack: Vec<usize>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((parent, pending_key)) => match &mut parent.kind {
                Kind::Seq(items) => items.push(node),
                Kind::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let (line, col) = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                let kind = if style == TScalarStyle::Plain {
                    plain_scalar(value)
                } else {
                    Kind::Str(value)
                };
                let node = Node { kind, line, col };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => {
                self.anchor_stack.push(anchor);
                self.stack.push((
                    Node {
                        kind: Kind::Seq(Vec::new()),
                        line,
                        col,
                    },
                    None,
                ));
            }
            Event::MappingStart(anchor, _) => {
                self.anchor_stack.push(anchor);
                self.stack.push((
                    Node {
                        kind: Kind::Map(Vec::new()),
                        line,
                        col,
                    },
                    None,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    let anchor = self.anchor_stack.pop().unwrap_or(0);
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_value(node);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    kind: Kind::Null,
                    line,
                    col,
                });
                self.push_value(node);
            }
            Event::DocumentEnd => {}
            _ => {}
        }
    }
}

/// YAML 1.2 core schema resolution of plain scalars.
fn plain_scalar(value: String) -> Kind {
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        _ => {}
    }
    if let Ok(i) = value.parse::<i64>() {
        return Kind::Int(i);
    }
    let looks_numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && value.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = value.parse::<f64>() {
        return Kind::Float(f);
    }
    Kind::Str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_types() {
        let docs = load_documents("a: 1\nb:\n  - 'x'\n  - null\n---\nc: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.as_seq().unwrap()[0].line, 3);
        assert_eq!(b.as_seq().unwrap()[1].kind, Kind::Null);
        assert_eq!(docs[1].get("c").unwrap().kind, Kind::Bool(true));
        assert_eq!(docs[0].get("a").unwrap().kind, Kind::Int(1));
    }

    #[test]
    fn syntax_error_has_line() {
        let err = load_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1);
    }
}
