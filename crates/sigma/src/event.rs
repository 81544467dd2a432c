//! Events as seen by the engine: a *projection* of only the fields the compiled rules use.
//!
//! Field paths are dotted (`objectRef.resource`). They are interned into [`FieldId`]s at
//! compile time and arranged in a trie; a JSON event is then scanned once and only the
//! subtrees on a needed path are looked at, everything else is skipped at memchr speed.
//! A path that crosses an array collects every element (Sigma's "any element matches").
//! A JSON key that itself contains dots (`authorization.k8s.io/decision`) walks several
//! trie segments, so `annotations.authorization.k8s.io/decision` resolves as expected.

use std::borrow::Cow;

use kubevigil_model::json_skip::{self, Members};
use memchr::memchr2;

/// Interned dotted field path.
pub type FieldId = u32;

/// One value found at a field path.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    /// The number as written in the event (so `401` matches both `401` and `'401'`).
    Num(Cow<'a, str>),
    Str(Cow<'a, str>),
    /// A string without escapes, straight from the input; checked for UTF-8 only when read
    /// (most extracted values are never looked at).
    Bytes(&'a [u8]),
    /// An object or array: the field exists but has no scalar value.
    Composite,
}

impl Val<'_> {
    #[inline(always)]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            // SAFETY: ASCII is UTF-8. Values are nearly always ASCII, and are read once per rule
            // that reads them: the inlined ASCII test costs far less than the general validator.
            Val::Bytes(b) if b.is_ascii() => Some(unsafe { std::str::from_utf8_unchecked(b) }),
            Val::Bytes(b) => std::str::from_utf8(b).ok(),
            Val::Num(n) => Some(n),
            Val::Bool(true) => Some("true"),
            Val::Bool(false) => Some("false"),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Num(n) => n.parse().ok(),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Index of the first `"` or `\\` at or after `i` (`b.len()` if none). Most strings (keys,
/// attribute values) end within a few words: eight bytes at a time (SWAR) for the first 32,
/// then memchr's vectorised search for long ones.
#[inline]
fn find_quote_or_backslash(b: &[u8], mut i: usize) -> usize {
    use kubevigil_model::swar::{bytes_equal, word};
    let short_end = (i + 32).min(b.len());
    while i + 8 <= short_end {
        let v = word(b, i);
        let m = bytes_equal(v, b'"') | bytes_equal(v, b'\\');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    match memchr2(b'"', b'\\', &b[i..]) {
        Some(off) => i + off,
        None => b.len(),
    }
}

#[derive(Debug, Default, Clone)]
struct TrieNode {
    children: Vec<(Box<str>, u32)>,
    /// Descendants two or more segments down, by their dotted relative path: a JSON key
    /// containing dots resolves in one comparison.
    dotted: Vec<(Box<str>, u32)>,
    /// `key_tag` of each entry of `children` / `dotted`, compared before the keys.
    child_tags: Vec<u32>,
    dotted_tags: Vec<u32>,
    /// `children` by `key_tag`: an open-addressing table (linear probing) of positions in
    /// `children` plus one (0: empty), twice as long as `children` or more, so that a key is
    /// found or rejected in one or two probes (a node has up to dozens of children, and every
    /// member of every event is looked up).
    slots: Vec<u32>,
    field: Option<FieldId>,
    /// A top-level key whose subtree is deferred.
    deferred_root: bool,
}

impl TrieNode {
    /// Rebuilds `slots` for the current `children`.
    fn index_children(&mut self) {
        let len = (self.children.len() * 2).next_power_of_two();
        self.slots = vec![0; len];
        for (i, tag) in self.child_tags.iter().enumerate() {
            let mut at = slot_of(*tag, len);
            while self.slots[at] != 0 {
                at = (at + 1) & (len - 1);
            }
            self.slots[at] = i as u32 + 1;
        }
    }
}

/// Where a tag's probe starts in a table of `len` slots (a power of two).
#[inline]
fn slot_of(tag: u32, len: usize) -> usize {
    (tag.wrapping_mul(0x9E37_79B1) >> 16) as usize & (len - 1)
}

/// Length, first and last byte of a key: rejects almost every non-matching key in one compare.
#[inline]
fn key_tag(k: &[u8]) -> u32 {
    match (k.first(), k.last()) {
        (Some(f), Some(l)) => ((k.len() as u32) << 16) | (u32::from(*f) << 8) | u32::from(*l),
        _ => 0,
    }
}

/// The set of field paths the rules need, as a trie over path segments.
#[derive(Debug, Default, Clone)]
pub struct FieldTable {
    names: Vec<String>,
    nodes: Vec<TrieNode>,
    /// Top-level keys whose subtrees are projected only on demand (large bodies).
    deferred_keys: Vec<String>,
    /// Per field: whether it lies under a deferred key.
    deferred: Vec<bool>,
}

impl FieldTable {
    pub fn new() -> Self {
        FieldTable {
            nodes: vec![TrieNode::default()],
            ..Default::default()
        }
    }

    /// Top-level keys (e.g. `requestObject`) whose subtrees are scanned past and only
    /// projected when a rule that needs them is evaluated. Set before interning.
    pub fn defer(&mut self, keys: &[String]) {
        self.deferred_keys = keys.to_vec();
    }

    /// Whether a field lies under a deferred key.
    pub fn is_deferred(&self, id: FieldId) -> bool {
        self.deferred[id as usize]
    }

    #[inline]
    fn is_deferred_root(&self, node: u32) -> bool {
        self.nodes[node as usize].deferred_root
    }

    /// Interns a dotted path.
    pub fn intern(&mut self, path: &str) -> FieldId {
        let mut node = 0usize;
        let mut along = vec![0usize];
        for seg in path.split('.') {
            node = match self.nodes[node].children.iter().find(|(k, _)| &**k == seg) {
                Some((_, child)) => *child as usize,
                None => {
                    let child = self.nodes.len();
                    let deferred_root = node == 0 && self.deferred_keys.iter().any(|d| d == seg);
                    self.nodes.push(TrieNode {
                        deferred_root,
                        ..TrieNode::default()
                    });
                    self.nodes[node].children.push((seg.into(), child as u32));
                    self.nodes[node].child_tags.push(key_tag(seg.as_bytes()));
                    self.nodes[node].index_children();
                    child
                }
            };
            along.push(node);
        }
        let segs: Vec<&str> = path.split('.').collect();
        for j in 0..along.len() {
            for k in j + 2..along.len() {
                let rel = segs[j..k].join(".");
                let (from, to) = (along[j], along[k] as u32);
                if !self.nodes[from].dotted.iter().any(|(r, _)| **r == *rel) {
                    self.nodes[from].dotted_tags.push(key_tag(rel.as_bytes()));
                    self.nodes[from].dotted.push((rel.into(), to));
                }
            }
        }
        if let Some(id) = self.nodes[node].field {
            return id;
        }
        let id = self.names.len() as FieldId;
        let first = path.split('.').next().unwrap_or_default();
        self.deferred
            .push(self.deferred_keys.iter().any(|d| d == first));
        self.names.push(path.to_string());
        self.nodes[node].field = Some(id);
        id
    }

    pub fn lookup(&self, path: &str) -> Option<FieldId> {
        self.names
            .iter()
            .position(|n| n == path)
            .map(|i| i as FieldId)
    }

    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Follows a (possibly dotted) key from `node`.
    fn step(&self, node: u32, key: &str) -> Option<u32> {
        let mut cur = node;
        for seg in key.split('.') {
            cur = self.nodes[cur as usize]
                .children
                .iter()
                .find(|(k, _)| &**k == seg)
                .map(|(_, c)| *c)?;
        }
        Some(cur)
    }

    #[inline(always)]
    fn step_fast(&self, node: u32, key: &[u8]) -> Option<u32> {
        let n = &self.nodes[node as usize];
        let tag = key_tag(key);
        if !n.slots.is_empty() {
            let mask = n.slots.len() - 1;
            let mut at = slot_of(tag, n.slots.len());
            while let Some(i) = n.slots[at].checked_sub(1) {
                let i = i as usize;
                if n.child_tags[i] == tag && n.children[i].0.as_bytes() == key {
                    return Some(n.children[i].1);
                }
                at = (at + 1) & mask;
            }
        }
        if n.dotted.is_empty() || memchr::memchr(b'.', key).is_none() {
            return None;
        }
        for (i, t) in n.dotted_tags.iter().enumerate() {
            if *t == tag && n.dotted[i].0.as_bytes() == key {
                return Some(n.dotted[i].1);
            }
        }
        None
    }
}

/// The values of every needed field of one event. Reused across events to avoid allocation.
#[derive(Debug, Default)]
pub struct Projection<'a> {
    heads: Vec<u32>,
    vals: Vec<(Val<'a>, u32)>,
    /// Deferred subtrees (trie node, JSON text) not projected yet.
    pending: Vec<(u32, &'a [u8])>,
}

const NONE: u32 = u32::MAX;

impl<'a> Projection<'a> {
    pub fn new(fields: &FieldTable) -> Self {
        Projection {
            heads: vec![NONE; fields.len()],
            vals: Vec::with_capacity(64),
            pending: Vec::new(),
        }
    }

    pub fn clear(&mut self) {
        self.heads.iter_mut().for_each(|h| *h = NONE);
        self.vals.clear();
        self.pending.clear();
    }

    /// Projects the deferred subtrees (see [`FieldTable::defer`]); idempotent.
    pub fn expand(&mut self, fields: &FieldTable) {
        for (node, text) in std::mem::take(&mut self.pending) {
            let mut s = Scanner { b: text, i: 0 };
            // The text was already checked structurally while it was skipped.
            let _ = s.value_at(fields, node, self, true);
        }
    }

    #[inline(always)]
    fn push(&mut self, field: FieldId, val: Val<'a>) {
        let idx = self.vals.len() as u32;
        self.vals.push((val, self.heads[field as usize]));
        self.heads[field as usize] = idx;
    }

    /// Whether the field occurs in the event (with any value, null included).
    pub fn exists(&self, field: FieldId) -> bool {
        self.heads[field as usize] != NONE
    }

    /// Every value found at the field.
    pub fn values(&self, field: FieldId) -> Values<'_, 'a> {
        Values {
            proj: self,
            next: self.heads[field as usize],
        }
    }

    pub fn first(&self, field: FieldId) -> Option<&Val<'a>> {
        self.values(field).next()
    }

    /// Reuses the buffers for an event of another lifetime (avoids per-event allocation).
    pub fn recycle<'b>(mut self) -> Projection<'b> {
        self.vals.clear();
        self.pending.clear();
        let vals = self
            .vals
            .into_iter()
            .map(|_| unreachable!("cleared"))
            .collect();
        let pending = self
            .pending
            .into_iter()
            .map(|_| unreachable!("cleared"))
            .collect();
        Projection {
            heads: self.heads,
            vals,
            pending,
        }
    }

    /// Fills the projection from a parsed JSON value.
    pub fn fill_from_value(&mut self, fields: &FieldTable, value: &'a serde_json::Value) {
        self.clear();
        self.walk_value(fields, 0, value);
    }

    fn walk_value(&mut self, fields: &FieldTable, node: u32, value: &'a serde_json::Value) {
        use serde_json::Value as V;
        match value {
            V::Object(map) => {
                for (k, v) in map {
                    if let Some(child) = fields.step(node, k) {
                        self.record_value(fields, child, v);
                    }
                }
            }
            V::Array(items) => items.iter().for_each(|i| self.walk_value(fields, node, i)),
            _ => {}
        }
    }

    fn record_value(&mut self, fields: &FieldTable, node: u32, v: &'a serde_json::Value) {
        use serde_json::Value as V;
        let tn = &fields.nodes[node as usize];
        if let V::Array(items) = v {
            if let Some(f) = tn.field {
                self.push(f, Val::Composite);
            }
            for item in items {
                // Elements of an array at a field are values of that field themselves.
                self.record_element(fields, node, item);
            }
            return;
        }
        self.record_element(fields, node, v);
    }

    fn record_element(&mut self, fields: &FieldTable, node: u32, v: &'a serde_json::Value) {
        use serde_json::Value as V;
        let tn = &fields.nodes[node as usize];
        if let Some(f) = tn.field {
            let val = match v {
                V::Null => Val::Null,
                V::Bool(b) => Val::Bool(*b),
                V::Number(n) => Val::Num(Cow::Owned(n.to_string())),
                V::String(s) => Val::Str(Cow::Borrowed(s)),
                V::Array(_) | V::Object(_) => Val::Composite,
            };
            if !matches!((&val, v), (Val::Composite, V::Array(_))) {
                self.push(f, val);
            }
        }
        match v {
            V::Object(_) if !tn.children.is_empty() => self.walk_value(fields, node, v),
            V::Array(items) => items
                .iter()
                .for_each(|i| self.record_element(fields, node, i)),
            _ => {}
        }
    }
}

/// Iterator over a field's values.
pub struct Values<'p, 'a> {
    proj: &'p Projection<'a>,
    next: u32,
}

impl<'p, 'a> Iterator for Values<'p, 'a> {
    type Item = &'p Val<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next == NONE {
            return None;
        }
        let (val, next) = &self.proj.vals[self.next as usize];
        self.next = *next;
        Some(val)
    }
}

/// A malformed JSON event (byte offset into the line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {message}")]
pub struct JsonError {
    pub offset: usize,
    pub message: &'static str,
}

/// Scans one JSON document and fills the projection with the needed fields only.
pub fn project_json<'a>(
    fields: &FieldTable,
    input: &'a [u8],
    proj: &mut Projection<'a>,
) -> Result<(), JsonError> {
    proj.clear();
    let mut s = Scanner { b: input, i: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(s.err("expected a JSON object"));
    }
    s.object(fields, 0, proj)?;
    s.ws();
    if s.i != input.len() {
        return Err(s.err("trailing characters after the JSON object"));
    }
    Ok(())
}

/// [`project_json`] on an object whose top-level members a validating scan has already
/// delimited (`members.complete`): only the members on a needed path are looked at, the rest
/// are not scanned again. Fills the projection exactly as [`project_json`] would.
pub fn project_members<'a>(
    fields: &FieldTable,
    input: &'a [u8],
    members: &Members,
    proj: &mut Projection<'a>,
) -> Result<(), JsonError> {
    debug_assert!(members.complete);
    proj.clear();
    let mut nested = &members.nested[..];
    for (index, (key, value)) in members.spans.iter().enumerate() {
        // The members of this member's value, when the scan noted them (they come in order).
        let count = nested
            .iter()
            .take_while(|(parent, ..)| *parent == index)
            .count();
        let (inner, rest) = nested.split_at(count);
        nested = rest;
        // The keys are unescaped (the scan declines escaped ones): as `Scanner::object` steps.
        let Some(child) = fields.step_fast(0, &input[key.clone()]) else {
            continue;
        };
        let text = &input[value.clone()];
        if fields.is_deferred_root(child) {
            proj.pending.push((child, text));
            continue;
        }
        if inner.is_empty() {
            value_at(fields, input, value, child, proj)?;
            continue;
        }
        // An object whose members are known: as `Scanner::value_at` reads one, without
        // scanning it again.
        if let Some(f) = fields.nodes[child as usize].field {
            proj.push(f, Val::Composite);
        }
        for (_, key, value) in inner {
            if let Some(grandchild) = fields.step_fast(child, &input[key.clone()]) {
                value_at(fields, input, value, grandchild, proj)?;
            }
        }
    }
    Ok(())
}

