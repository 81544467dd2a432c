//! Skipping a JSON object or array without parsing it: how the audit reader's fast path and the
//! Sigma engine's projection pass over request and response bodies, most of an audit event's
//! bytes. Brackets must balance and match by type outside strings and strings must terminate;
//! scalars, commas and colons are not checked here.
//!
//! Blocks of 64 bytes are classified at once, as simdjson's stage 1 does: quote, backslash,
//! bracket and control byte masks; escaped bytes from runs of backslashes; string interiors by
//! prefix XOR of the unescaped quotes. Only a block with a control byte inside a string (an
//! error when strict) and the input's tail go byte by byte.

/// The top-level members of a JSON object as a validating scan met them, so that a second
/// reader (the Sigma projection after the audit reader's check) goes straight to the members
/// it needs instead of scanning the text again: each member's key (an unescaped key, without
/// its quotes) and value, as byte ranges of the object's text, in input order, repeated keys
/// included.
#[derive(Debug, Default, Clone)]
pub struct Members {
    pub spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// The members of the small objects the scan read member by member (an audit event's
    /// `user`, `objectRef`, `responseStatus`, annotations), each as the index in `spans` of the
    /// member that holds it, its key and its value, in input order. A member of `spans` that
    /// has none here (a body, a scalar, `null`, `{}`) is scanned by the second reader.
    pub nested: Vec<NestedMember>,
    /// Whether `spans` holds the whole object (the scan that filled it accepted the text);
    /// otherwise the reader scans the text itself.
    pub complete: bool,
}

/// A member of a nested object ([`Members::nested`]): the index of the top-level member that
/// holds it, its key and its value.
pub type NestedMember = (usize, std::ops::Range<usize>, std::ops::Range<usize>);

impl Members {
    pub fn clear(&mut self) {
        self.spans.clear();
        self.nested.clear();
        self.complete = false;
    }
}

/// Why a skip failed, at byte `offset` of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipError {
    pub offset: usize,
    pub message: &'static str,
}

/// Whether a control character (below U+0020) inside a string is an error, as JSON has it
/// (`Strict`), or passed over (`Lenient`: the Sigma projection, whose input the audit reader
/// has already judged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    Strict,
    Lenient,
}

/// Skips the object or array opening at `b[start]`; `Ok(end)` is the index just past its
/// closing bracket.
pub fn skip_container(b: &[u8], start: usize, strings: Strings) -> Result<usize, SkipError> {
    skip_container_with(b, start, strings, classify64)
}

