//! The sample events an alert carries, kept as their JSON text.
//!
//! Every alert reads a few fields of its samples (the actor and object for its dedup key and
//! the statistics, the request attributes for the contract) and most alerts are never looked at
//! any closer. A sample is therefore held as the compact JSON text its source wrote, and these
//! fields are read from that text ([`Raw`], [`Obj`]); the parsed `Value` is made only when a
//! caller asks for it ([`Sample::value`]). Parsing a sample into a `Value` (a map and a string
//! per field) cost several times what the rest of an alert did.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde_json::Value;
use serde_json::value::RawValue;

/// One sample event of an alert: compact JSON text as serde_json writes a `Value` (what every
/// source's sampler writes), with that `Value` parsed on first use.
pub struct Sample {
    text: Box<str>,
    value: OnceLock<Value>,
    /// The top-level members, split on first use: an alert reads them several times (dedup key,
    /// statistics, contract).
    members: OnceLock<Vec<Member>>,
}

impl Sample {
    /// A sample from its text, which must be what serde_json writes for the `Value` it parses
    /// to (compact, keys in order, no duplicate key): the contract copies parts of it as they
    /// are, and they must read as writing the parsed value would.
    pub fn from_text(text: impl Into<Box<str>>) -> Sample {
        let text = text.into();
        debug_assert!(
            serde_json::from_str::<Value>(&text)
                .and_then(|v| serde_json::to_string(&v))
                .is_ok_and(|written| *written == *text),
            "a sample's text is a Value as serde_json writes it: {text}"
        );
        Sample {
            text,
            value: OnceLock::new(),
            members: OnceLock::new(),
        }
    }

    /// The sample's JSON text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The sample parsed (`null` when the text is not JSON, which a sampler does not write).
    pub fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_str(&self.text).unwrap_or(Value::Null))
    }

    /// Drops the parsed value, if any: held samples keep their text and its members (a few
    /// offsets each, read again when the alert is written), not a tree several times the text.
    pub fn shed(&mut self) {
        self.value.take();
    }

    /// The sample's top-level members, read from the text.
    pub fn members(&self) -> Obj<'_> {
        let members = self
            .members
            .get_or_init(|| Raw(Some(&self.text)).object().members.into_owned());
        Obj {
            text: &self.text,
            members: Cow::Borrowed(members),
        }
    }
}

impl From<Value> for Sample {
    fn from(value: Value) -> Sample {
        Sample {
            text: value.to_string().into_boxed_str(),
            value: OnceLock::from(value),
            members: OnceLock::new(),
        }
    }
}

impl Deref for Sample {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl Clone for Sample {
    /// The text only: a copy parses it again if it is read as a `Value`.
    fn clone(&self) -> Sample {
        Sample {
            text: self.text.clone(),
            value: OnceLock::new(),
            members: OnceLock::new(),
        }
    }
}

impl PartialEq for Sample {
    /// As `Value`s compare (object members in any order).
    fn eq(&self, other: &Sample) -> bool {
        self.text == other.text || self.value() == other.value()
    }
}

impl fmt::Debug for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value's JSON text within a sample, or `None` for a member the sample does not have. Read
/// as `Value`'s indexing reads: a member of what is not an object is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Raw<'a>(pub Option<&'a str>);

impl<'a> Raw<'a> {
    pub fn is_object(self) -> bool {
        self.0.is_some_and(|t| t.starts_with('{'))
    }

    pub fn is_array(self) -> bool {
        self.0.is_some_and(|t| t.starts_with('['))
    }

    /// Absent or `null`.
    pub fn is_null(self) -> bool {
        matches!(self.0, None | Some("null"))
    }

    /// The value if `keep` holds for it, else nothing.
    pub fn filter(self, keep: impl FnOnce(Self) -> bool) -> Raw<'a> {
        if keep(self) { self } else { Raw(None) }
    }

