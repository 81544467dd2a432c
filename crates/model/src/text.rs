//! Untrusted text in human-readable output.
//!
//! Object names, labels, file names, audit fields and messages quoting them come from whoever
//! wrote the input. Printed raw, a control character in them can rewrite the operator's
//! terminal (`ESC ]0;title BEL` sets the window title, `ESC [2J` clears the screen, CR returns
//! to the line start and overwrites what came before), forge extra lines in a table or a log,
//! and bidirectional overrides can show text in another order than it is
//! ("trojan source", CVE-2021-42574). Every human-readable renderer passes such text through
//! [`escape_controls`] (or [`Escaped`]); machine formats escape with their own syntax instead
//! (JSON and SARIF through [`json`], JUnit XML in the report crate).
//!
//! The convention, one visible form per character:
//!
//! | character                                   | shown as                         |
//! |---------------------------------------------|----------------------------------|
//! | NUL, BEL, BS, TAB, LF, VT, FF, CR, ESC      | `\0` `\a` `\b` `\t` `\n` `\v` `\f` `\r` `\e` |
//! | other C0 controls (U+0001–U+001F), DEL      | `\xHH`, e.g. `\x1f`, `\x7f`      |
//! | C1 controls (U+0080–U+009F)                 | `\u{HH}`, e.g. `\u{9b}` (CSI)    |
//! | bidi controls, line/paragraph separators    | `\u{HHHH}`, e.g. `\u{202e}`      |
//!
//! The bidi controls are Unicode's `Bidi_Control` characters (PropList.txt): U+061C, U+200E,
//! U+200F, U+202A–U+202E, U+2066–U+2069; the separators are U+2028 and U+2029. Everything
//! else, backslashes included, is printed as it is: a `\e` in the output may also be a
//! backslash and an `e` in the input; `-o json` gives the exact text.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Lowercase hexadecimal of `bytes` (digests, keys), written without a `format!` per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// `s` as one URL component (a query value, a path segment): every byte but RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) percent-encoded.
pub fn percent_encode(s: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Whether [`escape_controls`] replaces `c`.
pub fn is_unsafe(c: char) -> bool {
    // `is_control` is general category Cc: U+0000–U+001F, U+007F–U+009F.
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Byte offset of the first [`is_unsafe`] character. Printable ASCII, the common case (every
/// string of a JSON report passes here), is skipped eight bytes at a time.
fn first_unsafe(s: &str) -> Option<usize> {
    use crate::swar::{HIGHS, ONES, bytes_equal, word};
    let b = s.as_bytes();
    let mut i = 0;
    while i + 8 <= b.len() {
        let v = word(b, i);
        // A byte >= 0x80, < 0x20 (the "hasless" test: exact for a threshold up to 128), or DEL.
        let below = v.wrapping_sub(ONES * 0x20) & !v & HIGHS;
        if (v & HIGHS) | below | bytes_equal(v, 0x7f) != 0 {
            break;
        }
        i += 8;
    }
    let start = i + b[i..].iter().position(|b| !(0x20..0x7f).contains(b))?;
    s[start..].find(is_unsafe).map(|i| start + i)
}

/// `s` with every control, bidi control and line separator replaced by its visible escape (see
/// the module documentation); borrowed when there is none.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let Some(first) = first_unsafe(s) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        let _ = match c {
            '\0' => out.write_str("\\0"),
            '\x07' => out.write_str("\\a"),
            '\x08' => out.write_str("\\b"),
            '\t' => out.write_str("\\t"),
            '\n' => out.write_str("\\n"),
            '\x0b' => out.write_str("\\v"),
            '\x0c' => out.write_str("\\f"),
            '\r' => out.write_str("\\r"),
            '\x1b' => out.write_str("\\e"),
            c if c < '\u{80}' && is_unsafe(c) => write!(out, "\\x{:02x}", c as u32),
            c if is_unsafe(c) => write!(out, "\\u{{{:x}}}", c as u32),
            c => out.write_char(c),
        };
    }
    Cow::Owned(out)
}

/// Displays a string through [`escape_controls`]; width and alignment (`{:<20}`) apply to the
/// escaped text. For `format!` arguments and `tracing` fields (`name = %Escaped(&name)`).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&escape_controls(self.0))
    }
}

/// JSON whose strings carry no raw [`is_unsafe`] character: serde_json escapes C0 controls
/// itself but writes DEL, C1 controls and bidi controls as they are, and JSON output is often
/// read on a terminal. They become `\uXXXX` escapes (all are in the BMP), so the document
/// still parses to exactly the same text.
pub mod json {
    use std::io;

    use serde::Serialize;
    use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

    use super::first_unsafe;

    /// Wraps serde_json's formatters; only string contents are changed.
    struct Safe<F>(F);

