//! Fast path of [`Event::parse`]: a hand-written scanner over the top-level event object.
//!
//! Request and response bodies are most of an event's bytes and are never needed to decide a
//! policy level or to prefilter detections, so they are skipped by bracket matching (strings
//! are scanned for their closing quote, brackets must balance and match) instead of being
//! parsed. String attributes are sliced directly out of the input when they have no escapes;
//! small nested attributes (`user`, `objectRef`, `responseStatus`, `sourceIPs`) are scanned
//! the same way; annotations are kept raw (they often hold escaped quotes) and parsed on demand.
//!
//! Returns `None` for anything it does not handle (escaped keys, unexpected types, malformed
//! input); the caller then parses with serde_json, which either accepts the event or produces
//! the error message.

use std::borrow::Cow;
use std::ops::Range;

use kubevigil_model::json_skip::{self, Members, NestedMember};

use crate::event::{Event, ObjectRef, RawJson, ResponseStatus, Str, UserInfo};

/// Bytes that end a string scan: the quote, the backslash, and control characters (invalid).
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

use kubevigil_model::swar::{HIGHS, ONES, word, zero_bytes};

/// Index of the first `"`, `\\` or control character at or after `i` (or `b.len()`).
/// Eight bytes at a time (SWAR), then byte by byte for the tail.
#[inline]
fn find_string_stop(b: &[u8], mut i: usize) -> usize {
    while i + 8 <= b.len() {
        let v = word(b, i);
        let m = zero_bytes(v ^ (ONES * u64::from(b'"')))
            | zero_bytes(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STRING_STOP[b[i] as usize] {
        i += 1;
    }
    i
}

/// The attributes of one object read so far: serde refuses an attribute given twice
/// ("duplicate field"), and so does this scan (it declines, and serde gives the error), so that
/// whether an event is accepted never depends on which path read it.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    /// `None` when attribute number `bit` was read before.
    #[inline(always)]
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        (self.0 & mask == 0).then(|| self.0 |= mask)
    }

    /// Attribute number `bit` read into `slot`, unless it was read before.
    #[inline(always)]
    fn set<T>(&mut self, bit: u32, slot: &mut T, value: T) -> Option<()> {
        self.first(bit)?;
        *slot = value;
        Some(())
    }
}

struct Scanner<'a, 'n> {
    b: &'a [u8],
    i: usize,
    /// When recording ([`parse_recording`]): the members of nested objects, for
    /// [`Members::nested`], and the index of the top-level member being read.
    nested: Option<&'n mut Vec<NestedMember>>,
    parent: usize,
}

/// The event, when this scan accepts it. Its annotations, if any, are then known to be a
/// `map[string]string` as serde reads one: [`Event::parse`] need not check them again.
pub(crate) fn parse(text: &[u8]) -> Option<Event<'_>> {
    let mut ev = Event::default();
    parse_into(text, &mut ev, None, None)?;
    Some(ev)
}

/// [`parse`], noting every top-level member, and the members of the small objects it reads
/// member by member, in `members` (complete only when the scan accepted the event).
pub(crate) fn parse_recording<'a>(text: &'a [u8], members: &mut Members) -> Option<Event<'a>> {
    members.clear();
    let mut ev = Event::default();
    parse_into(
        text,
        &mut ev,
        Some(&mut members.spans),
        Some(&mut members.nested),
    )?;
    // Past the bound, the notes are dropped and the projection scans the text itself.
    members.complete = members.spans.len() <= MAX_NOTED && members.nested.len() <= MAX_NOTED;
    if !members.complete {
        members.clear();
    }
    Some(ev)
}

/// The most members noted, top-level and nested each (an event has a few dozen): a hostile
/// event with millions of members must not make the notes ten times its own size.
const MAX_NOTED: usize = 1024;