    /// The string's contents (borrowed unless it holds escapes), `None` for any other value.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let t = self.0?;
        let inner = t.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(t).ok().map(Cow::Owned)
    }

    /// The members of an object (none for anything else).
    pub fn object(self) -> Obj<'a> {
        let Some(t) = self.0.filter(|t| t.starts_with('{')) else {
            return Obj::default();
        };
        // Offsets into `t` of what borrows from it.
        let at = |s: &[u8]| {
            let start = s.as_ptr() as usize - t.as_ptr() as usize;
            (start, start + s.len())
        };
        let members = match kubevigil_audit::top_level_members(t.as_bytes()) {
            Some(members) => members
                .into_iter()
                .map(|(k, v)| Member {
                    key: Key::At(at(k)),
                    value: at(v),
                })
                .collect(),
            // Keys with escapes, which the scanner leaves to serde (the last of a repeated key,
            // as serde_json's map keeps it).
            None => serde_json::from_str::<BTreeMap<String, &RawValue>>(t)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| Member {
                    key: Key::Owned(k.into_boxed_str()),
                    value: at(v.get().as_bytes()),
                })
                .collect(),
        };
        Obj {
            text: t,
            members: Cow::Owned(members),
        }
    }

    /// The first element of an array.
    pub fn first(self) -> Raw<'a> {
        let Some(t) = self.0.filter(|t| t.starts_with('[')) else {
            return Raw(None);
        };
        let items: Vec<&'a RawValue> = serde_json::from_str(t).unwrap_or_default();
        Raw(items.first().map(|v| v.get()))
    }

    /// Appends the value as JSON (`or` when absent), with the escapes of
    /// [`kubevigil_model::text::json`]: the bytes that writer gives for the parsed value.
    pub fn write_or(self, out: &mut Vec<u8>, or: &str) {
        match self.0 {
            Some(t) => kubevigil_model::text::json::write_escaped_text(out, t),
            None => out.extend_from_slice(or.as_bytes()),
        }
    }
}

/// An object's members (key, value text) in order.
#[derive(Debug, Clone, Default)]
pub struct Obj<'a> {
    /// The object's text.
    text: &'a str,
    members: Cow<'a, [Member]>,
}

/// A member: where its key and value are in the object's text.
#[derive(Debug, Clone)]
struct Member {
    key: Key,
    value: (usize, usize),
}

#[derive(Debug, Clone)]
enum Key {
    /// Written without escapes, at these offsets.
    At((usize, usize)),
    /// Unescaped by serde.
    Owned(Box<str>),
}

impl<'a> Obj<'a> {
    /// The member `key` (the last one, should the key repeat).
    pub fn get(&self, key: &str) -> Raw<'a> {
        let text: &'a str = self.text;
        let bytes = text.as_bytes();
        let key = key.as_bytes();
        Raw(self
            .members
            .iter()
            .rev()
            .find(|m| match &m.key {
                Key::At((start, end)) => bytes.get(*start..*end) == Some(key),
                Key::Owned(k) => k.as_bytes() == key,
            })
            // Offsets of tokens: at character boundaries.
            .and_then(|m| text.get(m.value.0..m.value.1)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What is read from the text is what indexing the parsed value reads, and writing a part
    /// gives the bytes that writing the parsed part gives.
    #[test]
    fn reading_the_text_is_reading_the_value() {
        let samples = [
            json!({"user": {"username": "eve\u{202e}\"q\\", "groups": ["a", "b\u{7f}"]},
                "sourceIPs": ["10.0.0.1", "::1"], "verb": 7, "objectRef": null}),
            json!({"user": "bob", "sourceIPs": "x", "facts": {"k\u{1b}ey": {"a": [1, 2.5]}}}),
            json!({"user": {"user\"name": "x", "username": "y"}, "sourceIPs": []}),
            json!(null),
            json!([1, 2]),
        ];
        for v in samples {
            let s = Sample::from_text(v.to_string());
            let m = s.members();
            for key in ["user", "sourceIPs", "verb", "objectRef", "facts", "absent"] {
                let raw = m.get(key);
                let parsed = v.get(key);
                assert_eq!(raw.0.is_some(), parsed.is_some(), "{v} {key}");
                assert_eq!(raw.is_object(), v[key].is_object(), "{v} {key}");
                assert_eq!(raw.is_array(), v[key].is_array(), "{v} {key}");
                assert_eq!(raw.is_null(), v[key].is_null(), "{v} {key}");
                assert_eq!(raw.as_str().as_deref(), v[key].as_str(), "{v} {key}");
                assert_eq!(raw.first().as_str().as_deref(), v[key][0].as_str(), "{v}");
                for inner in ["username", "groups", "user\"name"] {
                    assert_eq!(
                        raw.object().get(inner).0.map(|t| t.to_string()),
                        v[key].get(inner).map(|i| i.to_string()),
                        "{v} {key} {inner}"
                    );
                }
                let mut written = Vec::new();
                raw.write_or(&mut written, "null");
                let mut expected = Vec::new();
                kubevigil_model::text::json::to_writer(&mut expected, &v[key], false).unwrap();
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(expected).unwrap()
                );
            }
            assert_eq!(s.value(), &v);
        }
    }
}
