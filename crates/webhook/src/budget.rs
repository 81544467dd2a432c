//! What a review costs in memory, known before it is decoded.
//!
//! [`ObjectCost`] is gathered by [`crate::review::parse_envelope`] while it skips a review's
//! `object` and `oldObject` (a walk over the body's text that allocates nothing); [`cost`] turns
//! it into an upper bound of the heap memory serving the review takes: the body, the JSON trees
//! of both objects, and the largest of what a policy builds from them (Pod Security's typed pod,
//! the scan checks' copy of the object, the hardening patch) plus the response. The server
//! reserves that many bytes of its in-flight byte budget before decoding, so the requests in
//! flight never hold more than the budget (`tests/memory.rs` checks the bound against the
//! process's measured peak RSS).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The parts of one JSON value, counted while skipping it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCost {
    /// JSON values of every type (keys excluded).
    pub values: usize,
    /// Object members (key-value pairs).
    pub members: usize,
    /// Objects that are array elements: each becomes one typed element (a container, a
    /// volume, ...) when Pod Security decodes a pod.
    pub elements: usize,
    /// Bytes of strings and keys.
    pub text: usize,
}

impl<'de> serde::Deserialize<'de> for ObjectCost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut c = ObjectCost::default();
        Walk {
            c: &mut c,
            element: false,
        }
        .deserialize(d)?;
        Ok(c)
    }
}

/// Visits one value (serde_json bounds the nesting depth at 128).
struct Walk<'a> {
    c: &'a mut ObjectCost,
    element: bool,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

struct Key<'a>(&'a mut ObjectCost);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.text += v.len();
        Ok(())
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.c.values += 1;
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.c.values += 1;
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.c.values += 1;
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.c.values += 1;
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.c.values += 1;
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.c.values += 1;
        self.c.text += v.len();
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.c.values += 1;
        while seq
            .next_element_seed(Walk {
                c: &mut *self.c,
                element: true,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.c.values += 1;
        if self.element {
            self.c.elements += 1;
        }
        while map.next_key_seed(Key(&mut *self.c))?.is_some() {
            self.c.members += 1;
            map.next_value_seed(Walk {
                c: &mut *self.c,
                element: false,
            })?;
        }
        Ok(())
    }
}

/// Heap bytes of one JSON tree (`serde_json::Value`, insertion-ordered maps) per part, with
/// allocator overhead and growth slack.
const PER_VALUE: usize = 2 * std::mem::size_of::<serde_json::Value>();
const PER_MEMBER: usize = 2 * (std::mem::size_of::<serde_json::Value>() + 32) + 48;
const PER_TEXT_BYTE: usize = 2;

/// The largest typed element Pod Security decodes per array element (a container, an
/// ephemeral container or a volume of `k8s-openapi`'s `PodSpec`).
fn typed_element() -> usize {
    fn elem<T>(_: &Option<Vec<T>>) -> usize {
        std::mem::size_of::<T>()
    }
    fn vec_elem<T>(_: &[T]) -> usize {
        std::mem::size_of::<T>()
    }
    let spec = &kubevigil_pss::PodInput::default().spec;
    vec_elem(&spec.containers)
        .max(elem(&spec.ephemeral_containers))
        .max(elem(&spec.volumes))
        .max(elem(&spec.init_containers))
}

/// A JSON tree's heap bytes.
pub fn tree(c: &ObjectCost) -> usize {
    c.values * PER_VALUE + c.members * PER_MEMBER + c.text * PER_TEXT_BYTE
}

/// What serving a review will build besides the JSON trees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Pod Security decodes the pod (template) into typed form.
    pub pod_security: bool,
    /// The scan checks copy the object and index it.
    pub checks: bool,
    /// The hardening patch.
    pub patch: bool,
}

/// Upper bound of the heap memory serving a review takes (see the module documentation).
/// Policies run one after the other and free what they built, so the largest counts.
pub fn cost(body_len: usize, object: &ObjectCost, old_object: &ObjectCost, work: Work) -> usize {
    let trees = tree(object) + tree(old_object);
    // Pod Security: one typed element per array element, three times: a growing array that
    // the allocator cannot extend in place is copied into one twice its size, both resident for
    // a moment (up to n + 2n slots for n elements; measured: 90,000 volumes peak at 599 MB when
    // the last growth is in place and 709 MB when it is a copy). Strings copied, maps per member.
    let typed =
        object.elements * (3 * typed_element() + 64) + object.members * 64 + object.text * 2;
    let checks = 2 * tree(object);
    // A few small objects per container, serialised and base64-encoded.
    let patch = object.elements * 2048;
    // Messages, warnings and patches name containers and values: bounded by the text.
    let response = 4 * (object.text + old_object.text) + 64 * 1024;
    let policies = [
        (work.pod_security, typed),
        (work.checks, checks),
        (work.patch, patch),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .max()
    .unwrap_or(0);
    body_len + trees + policies + response
}