/// [`skip_container`] with a given block classifier (tests run both).
#[inline]
pub fn skip_container_with(
    b: &[u8],
    start: usize,
    strings: Strings,
    classify: impl Fn(&[u8]) -> Block,
) -> Result<usize, SkipError> {
    let strict = strings == Strings::Strict;
    let mut stack = Brackets {
        closers: [0; 64],
        depth: 0,
        deeper: Vec::new(),
    };
    let mut i = start;
    let mut in_string = false;
    // Whether the next byte is escaped by a backslash before it.
    let mut escaped = false;
    loop {
        if i + 64 <= b.len() {
            let block = classify(&b[i..i + 64]);
            let (escapes, carry) = escaped_bytes(block.backslash, escaped);
            let mut inside = prefix_xor(block.quote & !escapes);
            if in_string {
                inside = !inside;
            }
            // A control byte in a string: the byte-by-byte path locates the error.
            if !(strict && block.control & inside != 0) {
                in_string = inside >> 63 != 0;
                escaped = carry;
                let mut structural = block.brackets & !inside & !escapes;
                while structural != 0 {
                    let pos = i + structural.trailing_zeros() as usize;
                    structural &= structural - 1;
                    let closed = stack.step(b[pos]).map_err(|m| SkipError {
                        offset: pos,
                        message: m,
                    })?;
                    if closed {
                        return Ok(pos + 1);
                    }
                }
                i += 64;
                continue;
            }
        }
        // Byte by byte up to the end of this block.
        let end = (i + 64).min(b.len());
        if i >= b.len() {
            return Err(SkipError {
                offset: i,
                message: "unexpected end of input",
            });
        }
        while i < end {
            let c = b[i];
            if escaped {
                // As in blocks, a backslash escapes the next byte wherever it is (outside a
                // string the text is not JSON, and only bracket balance is judged here).
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if in_string {
                if c == b'"' {
                    in_string = false;
                } else if strict && c < 0x20 {
                    return Err(SkipError {
                        offset: i,
                        message: "control character in string",
                    });
                }
            } else if c == b'"' {
                in_string = true;
            } else if matches!(c, b'{' | b'[' | b'}' | b']') {
                let closed = stack.step(c).map_err(|m| SkipError {
                    offset: i,
                    message: m,
                })?;
                if closed {
                    return Ok(i + 1);
                }
            }
            i += 1;
        }
    }
}

/// The bytes of a block escaped by a backslash (the quote of `\"`, not that of `\\"`), given
/// whether the block's first byte is escaped by the previous block; and whether the next
/// block's first byte is. simdjson's odd-backslash-sequence method
/// (Langdale and Lemire, "Parsing Gigabytes of JSON per Second", 2019).
#[inline]
fn escaped_bytes(backslash: u64, first_escaped: bool) -> (u64, bool) {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let carried = u64::from(first_escaped);
    // An escaped backslash escapes nothing.
    let backslash = backslash & !carried;
    let follows = (backslash << 1) | carried;
    let odd_starts = backslash & !EVEN & !follows;
    let (even_runs, overflow) = odd_starts.overflowing_add(backslash);
    let invert = even_runs << 1;
    ((EVEN ^ invert) & follows, overflow)
}

/// The bracket stack of a skipped container: any depth (audit events nest as deep as the
/// objects the API server accepted), the first 64 levels without allocating.
struct Brackets {
    closers: [u8; 64],
    depth: usize,
    deeper: Vec<u8>,
}

impl Brackets {
    /// Applies one bracket; `Ok(true)` when the outermost container closed.
    #[inline]
    fn step(&mut self, c: u8) -> Result<bool, &'static str> {
        match c {
            b'{' | b'[' => {
                let closer = if c == b'{' { b'}' } else { b']' };
                match self.closers.get_mut(self.depth) {
                    Some(slot) => *slot = closer,
                    None => self.deeper.push(closer),
                }
                self.depth += 1;
                Ok(false)
            }
            _ => {
                let expected = match self.depth {
                    0 => None,
                    d if d <= self.closers.len() => Some(self.closers[d - 1]),
                    _ => self.deeper.pop(),
                };
                if expected != Some(c) {
                    return Err("mismatched bracket");
                }
                self.depth -= 1;
                Ok(self.depth == 0)
            }
        }
    }
}

/// Bit masks (bit i = byte i) of one 64-byte block.
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    quote: u64,
    backslash: u64,
    brackets: u64,
    /// Bytes below 0x20.
    control: u64,
}

/// Bit i of the result is the XOR of bits 0..=i: set inside strings (from the opening quote
/// up to, not including, the closing one).
#[inline]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

// The block classifier of this build: SSE2 on x86_64; the portable one elsewhere, or on
// x86_64 with the `portable-json-classifier` feature (so that whole test suites run on it too:
// `cargo test -p kubevigil-sigma --features portable-classifier`). Unit tests compare the two on
// the same inputs.
#[cfg(not(all(target_arch = "x86_64", not(feature = "portable-json-classifier"))))]
pub use classify64_portable as classify64;
#[cfg(all(target_arch = "x86_64", not(feature = "portable-json-classifier")))]
pub use classify64_sse2 as classify64;

