//! Source positions and field paths.
//!
//! Every object keeps a [`SpanNode`] tree parallel to its JSON value, so a finding about
//! `spec.template.spec.containers[0].image` can point at the exact line and column.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A 1-based line and column in a source file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path to a field inside an object, rendered as `spec.containers[0].image`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses `spec.template.spec` (keys only, no indices): used for fixed prefixes.
    pub fn parse_keys(dotted: &str) -> Self {
        FieldPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Seg::Key(s.to_string()))
                .collect(),
        )
    }

    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A rendering that does not depend on list order: an index into a list of named
    /// elements (containers, volumes, env vars, ports) is replaced by the element's name.
    /// Used for fingerprints, which must survive reordering.
    pub fn stable_string(&self, root: &Value) -> String {
        let mut out = String::new();
        let mut cur = Some(root);
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                    cur = cur.and_then(|v| v.get(k));
                }
                Seg::Index(i) => {
                    let elem = cur.and_then(|v| v.get(*i));
                    match elem.and_then(|e| e.get("name")).and_then(Value::as_str) {
                        Some(name) => {
                            out.push_str("[name=");
                            out.push_str(name);
                            out.push(']');
                        }
                        None => {
                            out.push('[');
                            out.push_str(&i.to_string());
                            out.push(']');
                        }
                    }
                    cur = elem;
                }
            }
        }
        out
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Positions of a value and of all its children, parallel to the JSON value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanNode {
    /// For a mapping entry: the position of its key; otherwise the value's start.
    pub pos: Pos,
    pub children: SpanChildren,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum SpanChildren {
    #[default]
    Leaf,
    Map(Vec<(String, SpanNode)>),
    Seq(Vec<SpanNode>),
}

impl SpanNode {
    pub fn leaf(pos: Pos) -> Self {
        SpanNode {
            pos,
            children: SpanChildren::Leaf,
        }
    }

    pub fn child_key(&self, key: &str) -> Option<&SpanNode> {
        match &self.children {
            SpanChildren::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    pub fn child_index(&self, i: usize) -> Option<&SpanNode> {
        match &self.children {
            SpanChildren::Seq(items) => items.get(i),
            _ => None,
        }
    }

    /// Position of the deepest existing node along `path` (the nearest existing ancestor
    /// when the field itself is absent, e.g. a missing `resources` block).
    pub fn pos_of(&self, path: &FieldPath) -> Pos {
        let mut node = self;
        for seg in &path.0 {
            let next = match seg {
                Seg::Key(k) => node.child_key(k),
                Seg::Index(i) => node.child_index(*i),
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.pos
    }

    /// Removes and returns a direct child by key (used to split `*List` items into objects).
    pub fn take_key(&mut self, key: &str) -> Option<SpanNode> {
        match &mut self.children {
            SpanChildren::Map(entries) => {
                let idx = entries.iter().position(|(k, _)| k == key)?;
                Some(entries.swap_remove(idx).1)
            }
            _ => None,
        }
    }

    pub fn into_seq(self) -> Vec<SpanNode> {
        match self.children {
            SpanChildren::Seq(items) => items,
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_stable_string() {
        let p = FieldPath::parse_keys("spec.containers")
            .index(1)
            .key("image");
        assert_eq!(p.to_string(), "spec.containers[1].image");
        let v = serde_json::json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "image": "x"}]}});
        assert_eq!(p.stable_string(&v), "spec.containers[name=b].image");
        let q = FieldPath::parse_keys("spec.ports").index(0);
        assert_eq!(q.stable_string(&v), "spec.ports[0]");
    }
}
