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

impl Pos {
    /// The position after `bytes` of UTF-8 text that start here. Line breaks are those of YAML
    /// (and of editors): LF, CRLF and a lone CR; columns count characters.
    pub(crate) fn advance(self, bytes: &[u8]) -> Pos {
        let mut line = self.line;
        let mut line_start = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                line += 1;
                line_start = Some(i + 1);
            }
        }
        // Characters: bytes that do not continue a UTF-8 sequence.
        let chars = |b: &[u8]| b.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u32;
        match line_start {
            Some(i) => Pos {
                line,
                col: chars(&bytes[i..]) + 1,
            },
            None => Pos {
                line,
                col: self.col + chars(bytes),
            },
        }
    }
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
        self.write_stable(root, &mut out);
        out
    }

    /// [`FieldPath::stable_string`], appended to `out`.
    pub fn write_stable(&self, root: &Value, out: &mut String) {
        use std::fmt::Write as _;
        let start = out.len();
        let mut cur = Some(root);
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if out.len() > start {
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
                            let _ = write!(out, "[{i}]");
                        }
                    }
                    cur = elem;
                }
            }
        }
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

/// Positions of a value and of all its children, parallel to the JSON value: the children of a
/// mapping are in the order of the value's (order-preserving) map entries, so keys are not stored
/// twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanNode {
    /// For a mapping entry: the position of its key; otherwise the value's start.
    pub pos: Pos,
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    pub fn leaf(pos: Pos) -> Self {
        SpanNode {
            pos,
            children: Vec::new(),
        }
    }

    /// Position of the deepest existing node along `path` in `value` (the nearest existing
    /// ancestor when the field itself is absent, e.g. a missing `resources` block): what
    /// [`Spans::pos_of`] gives for this tree (objects keep their positions as [`Spans`]).
    pub fn pos_of(&self, value: &Value, path: &FieldPath) -> Pos {
        Spans::from(self.clone()).pos_of(value, path)
    }

    /// Takes the span of a mapping entry out (leaving a default in place, so the other entries
    /// keep their alignment). Used to split `*List` items into objects.
    pub fn take_entry(&mut self, value: &Value, key: &str) -> Option<SpanNode> {
        let i = value.as_object()?.keys().position(|k| k == key)?;
        self.children.get_mut(i).map(std::mem::take)
    }
}

/// The positions an [`Object`](crate::Object) keeps: a [`SpanNode`] tree flattened in pre-order,
/// each node with the number of nodes below it. One allocation of 12 bytes a node, where the tree
/// took a vector per node with children (a kept workload's positions were 2× its YAML; they are
/// about a third of that now).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spans {
    /// (position, number of descendants), in pre-order; empty for an object without positions
    /// (every position then reads as the default).
    nodes: Vec<(Pos, u32)>,
}

impl From<SpanNode> for Spans {
    fn from(tree: SpanNode) -> Spans {
        fn flatten(node: &SpanNode, nodes: &mut Vec<(Pos, u32)>) {
            let at = nodes.len();
            nodes.push((node.pos, 0));
            for child in &node.children {
                flatten(child, nodes);
            }
            nodes[at].1 = u32::try_from(nodes.len() - at - 1).unwrap_or(u32::MAX);
        }
        let mut nodes = Vec::new();
        flatten(&tree, &mut nodes);
        nodes.shrink_to_fit();
        Spans { nodes }
    }
}

impl Spans {
    /// The tree again (tests, and callers that build objects from other objects' positions).
    pub fn to_tree(&self) -> SpanNode {
        fn build(nodes: &[(Pos, u32)], at: usize) -> SpanNode {
            let (pos, size) = nodes[at];
            let end = at + 1 + size as usize;
            let mut children = Vec::new();
            let mut child = at + 1;
            while child < end {
                children.push(build(nodes, child));
                child += 1 + nodes[child].1 as usize;
            }
            SpanNode { pos, children }
        }
        if self.nodes.is_empty() {
            return SpanNode::default();
        }
        build(&self.nodes, 0)
    }

    /// The index of child `i` of the node at `at`, if it has one.
    fn child(&self, at: usize, i: usize) -> Option<usize> {
        let end = at + 1 + self.nodes[at].1 as usize;
        let mut child = at + 1;
        for _ in 0..i {
            if child >= end {
                return None;
            }
            child += 1 + self.nodes[child].1 as usize;
        }
        (child < end).then_some(child)
    }

    /// [`SpanNode::pos_of`], on the flattened tree.
    pub fn pos_of(&self, value: &Value, path: &FieldPath) -> Pos {
        if self.nodes.is_empty() {
            return Pos::default();
        }
        let (mut node, mut value) = (0, value);
        for seg in &path.0 {
            let next = match (seg, value) {
                (Seg::Key(k), Value::Object(map)) => map
                    .iter()
                    .enumerate()
                    .find(|(_, (key, _))| *key == k)
                    .and_then(|(i, (_, v))| Some((self.child(node, i)?, v))),
                (Seg::Index(i), Value::Array(items)) => self.child(node, *i).zip(items.get(*i)),
                _ => None,
            };
            match next {
                Some((n, v)) => (node, value) = (n, v),
                None => break,
            }
        }
        self.nodes[node].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A position is the deepest node along the path, the nearest existing ancestor's when a
    /// field, an element or its span node is absent; the tree comes back whole.
    #[test]
    fn positions_are_the_deepest_node_along_the_path() {
        let value = serde_json::json!({"a": {"b": [1, {"c": 2, "d": [3, 4]}, 5], "e": {}},
            "f": [], "g": "x"});
        // Span nodes at lines 1, 2, ... in the order they are made; `e` and the elements of `d`
        // have none (as when a builder gives fewer children than entries).
        let mut n = 0;
        let mut leaf = || {
            n += 1;
            SpanNode::leaf(Pos { line: n, col: 1 })
        };
        let node = |at: SpanNode, children: Vec<SpanNode>| SpanNode {
            pos: at.pos,
            children,
        };
        let d = leaf();
        let c = leaf();
        let elem = node(leaf(), vec![c, d]);
        let b = node(leaf(), vec![leaf(), elem, leaf()]);
        let a = node(leaf(), vec![b]);
        let tree = node(leaf(), vec![a, leaf(), leaf()]);
        let spans = Spans::from(tree.clone());
        assert_eq!(spans.to_tree(), tree);
        for (path, line) in [
            ("", 8),
            ("a", 7),
            ("a.b", 4),
            ("a.b[0]", 5),
            ("a.b[1]", 3),
            ("a.b[1].c", 2),
            ("a.b[1].d", 1),
            ("a.b[1].d[0]", 1),
            ("a.b[2]", 6),
            ("a.b[3]", 4),
            ("a.b.c", 4),
            ("a.e", 7),
            ("a.e.x", 7),
            ("f", 9),
            ("f[0]", 9),
            ("g", 10),
            ("g.x", 10),
            ("h", 8),
        ] {
            let mut p = FieldPath::default();
            for part in path.split('.').filter(|s| !s.is_empty()) {
                let (key, index) = match part.split_once('[') {
                    Some((k, i)) => (k, Some(i.trim_end_matches(']').parse().unwrap())),
                    None => (part, None),
                };
                p = p.key(key);
                if let Some(i) = index {
                    p = p.index(i);
                }
            }
            assert_eq!(spans.pos_of(&value, &p).line, line, "{path}");
        }
        assert_eq!(
            Spans::from(SpanNode::default()).to_tree(),
            SpanNode::default()
        );
        assert_eq!(
            Spans::default().pos_of(&value, &FieldPath::parse_keys("a")),
            Pos::default()
        );
    }

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