/// The SSE2 block classifier (x86_64's baseline).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn classify64_sse2(chunk: &[u8]) -> Block {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    assert!(chunk.len() >= 64);
    let (mut quote, mut backslash, mut brackets, mut control) = (0u64, 0u64, 0u64, 0u64);
    // SAFETY: SSE2 is part of the x86_64 baseline; the four unaligned 16-byte loads stay
    // within `chunk`, whose length was checked above.
    unsafe {
        let q = _mm_set1_epi8(b'"' as i8);
        let bs = _mm_set1_epi8(b'\\' as i8);
        // `{`|0x20 == `{` == `[`|0x20, and the same for `}`/`]`: one compare per pair.
        let low = _mm_set1_epi8(0x20);
        let open = _mm_set1_epi8(b'{' as i8);
        let close = _mm_set1_epi8(b'}' as i8);
        // max(v, 0x1f) == 0x1f exactly when v <= 0x1f (unsigned).
        let below = _mm_set1_epi8(0x1f);
        for k in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k) as *const __m128i);
            let folded = _mm_or_si128(v, low);
            let shift = 16 * k;
            quote |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, q)) as u16) << shift;
            backslash |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, bs)) as u16) << shift;
            let br = _mm_or_si128(_mm_cmpeq_epi8(folded, open), _mm_cmpeq_epi8(folded, close));
            brackets |= u64::from(_mm_movemask_epi8(br) as u16) << shift;
            let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, below), below);
            control |= u64::from(_mm_movemask_epi8(ctl) as u16) << shift;
        }
    }
    Block {
        quote,
        backslash,
        brackets,
        control,
    }
}

/// The portable block classifier (every architecture).
#[inline]
pub fn classify64_portable(chunk: &[u8]) -> Block {
    let (mut quote, mut backslash, mut brackets, mut control) = (0u64, 0u64, 0u64, 0u64);
    for (i, &c) in chunk[..64].iter().enumerate() {
        let bit = 1u64 << i;
        match c {
            b'"' => quote |= bit,
            b'\\' => backslash |= bit,
            b'{' | b'}' | b'[' | b']' => brackets |= bit,
            0..0x20 => control |= bit,
            _ => {}
        }
    }
    Block {
        quote,
        backslash,
        brackets,
        control,
    }
}

/// The SSE2 classifier (x86_64) against the portable one (every other architecture) on the
/// same inputs: every byte value at every position, random blocks, and whole skips.
#[cfg(all(test, target_arch = "x86_64"))]
mod classifier_tests {
    use super::*;
    use proptest::prelude::*;

    fn skip(input: &[u8], strings: Strings, classify: impl Fn(&[u8]) -> Block) -> String {
        format!("{:?}", skip_container_with(input, 0, strings, classify))
    }

    #[test]
    fn every_byte_at_every_position() {
        for fill in [b' ', b'a', b'"', b'\\', b'{', 0x80, 0xff, 0x00, 0x1f, 0x20] {
            for pos in 0..64 {
                for byte in 0..=255u8 {
                    let mut chunk = [fill; 64];
                    chunk[pos] = byte;
                    assert_eq!(
                        classify64_sse2(&chunk),
                        classify64_portable(&chunk),
                        "fill {fill:#x}, byte {byte:#x} at {pos}"
                    );
                }
            }
        }
    }

    /// Bytes JSON scanning cares about, often; anything else sometimes.
    fn json_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            4 => prop::sample::select(b"\"\\{}[]:, a0\n".to_vec()),
            1 => any::<u8>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_blocks(chunk in prop::collection::vec(json_byte(), 64)) {
            prop_assert_eq!(classify64_sse2(&chunk), classify64_portable(&chunk));
        }