    macro_rules! delegate {
        ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
            fn $name<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                self.0.$name(w $(, $arg)*)
            }
        )*};
    }

    impl<F: Formatter> Formatter for Safe<F> {
        delegate! {
            begin_array();
            end_array();
            begin_array_value(first: bool);
            end_array_value();
            begin_object();
            end_object();
            begin_object_key(first: bool);
            end_object_key();
            begin_object_value();
            end_object_value();
        }

        fn write_string_fragment<W: ?Sized + io::Write>(
            &mut self,
            w: &mut W,
            fragment: &str,
        ) -> io::Result<()> {
            let mut rest = fragment;
            while let Some(i) = first_unsafe(rest) {
                let c = rest[i..].chars().next().expect("found a char");
                w.write_all(&rest.as_bytes()[..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                rest = &rest[i + c.len_utf8()..];
            }
            w.write_all(rest.as_bytes())
        }
    }

    /// `serde_json::to_writer` (or `to_writer_pretty`), with the escapes above.
    pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(
        w: W,
        value: &T,
        pretty: bool,
    ) -> serde_json::Result<()> {
        if pretty {
            value.serialize(&mut Serializer::with_formatter(
                w,
                Safe(PrettyFormatter::new()),
            ))
        } else {
            value.serialize(&mut Serializer::with_formatter(w, Safe(CompactFormatter)))
        }
    }

    /// Appends `text`, compact JSON as serde_json writes it, with the escapes above: the bytes
    /// [`to_writer`] gives for the value `text` parses to. (In such text an unsafe character can
    /// only stand raw inside a string, where serde_json's writer would have passed it to the
    /// fragment writer; C0 controls are already escaped.)
    pub fn write_escaped_text(out: &mut Vec<u8>, text: &str) {
        let mut rest = text;
        while let Some(i) = first_unsafe(rest) {
            let c = rest[i..].chars().next().expect("found a char");
            out.extend_from_slice(&rest.as_bytes()[..i]);
            out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            rest = &rest[i + c.len_utf8()..];
        }
        out.extend_from_slice(rest.as_bytes());
    }

    /// `serde_json::to_string` (or `to_string_pretty`), with the escapes above.
    pub fn to_string<T: Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<String> {
        let mut out = Vec::with_capacity(128);
        to_writer(&mut out, value, pretty)?;
        Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    /// The word-at-a-time skip finds what a byte-by-byte search finds, at every offset and
    /// for every byte around the printable range.
    #[test]
    fn first_unsafe_matches_a_bytewise_search() {
        fn reference(s: &str) -> Option<usize> {
            s.char_indices()
                .find(|(_, c)| is_unsafe(*c))
                .map(|(i, _)| i)
        }
        let specials = [
            '\0', '\x1f', ' ', '~', '\x7f', '\u{80}', '\u{9f}', 'é', '\u{202e}', '\u{2028}',
        ];
        for len in 0..20 {
            for at in 0..len {
                for c in specials {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..at + 1, &c.to_string());
                    assert_eq!(first_unsafe(&s), reference(&s), "{s:?}");
                }
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let s: String = (0..40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    match state % 10 {
                        0 => specials[(state >> 8) as usize % specials.len()],
                        _ => char::from(b' ' + (state >> 16) as u8 % 95),
                    }
                })
                .collect();
            assert_eq!(first_unsafe(&s), reference(&s), "{s:?}");
        }
    }

    use super::*;

    #[test]
    fn percent_encode_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a-Z_0.9~"), "a-Z_0.9~");
        assert_eq!(percent_encode("k=v&x/y z#é"), "k%3Dv%26x%2Fy%20z%23%C3%A9");
    }

    #[test]
    fn json_escapes_what_serde_json_leaves_raw_and_stays_exact() {
        let text = "e\u{1b}]0;x\u{7}\u{7f}\u{9b}2J\u{202e}gnp.exe\u{2029}ü✓\"\\";
        let v = serde_json::json!({ text: [text, 1] });
        for pretty in [false, true] {
            let s = json::to_string(&v, pretty).unwrap();
            assert!(!s.chars().any(|c| is_unsafe(c) && c != '\n'), "{s:?}");
            assert!(s.contains("\\u007f\\u009b2J\\u202egnp.exe\\u2029ü✓"), "{s}");
            let back: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(
            json::to_string(&v, true)
                .unwrap()
                .replace("\\u007f", "\u{7f}")
                .replace("\\u009b", "\u{9b}")
                .replace("\\u202e", "\u{202e}")
                .replace("\\u2029", "\u{2029}"),
            serde_json::to_string_pretty(&v).unwrap(),
            "the layout is serde_json's"
        );
        let mut escaped = Vec::new();
        json::write_escaped_text(&mut escaped, &v.to_string());
        assert_eq!(
            String::from_utf8(escaped).unwrap(),
            json::to_string(&v, false).unwrap(),
            "escaping serde_json's text is writing the value"
        );
    }

    #[test]
    fn plain_text_is_borrowed() {
        let s = "web-7f9c/ns\\path ünïcödé ✓ \u{200B}";
        assert!(matches!(escape_controls(s), Cow::Borrowed(x) if x == s));
    }

    #[test]
    fn every_control_is_visible() {
        assert_eq!(
            escape_controls("e\u{1b}]0;owned\u{7}\u{1b}[2J"),
            "e\\e]0;owned\\a\\e[2J"
        );
        assert_eq!(
            escape_controls("\0\u{8}\t\n\u{b}\u{c}\r\u{1}\u{1f}\u{7f}"),
            "\\0\\b\\t\\n\\v\\f\\r\\x01\\x1f\\x7f"
        );
        assert_eq!(
            escape_controls("a\u{80}\u{9b}\u{9f}b"),
            "a\\u{80}\\u{9b}\\u{9f}b"
        );
        assert_eq!(
            escape_controls(
                "\u{61c}\u{200e}\u{200f}\u{202a}\u{202e}\u{2066}\u{2069}\u{2028}\u{2029}"
            ),
            "\\u{61c}\\u{200e}\\u{200f}\\u{202a}\\u{202e}\\u{2066}\\u{2069}\\u{2028}\\u{2029}"
        );
        // Exhaustive: nothing the function leaves is a control or a bidi control.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.to_string();
            let e = escape_controls(&s);
            assert!(!e.chars().any(is_unsafe), "{c:?}");
            assert_eq!(matches!(e, Cow::Owned(_)), is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn display_pads_the_escaped_text() {
        assert_eq!(format!("[{:<6}]", Escaped("a\u{1b}")), "[a\\e   ]");
        assert_eq!(format!("{}", Escaped("ok")), "ok");
    }
}

/// A YAML writer for what kubevigil generates (manifests, RBAC proposals): block style, strings
/// quoted unless they read back unchanged, quoted strings written as JSON strings with
/// [`super::json`]'s escapes (valid YAML double-quoted scalars: no control or bidi character
/// reaches a terminal or a file raw).
pub mod yaml {
    use serde_json::Value;

    /// Renders values as a multi-document YAML stream (block style, strings double-quoted).
    pub fn to_yaml(docs: &[Value]) -> String {
        let mut out = String::new();
        for d in docs {
            out.push_str("---\n");
            emit(d, 0, &mut out);
        }
        out
    }

    /// `text` as YAML comment lines (`# ...`), words wrapped before column 100; each `\n` in
    /// `text` starts a new line.
    pub fn comment(text: &str) -> String {
        let mut out = String::new();
        for para in text.split('\n') {
            let mut len = 1;
            out.push('#');
            for word in para.split(' ').filter(|w| !w.is_empty()) {
                if len > 1 && len + word.len() + 1 > 100 {
                    out.push_str("\n#");
                    len = 1;
                }
                out.push(' ');
                out.push_str(word);
                len += word.len() + 1;
            }
            out.push('\n');
        }
        out
    }

    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) if is_plain(s) => s.clone(),
            Value::String(s) => super::json::to_string(s, false).expect("strings serialize"),
            Value::Object(m) if m.is_empty() => "{}".into(),
            Value::Array(a) if a.is_empty() => "[]".into(),
            other => other.to_string(),
        }
    }

    /// Strings that read back as the same string when left unquoted (YAML 1.1 and 1.2).
    fn is_plain(s: &str) -> bool {
        const SPECIAL: [&str; 10] = [
            "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
        ];
        s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
            && !SPECIAL.contains(&s.to_ascii_lowercase().as_str())
    }

    fn is_block(v: &Value) -> bool {
        matches!(v, Value::Object(m) if !m.is_empty())
            || matches!(v, Value::Array(a) if !a.is_empty())
    }

    fn key(k: &str) -> String {
        let plain = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
            && !k.starts_with(['-', '.']);
        if plain {
            k.to_string()
        } else {
            scalar(&Value::String(k.to_string()))
        }
    }

    fn emit(v: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    if is_block(v) {
                        out.push_str(&format!("{pad}{}:\n", key(k)));
                        let child = if v.is_array() { indent } else { indent + 2 };
                        emit(v, child, out);
                    } else {
                        out.push_str(&format!("{pad}{}: {}\n", key(k), scalar(v)));
                    }
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for item in a {
                    if is_block(item) {
                        // The first line of the item goes after "- ", the rest indented under it.
                        let mut inner = String::new();
                        emit(item, indent + 2, &mut inner);
                        let body = inner.get(indent + 2..).unwrap_or("");
                        out.push_str(&format!("{pad}- {body}"));
                    } else {
                        out.push_str(&format!("{pad}- {}\n", scalar(item)));
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::json;

        #[test]
        fn yaml_round_trips_through_the_model_loader() {
            let docs = vec![
                json!({"a": {"b": [1, {"c": "x\ny", "d": []}, [2, 3]], "e": {}}, "k.io/x": true, "-odd": null,
                "s": ["yes", "No", "1.5", "v1", "/mutate", "a b", "x:y", "Off", "apps/v1", "0x1f", "e1",
                      "esc\u{1b}[2J", "bidi\u{202e}x", "quote\"'"]}),
            ];
            let text = to_yaml(&docs);
            assert!(
                !text.lines().any(|l| l.chars().any(crate::text::is_unsafe)),
                "{text}"
            );
            let back = crate::yaml::parse_document(&text, 0, Default::default())
                .unwrap()
                .unwrap()
                .0;
            assert_eq!(back, docs[0], "{text}");
        }
    }
}