/// The value at `range` of `input`, at trie node `node` ([`Scanner::value_at`]).
#[inline(always)]
fn value_at<'a>(
    fields: &FieldTable,
    input: &'a [u8],
    range: &std::ops::Range<usize>,
    node: u32,
    proj: &mut Projection<'a>,
) -> Result<(), JsonError> {
    // Most values read are strings without escapes (verbs, names, URIs, times): the noted span is
    // the whole string token, so its contents are the value, as `Scanner::value_at` would find.
    if let [b'"', body @ .., b'"'] = &input[range.clone()]
        && memchr::memchr(b'\\', body).is_none()
    {
        if let Some(f) = fields.nodes[node as usize].field {
            proj.push(f, Val::Bytes(body));
        }
        return Ok(());
    }
    scan_value_at(fields, input, range, node, proj)
}

fn scan_value_at<'a>(
    fields: &FieldTable,
    input: &'a [u8],
    range: &std::ops::Range<usize>,
    node: u32,
    proj: &mut Projection<'a>,
) -> Result<(), JsonError> {
    let mut s = Scanner {
        b: &input[range.clone()],
        i: 0,
    };
    s.value_at(fields, node, proj, true).map_err(|e| JsonError {
        offset: range.start + e.offset,
        message: e.message,
    })
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn err(&self, message: &'static str) -> JsonError {
        JsonError {
            offset: self.i,
            message,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn expect(&mut self, c: u8, msg: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(msg))
        }
    }

    /// Raw string body (without quotes) and whether it contains escapes. `i` is at the quote.
    #[inline(always)]
    fn raw_string(&mut self) -> Result<(&'a [u8], bool), JsonError> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i = find_quote_or_backslash(self.b, self.i);
            match self.b.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let body = &self.b[start..self.i];
                    self.i += 1;
                    return Ok((body, escaped));
                }
                Some(_) => {
                    escaped = true;
                    self.i += 2;
                    if self.i > self.b.len() {
                        return Err(self.err("unterminated string"));
                    }
                }
            }
        }
    }

    fn object(
        &mut self,
        fields: &FieldTable,
        node: u32,
        proj: &mut Projection<'a>,
    ) -> Result<(), JsonError> {
        self.i += 1; // '{'
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected an object key"));
            }
            let key_start = self.i;
            let (key, escaped) = self.raw_string()?;
            let key_end = self.i;
            self.expect(b':', "expected ':' after an object key")?;
            self.ws();
            let child = if escaped {
                let k: String =
                    serde_json::from_slice(&self.b[key_start..key_end]).map_err(|_| JsonError {
                        offset: key_start,
                        message: "invalid string escape",
                    })?;
                fields.step(node, &k)
            } else {
                fields.step_fast(node, key)
            };
            match child {
                Some(child) if node == 0 && fields.is_deferred_root(child) => {
                    let start = self.i;
                    self.skip_value()?;
                    proj.pending.push((child, &self.b[start..self.i]));
                }
                Some(child) => self.value_at(fields, child, proj, true)?,
                None => self.skip_value()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    /// A value at trie node `node`: recorded if a field ends here, descended if deeper
    /// fields continue here. `top` is false for array elements below a field.
    fn value_at(
        &mut self,
        fields: &FieldTable,
        node: u32,
        proj: &mut Projection<'a>,
        top: bool,
    ) -> Result<(), JsonError> {
        let tn = &fields.nodes[node as usize];
        let field = tn.field;
        let has_children = !tn.children.is_empty();
        match self.peek() {
            Some(b'{') => {
                if let Some(f) = field {
                    proj.push(f, Val::Composite);
                }
                if has_children {
                    self.object(fields, node, proj)
                } else {
                    self.skip_value()
                }
            }
            Some(b'[') => {
                if top && let Some(f) = field {
                    proj.push(f, Val::Composite);
                }
                if field.is_none() && !has_children {
                    return self.skip_value();
                }
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.value_at(fields, node, proj, false)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.err("expected ',' or ']' in an array")),
                    }
                }
            }
            Some(b'"') => {
                if let Some(f) = field {
                    let start = self.i;
                    let (body, escaped) = self.raw_string()?;
                    let val = if escaped {
                        serde_json::from_slice::<String>(&self.b[start..self.i])
                            .map(|s| Val::Str(Cow::Owned(s)))
                            .map_err(|_| JsonError {
                                offset: start,
                                message: "invalid string escape",
                            })?
                    } else {
                        Val::Bytes(body)
                    };
                    proj.push(f, val);
                    Ok(())
                } else {
                    self.raw_string().map(|_| ())
                }
            }
            Some(_) => {
                let start = self.i;
                self.scalar_end()?;
                if let Some(f) = field {
                    let text = &self.b[start..self.i];
                    let val = match text {
                        b"null" => Val::Null,
                        b"true" => Val::Bool(true),
                        b"false" => Val::Bool(false),
                        _ => Val::Num(Cow::Borrowed(std::str::from_utf8(text).unwrap_or(""))),
                    };
                    proj.push(f, val);
                }
                Ok(())
            }
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Advances over a number or literal, checking it is one.
    #[inline]
    fn scalar_end(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        while let Some(c) = self.b.get(self.i) {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.') {
                self.i += 1;
            } else {
                break;
            }
        }
        let text = &self.b[start..self.i];
        let ok = match text.first() {
            Some(b'n') => text == b"null",
            Some(b't') => text == b"true",
            Some(b'f') => text == b"false",
            Some(c) if c.is_ascii_digit() || *c == b'-' => text
                .iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(JsonError {
                offset: start,
                message: "invalid value",
            })
        }
    }

    /// Skips any value, checking brackets balance and strings terminate.
    fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{') | Some(b'[') => self.skip_container(),
            Some(_) => self.scalar_end(),
            None => Err(self.err("unexpected end of input")),
        }
    }

    /// Skips an object or array ([`json_skip::skip_container`]).
    fn skip_container(&mut self) -> Result<(), JsonError> {
        match json_skip::skip_container(self.b, self.i, json_skip::Strings::Lenient) {
            Ok(end) => {
                self.i = end;
                Ok(())
            }
            Err(e) => Err(JsonError {
                offset: e.offset,
                message: e.message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time search finds what a byte-by-byte one finds, wherever the quote or
    /// backslash is (inside a word, at a word's edge, past the first 32 bytes, nowhere) and
    /// whatever high bytes surround it.
    #[test]
    fn quote_search_matches_a_plain_scan() {
        for len in 0..80 {
            for at in 0..=len {
                for (stop, fill) in [(b'"', b'a'), (b'\\', 0xC3), (b'"', 0xFF), (b'\\', b'!')] {
                    let mut b = vec![fill; len];
                    if at < len {
                        b[at] = stop;
                    }
                    for from in [0, 1, 7, 9] {
                        if from > len {
                            continue;
                        }
                        let plain = (from..len)
                            .find(|&i| matches!(b[i], b'"' | b'\\'))
                            .unwrap_or(len);
                        assert_eq!(
                            find_quote_or_backslash(&b, from),
                            plain,
                            "{len} {at} {from}"
                        );
                    }
                }
            }
        }
    }

    fn collect(fields: &FieldTable, proj: &Projection, path: &str) -> Vec<String> {
        let id = fields.lookup(path).unwrap();
        let mut v: Vec<String> = proj
            .values(id)
            .map(|v| match v {
                Val::Bytes(_) => {
                    format!("{:?}", Val::Str(Cow::Borrowed(v.as_text().unwrap_or(""))))
                }
                _ => format!("{v:?}"),
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn projects_needed_paths_across_arrays() {
        let mut fields = FieldTable::new();
        fields.intern("verb");
        fields.intern("requestObject.spec.containers.securityContext.privileged");
        fields.intern("annotations.authorization.k8s.io/decision");
        fields.intern("responseStatus.code");
        fields.intern("sourceIPs");
        let line = br#"{"verb":"create","skip":{"a":[1,{"b":"}"}]},"sourceIPs":["1.2.3.4","::1"],"responseStatus":{"code":403},
          "requestObject":{"spec":{"containers":[{"securityContext":{"privileged":false}},{"securityContext":{"privileged":true}}]}},
          "annotations":{"authorization.k8s.io/decision":"allow"}}"#;
        let mut proj = Projection::new(&fields);
        project_json(&fields, line, &mut proj).unwrap();
        assert_eq!(collect(&fields, &proj, "verb"), vec!["Str(\"create\")"]);
        assert_eq!(
            collect(
                &fields,
                &proj,
                "requestObject.spec.containers.securityContext.privileged"
            ),
            vec!["Bool(false)", "Bool(true)"]
        );
        assert_eq!(
            collect(&fields, &proj, "annotations.authorization.k8s.io/decision"),
            vec!["Str(\"allow\")"]
        );
        assert_eq!(
            collect(&fields, &proj, "responseStatus.code"),
            vec!["Num(\"403\")"]
        );
        assert_eq!(
            collect(&fields, &proj, "sourceIPs"),
            vec!["Composite", "Str(\"1.2.3.4\")", "Str(\"::1\")"]
        );

        // The serde_json path gives the same projection.
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        let mut proj2 = Projection::new(&fields);
        proj2.fill_from_value(&fields, &value);
        for path in [
            "verb",
            "requestObject.spec.containers.securityContext.privileged",
            "sourceIPs",
            "responseStatus.code",
        ] {
            assert_eq!(
                collect(&fields, &proj, path),
                collect(&fields, &proj2, path),
                "{path}"
            );
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        let fields = FieldTable::new();
        let mut proj = Projection::new(&fields);
        for bad in [
            &br#"{"a":[1,2}"#[..],
            br#"{"a":"x"#,
            b"{\"a\":tru}",
            b"[1]",
            b"{\"a\":1} x",
        ] {
            assert!(
                project_json(&fields, bad, &mut proj).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(project_json(&fields, br#" {"a" : [ {"b":"c\"d"} ] } "#, &mut proj).is_ok());
    }

    #[test]
    fn escaped_keys_are_unescaped() {
        let mut fields = FieldTable::new();
        let id = fields.intern("objectRef.resource");
        let mut proj = Projection::new(&fields);
        project_json(
            &fields,
            br#"{"objectRef" : {"resource" : "secrets"}}"#,
            &mut proj,
        )
        .unwrap();
        assert_eq!(proj.first(id).and_then(|v| v.as_text()), Some("secrets"));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let mut fields = FieldTable::new();
        let id = fields.intern("requestURI");
        let mut proj = Projection::new(&fields);
        project_json(
            &fields,
            br#"{"requestURI":"/api?a=1\u0026b=\"2\""}"#,
            &mut proj,
        )
        .unwrap();
        assert_eq!(
            proj.first(id),
            Some(&Val::Str(Cow::Owned("/api?a=1&b=\"2\"".into())))
        );
    }
}

#[cfg(test)]
mod skip_tests {
    use super::*;

    /// The block skipper agrees with serde_json on where values end and on validity, for
    /// values straddling 64-byte blocks, with escapes at every position.
    #[test]
    fn skipper_matches_serde_on_generated_values() {
        let fields = FieldTable::new();
        let pieces = [
            r#"{"a":"x"}"#,
            r#"["}","]",{"b":"{["}]"#,
            r#""q\"uo\\te""#,
            r#"{"k":[1,2,{"z":null}],"e":"\\"}"#,
            r#""\\\"]""#,
            r#"{"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"}"#,
            "true",
            "-1.5e3",
        ];
        for pad in 0..70 {
            for a in &pieces {
                for b in &pieces {
                    let v = format!(
                        r#"{{"p":"{}","x":[{a},{b}],"y":{{"q":{b}}}}}"#,
                        "-".repeat(pad)
                    );
                    assert!(serde_json::from_str::<serde_json::Value>(&v).is_ok(), "{v}");
                    let mut proj = Projection::new(&fields);
                    assert!(
                        project_json(&fields, v.as_bytes(), &mut proj).is_ok(),
                        "{v}"
                    );
                    // Truncated anywhere: an error, never a panic.
                    for cut in [v.len() - 1, v.len() / 2, v.len() - 3] {
                        assert!(
                            project_json(&fields, &v.as_bytes()[..cut], &mut proj).is_err(),
                            "{}",
                            &v[..cut]
                        );
                    }
                    let bad = v.replacen("]", "}", 1);
                    if serde_json::from_str::<serde_json::Value>(&bad).is_err() && bad != v {
                        assert!(
                            project_json(&fields, bad.as_bytes(), &mut proj).is_err(),
                            "{bad}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod robustness_tests {
    use super::*;

    /// Corrupting any byte of a realistic event (with deferred bodies longer than a block)
    /// yields an error or a projection, never a panic.
    #[test]
    fn corrupted_events_never_panic() {
        let mut fields = FieldTable::new();
        fields.defer(&["requestObject".to_string()]);
        for p in [
            "verb",
            "user.username",
            "requestObject.spec.containers.securityContext.privileged",
            "annotations.a.b/c",
            "requestObject.data",
        ] {
            fields.intern(p);
        }
        let base = r#"{"kind":"Event","verb":"create","user":{"username":"a\"b","groups":["x","y"]},"annotations":{"a.b/c":"allow"},"requestObject":{"kind":"Pod","metadata":{"name":"web","labels":{"app":"w\\eb"}},"spec":{"containers":[{"name":"c","image":"nginx:1.25","securityContext":{"privileged":true},"args":["-c","echo \"}{][\" > /tmp/x"]}]},"data":{"k":"v"}},"n":-1.5e3,"t":true,"z":null}"#;
        let bytes = base.as_bytes();
        let mut proj = Projection::new(&fields);
        assert!(project_json(&fields, bytes, &mut proj).is_ok());
        proj.expand(&fields);
        for i in 0..bytes.len() {
            for c in [
                b'"', b'\\', b'{', b'}', b'[', b']', b'x', b',', b':', 0u8, 0xff,
            ] {
                let mut v = bytes.to_vec();
                v[i] = c;
                let mut proj = Projection::new(&fields);
                if project_json(&fields, &v, &mut proj).is_ok() {
                    proj.expand(&fields);
                }
            }
            let mut proj = Projection::new(&fields);
            assert!(project_json(&fields, &bytes[..i], &mut proj).is_err());
        }
    }
}

#[cfg(test)]
mod recycle_tests {
    use super::*;

    #[test]
    fn recycling_keeps_the_buffers() {
        let mut fields = FieldTable::new();
        fields.intern("a");
        let text = String::from(r#"{"a":["x","y","z","w","v","u","t","s","r","q"]}"#);
        let mut proj = Projection::new(&fields);
        project_json(&fields, text.as_bytes(), &mut proj).unwrap();
        let cap = proj.vals.capacity();
        let proj: Projection<'static> = proj.recycle();
        assert_eq!(proj.vals.capacity(), cap);
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;

    /// A value straight from the input reads as text when it is UTF-8, ASCII or not, and not
    /// otherwise.
    #[test]
    fn raw_values_read_as_text_only_when_utf8() {
        assert_eq!(
            Val::Bytes(b"kubectl/v1.30").as_text(),
            Some("kubectl/v1.30")
        );
        assert_eq!(Val::Bytes("ünï".as_bytes()).as_text(), Some("ünï"));
        assert_eq!(Val::Bytes(b"a\xffb").as_text(), None);
        assert_eq!(Val::Bytes(b"\xc3").as_text(), None);
    }

    /// A node with many children finds each of them, by its table, whatever their tags (keys of
    /// one length with one first and last byte share a tag), and nothing else.
    #[test]
    fn every_child_is_found_and_nothing_else() {
        let mut fields = FieldTable::new();
        let names: Vec<String> = (0..60)
            .map(|i| format!("k{i:02}x"))
            .chain(["a", "ab", "abb", "a.b"].map(String::from))
            .collect();
        let ids: Vec<FieldId> = names.iter().map(|n| fields.intern(n)).collect();
        for (name, id) in names.iter().zip(&ids) {
            let node = fields.step_fast(0, name.as_bytes()).expect(name);
            assert_eq!(fields.nodes[node as usize].field, Some(*id), "{name}");
        }
        for absent in ["k60x", "k0x", "kx0x", "b", "abc", "acb", "", "a.c"] {
            assert_eq!(fields.step_fast(0, absent.as_bytes()), None, "{absent}");
        }
    }
}