/// The top-level members of a JSON object, each key (unescaped keys only) with its value's raw
/// text, in input order, found by the same bracket-matching skip as [`parse`] (bodies are not
/// parsed). `None` when the text is not an object this scanner handles: callers fall back to
/// serde_json.
pub fn top_level_members(text: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut members = Vec::with_capacity(24);
    whole_object(text, None, |p, key| {
        let start = p.i;
        p.skip_value()?;
        members.push((key, &text[start..p.i]));
        Some(())
    })?;
    Some(members)
}

/// Whether `raw` is a JSON object whose members are all strings (a `map[string]string`, as
/// audit annotations are), by this scanner; `false` leaves the decision, and the error message,
/// to serde.
pub(crate) fn is_string_map(raw: &[u8]) -> bool {
    whole_object(raw, None, |p, _| p.checked_str()).is_some()
}

/// Fills `ev` in place (events are large: moving them around costs as much as parsing).
fn parse_into<'a>(
    text: &'a [u8],
    ev: &mut Event<'a>,
    mut spans: Option<&mut Vec<(Range<usize>, Range<usize>)>>,
    nested: Option<&mut Vec<NestedMember>>,
) -> Option<()> {
    let mut seen = Seen::default();
    whole_object(text, nested, |p, key| {
        let value_start = p.i;
        p.parent = spans.as_deref().map_or(0, Vec::len);
        match key {
            b"kind" => seen.set(0, &mut ev.kind, p.opt_str()?)?,
            b"apiVersion" => seen.set(1, &mut ev.api_version, p.opt_str()?)?,
            b"level" => seen.set(2, &mut ev.level, p.opt_str()?)?,
            b"auditID" => seen.set(3, &mut ev.audit_id, p.opt_str()?)?,
            b"stage" => seen.set(4, &mut ev.stage, p.opt_str()?)?,
            b"requestURI" => seen.set(5, &mut ev.request_uri, p.opt_str()?)?,
            b"verb" => seen.set(6, &mut ev.verb, p.opt_str()?)?,
            b"userAgent" => seen.set(7, &mut ev.user_agent, p.opt_str()?)?,
            b"requestReceivedTimestamp" => {
                seen.set(8, &mut ev.request_received_timestamp, p.opt_str()?)?
            }
            b"stageTimestamp" => seen.set(9, &mut ev.stage_timestamp, p.opt_str()?)?,
            b"timestamp" => seen.set(10, &mut ev.timestamp, p.opt_str()?)?,
            b"user" => {
                seen.first(11)?;
                p.user(&mut ev.user)?;
            }
            b"impersonatedUser" => {
                seen.first(12)?;
                p.user(&mut ev.impersonated_user)?;
            }
            b"sourceIPs" => seen.set(13, &mut ev.source_ips, p.str_array()?)?,
            b"objectRef" => {
                seen.first(14)?;
                p.object_ref(&mut ev.object_ref)?;
            }
            b"responseStatus" => {
                seen.first(15)?;
                p.response_status(&mut ev.response_status)?;
            }
            // Checked as the string map it is in the same scan; anything else (the error
            // included) is serde's to judge.
            b"annotations" => seen.set(16, &mut ev.annotations, p.string_map()?)?,
            b"requestObject" => seen.set(17, &mut ev.request_object, p.raw()?)?,
            b"responseObject" => seen.set(18, &mut ev.response_object, p.raw()?)?,
            _ => p.skip_value()?,
        }
        if let Some(spans) = spans.as_deref_mut()
            && spans.len() <= MAX_NOTED
        {
            // The key borrows from `text`: its offset is the pointers' distance.
            let key_start = key.as_ptr() as usize - text.as_ptr() as usize;
            spans.push((key_start..key_start + key.len(), value_start..p.i));
        }
        Some(())
    })
}