        /// Whole skips over random containers (valid or not), 64-byte blocks and byte-by-byte
        /// tails mixed: same outcome, same error offset, same end position; and the same as a
        /// plain byte-by-byte skip.
        #[test]
        fn random_skips(body in prop::collection::vec(json_byte(), 0..400), open in prop::bool::ANY) {
            let mut input = vec![if open { b'{' } else { b'[' }];
            input.extend(body);
            for strings in [Strings::Strict, Strings::Lenient] {
                let a = skip(&input, strings, classify64_sse2);
                prop_assert_eq!(&a, &skip(&input, strings, classify64_portable));
                prop_assert_eq!(&a, &format!("{:?}", plain_skip(&input, strings)));
            }
        }

        /// Valid JSON containers: both skip exactly to their end.
        #[test]
        fn valid_containers(v in arb_json(), pad in 0usize..70) {
            let text = format!("[{:?},{}]", "-".repeat(pad), v);
            for strings in [Strings::Strict, Strings::Lenient] {
                let end = Ok(text.len());
                prop_assert_eq!(skip_container_with(text.as_bytes(), 0, strings, classify64_sse2), end);
                prop_assert_eq!(skip_container_with(text.as_bytes(), 0, strings, classify64_portable), end);
            }
        }
    }

    /// The same skip without blocks: one byte at a time.
    fn plain_skip(b: &[u8], strings: Strings) -> Result<usize, SkipError> {
        let mut stack = Brackets {
            closers: [0; 64],
            depth: 0,
            deeper: Vec::new(),
        };
        let (mut in_string, mut escaped) = (false, false);
        for (i, &c) in b.iter().enumerate() {
            let err = |message| Err(SkipError { offset: i, message });
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if in_string {
                if c == b'"' {
                    in_string = false;
                } else if strings == Strings::Strict && c < 0x20 {
                    return err("control character in string");
                }
            } else if c == b'"' {
                in_string = true;
            } else if matches!(c, b'{' | b'[' | b'}' | b']') {
                match stack.step(c) {
                    Ok(true) => return Ok(i + 1),
                    Ok(false) => {}
                    Err(m) => return err(m),
                }
            }
        }
        Err(SkipError {
            offset: b.len(),
            message: "unexpected end of input",
        })
    }

    /// Runs of 1 to 5 backslashes ending at every position around a block boundary, before a
    /// quote or a bracket, inside and outside strings: blocks agree with the byte-by-byte skip.
    #[test]
    fn backslash_runs_across_blocks() {
        for run in 1..=5 {
            for end in 40..140 {
                for after in [b'"', b']', b'a'] {
                    for prefix in [&b"[\""[..], &b"["[..]] {
                        let mut input = prefix.to_vec();
                        input.resize(end.max(input.len() + run) - run, b'x');
                        input.extend(std::iter::repeat_n(b'\\', run));
                        input.push(after);
                        input.extend_from_slice(&[b'x'; 70]);
                        input.extend_from_slice(b"\"]]");
                        for strings in [Strings::Strict, Strings::Lenient] {
                            let want = format!("{:?}", plain_skip(&input, strings));
                            assert_eq!(skip(&input, strings, classify64_sse2), want);
                            assert_eq!(skip(&input, strings, classify64_portable), want);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_control_character_in_a_string_is_an_error_when_strict() {
        let mut text = format!("{{\"a\":\"{}\u{1}\"}}", "x".repeat(80)).into_bytes();
        let at = text.iter().position(|&c| c == 1).unwrap();
        for classify in [classify64_sse2, classify64_portable] {
            assert_eq!(
                skip_container_with(&text, 0, Strings::Strict, classify),
                Err(SkipError {
                    offset: at,
                    message: "control character in string"
                })
            );
            assert_eq!(
                skip_container_with(&text, 0, Strings::Lenient, classify),
                Ok(text.len())
            );
        }
        // Outside strings, whitespace is passed over either way.
        text[at] = b'x';
        text.insert(1, b'\n');
        assert_eq!(skip_container(&text, 0, Strings::Strict), Ok(text.len()));
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[\"\\\\{}\\[\\]a-z :,\t\n]{0,40}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[\"{}a-z]{0,8}", inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