/// `text` as one JSON object and nothing but blank space after it, each member visited by
/// `member` (at its value).
#[inline(always)]
fn whole_object<'a, 'n>(
    text: &'a [u8],
    nested: Option<&'n mut Vec<NestedMember>>,
    member: impl FnMut(&mut Scanner<'a, 'n>, &'a [u8]) -> Option<()>,
) -> Option<()> {
    let mut p = Scanner {
        b: text,
        i: 0,
        nested,
        parent: 0,
    };
    p.ws();
    if p.peek()? != b'{' {
        return None;
    }
    p.object(member)?;
    p.end().then_some(())
}

impl<'a> Scanner<'a, '_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// Only trailing whitespace may follow the event.
    fn end(&mut self) -> bool {
        self.ws();
        self.i == self.b.len()
    }

    /// Scans a string starting at the opening quote; returns the content span and whether it
    /// contains escapes. Control characters are invalid JSON: `None`.
    #[inline(always)]
    fn string_span(&mut self) -> Option<(usize, usize, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        let b = self.b;
        let mut i = self.i;
        loop {
            i = find_string_stop(b, i);
            match b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((start, i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => return None,
            }
        }
    }

    /// A key without escapes (every audit event key); escaped keys take the serde path.
    #[inline(always)]
    fn key(&mut self) -> Option<&'a [u8]> {
        let (start, end, escaped) = self.string_span()?;
        (!escaped).then(|| &self.b[start..end])
    }

    /// A string or null.
    #[inline(always)]
    fn opt_str(&mut self) -> Option<Option<Str<'a>>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        let quote = self.i;
        let (start, end, escaped) = self.string_span()?;
        if escaped {
            let decoded: String = serde_json::from_slice(&self.b[quote..end + 1]).ok()?;
            Some(Some(Str(Cow::Owned(decoded))))
        } else {
            let bytes = &self.b[start..end];
            let text = if bytes.is_ascii() {
                // SAFETY: ASCII bytes are valid UTF-8. (Attribute strings are nearly always
                // ASCII; this skips the general validator, a measurable share of parse time.)
                unsafe { std::str::from_utf8_unchecked(bytes) }
            } else {
                std::str::from_utf8(bytes).ok()?
            };
            Some(Some(Str(Cow::Borrowed(text))))
        }
    }

    /// A string, checked as serde would decode it, without decoding it: escapes other than
    /// `\u` are checked here; a string with `\u` (surrogate pairs, lone surrogates) is
    /// decoded by serde_json.
    #[inline]
    fn checked_str(&mut self) -> Option<()> {
        let quote = self.i;
        let (start, end, escaped) = self.string_span()?;
        let body = &self.b[start..end];
        if escaped {
            let mut i = 0;
            while let Some(at) = body[i..].iter().position(|&c| c == b'\\') {
                match body.get(i + at + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += at + 2,
                    b'u' => {
                        return serde_json::from_slice::<String>(&self.b[quote..end + 1])
                            .ok()
                            .map(drop);
                    }
                    _ => return None,
                }
            }
        }
        if !body.is_ascii() {
            std::str::from_utf8(body).ok()?;
        }
        Some(())
    }

    /// A `map[string]string` (annotations) kept as raw text; `null` is absent.
    fn string_map(&mut self) -> Option<Option<RawJson<'a>>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        let start = self.i;
        self.object(|p, key| {
            let value = p.i;
            p.checked_str()?;
            p.note_nested(key, value);
            Some(())
        })?;
        Some(Some(RawJson::new(&self.b[start..self.i])))
    }

    fn null(&mut self) -> Option<()> {
        (self.b.get(self.i..self.i + 4)? == b"null").then(|| self.i += 4)
    }

    /// Visits the members of an object (or returns `Some(false)` for `null`).
    #[inline(always)]
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<bool> {
        if self.peek()? == b'n' {
            return self.null().map(|_| false);
        }
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(true);
        }
        loop {
            self.ws();
            let key = self.key()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Some(true),
                _ => return None,
            }
        }
    }

    /// Parses a nested object into `slot` in place (`null` leaves it `None`).
    fn nested<T: Default>(
        &mut self,
        slot: &mut Option<T>,
        mut member: impl FnMut(&mut Self, &mut T, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? == b'n' {
            *slot = None;
            return self.null();
        }
        let target = slot.insert(T::default());
        self.object(|p, key| {
            let start = p.i;
            member(p, target, key)?;
            p.note_nested(key, start);
            Some(())
        })
        .map(|_| ())
    }

    /// Notes a member of a nested object just read (key, value from `start`), when recording.
    #[inline]
    fn note_nested(&mut self, key: &[u8], start: usize) {
        if let Some(nested) = &mut self.nested
            && nested.len() <= MAX_NOTED
        {
            let key_start = key.as_ptr() as usize - self.b.as_ptr() as usize;
            nested.push((self.parent, key_start..key_start + key.len(), start..self.i));
        }
    }

    fn user(&mut self, slot: &mut Option<UserInfo<'a>>) -> Option<()> {
        let mut seen = Seen::default();
        self.nested(slot, |p, u, key| {
            match key {
                b"username" => seen.set(0, &mut u.username, p.opt_str()?)?,
                b"uid" => seen.set(1, &mut u.uid, p.opt_str()?)?,
                b"groups" => seen.set(2, &mut u.groups, p.str_array()?)?,
                b"extra" => seen.set(3, &mut u.extra, p.raw()?)?,
                _ => p.skip_value()?,
            }
            Some(())
        })
    }

    fn object_ref(&mut self, slot: &mut Option<ObjectRef<'a>>) -> Option<()> {
        let mut seen = Seen::default();
        self.nested(slot, |p, o, key| {
            match key {
                b"resource" => seen.set(0, &mut o.resource, p.opt_str()?)?,
                b"namespace" => seen.set(1, &mut o.namespace, p.opt_str()?)?,
                b"name" => seen.set(2, &mut o.name, p.opt_str()?)?,
                b"uid" => seen.set(3, &mut o.uid, p.opt_str()?)?,
                b"apiGroup" => seen.set(4, &mut o.api_group, p.opt_str()?)?,
                b"apiVersion" => seen.set(5, &mut o.api_version, p.opt_str()?)?,
                b"resourceVersion" => seen.set(6, &mut o.resource_version, p.opt_str()?)?,
                b"subresource" => seen.set(7, &mut o.subresource, p.opt_str()?)?,
                _ => p.skip_value()?,
            }
            Some(())
        })
    }

    fn response_status(&mut self, slot: &mut Option<ResponseStatus<'a>>) -> Option<()> {
        let mut seen = Seen::default();
        self.nested(slot, |p, r, key| {
            match key {
                b"code" => seen.set(0, &mut r.code, p.int()?)?,
                b"status" => seen.set(1, &mut r.status, p.opt_str()?)?,
                b"reason" => seen.set(2, &mut r.reason, p.opt_str()?)?,
                b"message" => seen.set(3, &mut r.message, p.opt_str()?)?,
                _ => p.skip_value()?,
            }
            Some(())
        })
    }

    fn str_array(&mut self) -> Option<Option<Vec<Str<'a>>>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        self.eat(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Some(out));
        }
        loop {
            self.ws();
            out.push(self.opt_str()??);
            self.ws();
            match self.next()? {
                b',' => continue,
                b']' => return Some(Some(out)),
                _ => return None,
            }
        }
    }

    /// An i32 or null; anything else (fractions, exponents, overflow) takes the serde path.
    fn int(&mut self) -> Option<Option<i32>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v * 10 + i64::from(c - b'0');
            if v > i64::from(i32::MAX) + 1 {
                return None;
            }
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0
            || (digits > 1 && self.b[start] == b'0')
            || matches!(self.peek(), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let v = if neg { -v } else { v };
        i32::try_from(v).ok().map(Some)
    }

    /// A body: kept as raw text, `null` is absent.
    fn raw(&mut self) -> Option<Option<RawJson<'a>>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        let start = self.i;
        self.skip_value()?;
        Some(Some(RawJson::new(&self.b[start..self.i])))
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string_span().map(|_| ()),
            b'{' | b'[' => self.skip_container(),
            _ => {
                // true, false, null or a number: up to the next delimiter.
                let start = self.i;
                while let Some(c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                let tok = &self.b[start..self.i];
                let ok = matches!(tok, b"true" | b"false" | b"null")
                    || (!tok.is_empty()
                        && tok
                            .iter()
                            .all(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')));
                ok.then_some(())
            }
        }
    }

    /// Skips an object or array: brackets balance and match, strings terminate and hold no
    /// control character ([`json_skip::skip_container`], 64 bytes at a time).
    fn skip_container(&mut self) -> Option<()> {
        self.i = json_skip::skip_container(self.b, self.i, json_skip::Strings::Strict).ok()?;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast annotations check accepts only what serde's `map[string]string` accepts.
    #[test]
    fn string_maps_as_serde_reads_them() {
        use crate::event::StrMap;
        for raw in [
            r#"{"a":"b","c":"d\n\u00e9"}"#,
            r#"{}"#,
            r#" { "a" : "b" } "#,
            r#"{"a":"b","a":"c"}"#,
            r#"{"a":null}"#,
            r#"{"a":1}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"\u0061":"b"}"#,
            "{\"a\":\"b\u{1}\"}",
            r#"["a"]"#,
            r#"{"a":"b"} x"#,
            r#"{"a":"b",}"#,
        ] {
            let serde_ok = serde_json::from_str::<StrMap<'_>>(raw).is_ok();
            if is_string_map(raw.as_bytes()) {
                assert!(serde_ok, "{raw}");
            }
        }
        assert!(is_string_map(br#"{"a":"b","c":"d"}"#));
        assert!(!is_string_map(br#"{"a":null}"#));
    }

    /// Annotations are checked by the scan that reads the event (not scanned again): an event
    /// is accepted exactly when serde reads its annotations as a `map[string]string`.
    #[test]
    fn annotations_are_judged_as_serde_judges_them() {
        use crate::event::StrMap;
        let cases = [
            r#"{"a":"b"}"#,
            r#"{"a":"RBAC: allowed by ClusterRoleBinding \"x\" of \\ \/ \b\f\n\r\t"}"#,
            r#"{"a":"\u00e9\ud83d\ude00"}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\udc00x"}"#,
            r#"{"a":"\u00g0"}"#,
            r#"{"a":"\q"}"#,
            r#"{"a":"\'"}"#,
            r#"{"a":"b\"}"#,
            "{\"a\":\"\u{e9}\"}",
            "{\"a\":\"\\\u{1}\"}",
            r#"{"a":null}"#,
            r#"{"a":1}"#,
            r#"{"a":["b"]}"#,
            r#"{"\u0061":"b"}"#,
            r#"{}"#,
            r#"null"#,
            r#"["a"]"#,
            r#""a""#,
        ];
        for annotations in cases {
            let text = format!(r#"{{"kind":"Event","verb":"get","annotations":{annotations}}}"#);
            let serde = serde_json::from_str::<Option<StrMap<'_>>>(annotations).is_ok();
            assert_eq!(
                Event::parse(text.as_bytes()).is_ok(),
                serde,
                "{annotations}"
            );
        }
        // Bytes that are not UTF-8 in a value.
        let text = b"{\"kind\":\"Event\",\"annotations\":{\"a\":\"\\n\xff\"}}";
        assert!(Event::parse(text).is_err());
    }

    /// The members of `user`, `impersonatedUser`, `objectRef`, `responseStatus` and the
    /// annotations are noted with the top-level member that holds them, so that the Sigma
    /// projection does not scan them again.
    #[test]
    fn recording_notes_the_members_of_small_objects() {
        let mut members = Members::default();
        parse_recording(FULL, &mut members).unwrap();
        assert!(members.complete);
        let text = |r: &Range<usize>| std::str::from_utf8(&FULL[r.clone()]).unwrap();
        let noted: Vec<String> = members
            .nested
            .iter()
            .map(|(parent, key, value)| {
                let parent = text(&members.spans[*parent].0);
                format!("{parent}.{}={}", text(key), text(value))
            })
            .collect();
        assert_eq!(
            noted,
            [
                r#"user.username="u""#,
                r#"user.uid="1""#,
                r#"user.groups=["a","b"]"#,
                r#"user.extra={"k":["v"]}"#,
                r#"impersonatedUser.username="i""#,
                r#"objectRef.resource="secrets""#,
                r#"objectRef.namespace="a""#,
                r#"objectRef.name="s""#,
                r#"objectRef.apiVersion="v1""#,
                r#"objectRef.apiGroup="""#,
                r#"objectRef.subresource="""#,
                r#"objectRef.uid="u""#,
                r#"objectRef.resourceVersion="1""#,
                r#"responseStatus.metadata={}"#,
                r#"responseStatus.status="Failure""#,
                r#"responseStatus.reason="Forbidden""#,
                r#"responseStatus.message="no""#,
                r#"responseStatus.code=403"#,
                r#"annotations.a="b""#,
            ]
        );
    }

    /// Notes are bounded: an event with more members than [`MAX_NOTED`] (at the top or in
    /// `user`) is accepted without them, and the projection scans it itself.
    #[test]
    fn notes_are_bounded() {
        let many = (0..4 * MAX_NOTED)
            .map(|i| format!(r#""x{i}":1"#))
            .collect::<Vec<_>>();
        let many = many.join(",");
        for text in [
            format!(r#"{{"kind":"Event",{many}}}"#),
            format!(r#"{{"kind":"Event","user":{{"username":"a",{many}}}}}"#),
        ] {
            let mut members = Members::default();
            assert!(parse_recording(text.as_bytes(), &mut members).is_some());
            assert!(!members.complete);
            assert!(members.spans.is_empty() && members.nested.is_empty());
            assert!(members.spans.capacity() <= 2 * MAX_NOTED);
            assert!(members.nested.capacity() <= 2 * MAX_NOTED);
        }
        let mut members = Members::default();
        parse_recording(FULL, &mut members).unwrap();
        assert!(members.complete);
    }

    #[test]
    fn fast_path_handles_the_common_shape() {
        let text = br#" {"kind":"Event","level":"Metadata","verb":"get","user":{"username":"a","groups":["g"]},"sourceIPs":["1.2.3.4"],"objectRef":{"resource":"pods"},"responseStatus":{"metadata":{},"code":403},"requestObject":{"a":"}]\"","b":[1,{"c":null}]},"responseObject":null,"x-unknown":[true,false,-1.5e3],"annotations":{"k":"v"}} "#;
        let ev = parse(text).expect("fast path");
        assert_eq!(ev.verb(), "get");
        assert_eq!(ev.response_code(), Some(403));
        assert_eq!(
            ev.request_object.unwrap().bytes(),
            br#"{"a":"}]\"","b":[1,{"c":null}]}"#
        );
        assert!(ev.response_object.is_none());
        assert_eq!(ev.annotations().unwrap().get("k"), Some("v"));
    }

    #[test]
    fn fast_path_declines_what_it_does_not_handle() {
        for bad in [
            &br#"{"verb":"get""#[..],
            br#"{"verb":"get"} x"#,
            br#"{"requestObject":{"a":[1}}"#,
            br#"{"requestObject":{"a":"unterminated}}"#,
            br#"{"verb":5}"#,
            br#"{"ver\u0062":"get"}"#,
            br#"{"x":tru}"#,
            b"{\"verb\":\"g\x01\"}",
        ] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn swar_scanners_match_bytewise() {
        let text: Vec<u8> = (0u8..=255).cycle().take(600).collect();
        for start in 0..text.len() {
            let want = text[start..]
                .iter()
                .position(|&c| STRING_STOP[c as usize])
                .map_or(text.len(), |p| p + start);
            assert_eq!(find_string_stop(&text, start), want);
        }
    }

    #[test]
    fn non_ascii_strings() {
        let ev = parse("{\"verb\":\"gét\",\"user\":{\"username\":\"jürgen\"}}".as_bytes()).unwrap();
        assert_eq!(ev.verb(), "gét");
        assert_eq!(ev.user.unwrap().name(), "jürgen");
        assert!(parse(b"{\"verb\":\"g\xff\"}").is_none());
        assert!(Event::parse(b"{\"verb\":\"g\xff\"}").is_err());
    }

    #[test]
    fn escaped_string_values_are_decoded() {
        let ev = parse(br#"{"verb":"g\u0065t","requestURI":"/a\/b"}"#).unwrap();
        assert_eq!(ev.verb(), "get");
        assert_eq!(ev.request_uri(), "/a/b");
    }

    /// An attribute given twice, at the top or in `user`, `objectRef` or `responseStatus`:
    /// the scan accepts the event exactly when serde does (serde refuses a known attribute
    /// twice and ignores unknown ones).
    #[test]
    fn a_repeated_attribute_is_judged_as_serde_judges_it() {
        let text = std::str::from_utf8(FULL).unwrap();
        let mut cases = Vec::new();
        for (key, value) in top_level_members(FULL).unwrap() {
            let (key, value) = (
                std::str::from_utf8(key).unwrap(),
                std::str::from_utf8(value).unwrap(),
            );
            cases.push((
                key.to_string(),
                format!("{},\"{key}\":{value}}}", &text[..text.len() - 1]),
            ));
            if value.starts_with('{') && matches!(key, "user" | "objectRef" | "responseStatus") {
                for (inner, v) in top_level_members(value.as_bytes()).unwrap() {
                    let (inner, v) = (
                        std::str::from_utf8(inner).unwrap(),
                        std::str::from_utf8(v).unwrap(),
                    );
                    let doubled = format!("{},\"{inner}\":{v}}}", &value[..value.len() - 1]);
                    cases.push((format!("{key}.{inner}"), text.replacen(value, &doubled, 1)));
                }
            }
        }
        cases.push((
            "x-unknown".into(),
            text.replacen('{', r#"{"x":1,"x":2,"#, 1),
        ));
        assert!(cases.len() > 30, "{}", cases.len());
        let mut refused = 0;
        for (name, case) in &cases {
            let serde = serde_json::from_str::<Event>(case).is_ok();
            assert_eq!(
                parse(case.as_bytes()).is_some(),
                serde,
                "{name} twice: {case}"
            );
            refused += usize::from(!serde);
        }
        // Every known attribute of the event (18 at the top, 16 nested) is refused twice;
        // unknown ones (`x`, `responseStatus.metadata`) are not.
        let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!((cases.len(), refused), (36, 34), "{names:?}");
    }

    const FULL: &[u8] = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"x","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a/secrets","verb":"create","user":{"username":"u","uid":"1","groups":["a","b"],"extra":{"k":["v"]}},"impersonatedUser":{"username":"i"},"sourceIPs":["10.0.0.1","::1"],"userAgent":"kubectl","objectRef":{"resource":"secrets","namespace":"a","name":"s","apiVersion":"v1","apiGroup":"","subresource":"","uid":"u","resourceVersion":"1"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","message":"no","code":403},"requestObject":{"kind":"Secret"},"responseObject":{"kind":"Status"},"requestReceivedTimestamp":"2024-01-01T00:00:00.000000Z","stageTimestamp":"2024-01-01T00:00:00.100000Z","annotations":{"a":"b"}}"#;

    #[test]
    fn agrees_with_serde_on_generated_shapes() {
        let text = FULL;
        let fast = parse(text).unwrap();
        let slow: Event = serde_json::from_slice(text).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
}
