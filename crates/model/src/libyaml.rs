//! A safe event iterator over libyaml (the `unsafe-libyaml` crate, a faithful Rust translation of
//! libyaml 0.2.5). go-yaml v2, which kubectl reads YAML with, is a line-by-line Go port of the same
//! library, and PyYAML's C loader (the reference of the differential test) is libyaml itself: all
//! three accept the same documents and read them to the same events.
//!
//! All `unsafe` code of the project's YAML reading is in this module.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

/// One parser event, owned.
#[derive(Debug)]
pub(crate) enum YamlEvent {
    Scalar {
        anchor: Option<String>,
        tag: Option<String>,
        value: String,
        /// Plain style (unquoted, not a block scalar).
        plain: bool,
    },
    SequenceStart {
        anchor: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
    },
    MappingEnd,
    Alias {
        anchor: String,
    },
    /// Stream and document boundaries.
    Boundary,
    StreamEnd,
}

/// A parser error: libyaml's problem (and context) and the byte offset it refers to.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub message: String,
    pub index: u64,
}

/// The parser, reading `text` (which it borrows for its whole life).
pub(crate) struct EventParser<'a> {
    parser: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    failed: bool,
    _text: PhantomData<&'a [u8]>,
}

impl<'a> EventParser<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut parser = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        // SAFETY: initialize fills the zeroed struct; the input pointer stays valid for 'a, which
        // outlives the parser (it is deleted in Drop).
        unsafe {
            let p = parser.as_mut_ptr();
            assert!(
                unsafe_libyaml::yaml_parser_initialize(p).ok,
                "libyaml failed to initialise"
            );
            unsafe_libyaml::yaml_parser_set_input_string(p, text.as_ptr(), text.len() as _);
        }
        EventParser {
            parser,
            failed: false,
            _text: PhantomData,
        }
    }

    /// The next event and the byte offset where it starts.
    pub fn next(&mut self) -> Result<(YamlEvent, u64), ParseError> {
        if self.failed {
            return Err(ParseError {
                message: "the parser stopped at an earlier error".into(),
                index: 0,
            });
        }
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new` and has not failed; on success the event
        // is initialised, read, then deleted exactly once.
        unsafe {
            let p = self.parser.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_parse(p, event.as_mut_ptr()).fail {
                self.failed = true;
                return Err(error_of(&*p));
            }
            let ev = &*event.as_ptr();
            let start = ev.start_mark.index;
            let out = convert(ev);
            unsafe_libyaml::yaml_event_delete(event.as_mut_ptr());
            Ok((out, start))
        }
    }
}

impl Drop for EventParser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// SAFETY: `s` is null or a NUL-terminated string owned by a live event or parser.
unsafe fn owned(s: *const u8) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: see above.
    let c = unsafe { CStr::from_ptr(s.cast()) };
    Some(String::from_utf8_lossy(c.to_bytes()).into_owned())
}

/// SAFETY: `ev` is an event just produced by `yaml_parser_parse`.
unsafe fn convert(ev: &unsafe_libyaml::yaml_event_t) -> YamlEvent {
    use unsafe_libyaml::yaml_event_type_t as T;
    // SAFETY: each union field is read only for its event type.
    unsafe {
        match ev.type_ {
            T::YAML_SCALAR_EVENT => {
                let s = &ev.data.scalar;
                let bytes = if s.value.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(s.value, s.length as usize)
                };
                YamlEvent::Scalar {
                    anchor: owned(s.anchor),
                    tag: owned(s.tag),
                    // libyaml checks that its input is UTF-8, so this is lossless (and the
                    // validating copy is faster than the lossy conversion's chunked one).
                    value: match std::str::from_utf8(bytes) {
                        Ok(s) => s.to_owned(),
                        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                    },
                    plain: s.style == unsafe_libyaml::yaml_scalar_style_t::YAML_PLAIN_SCALAR_STYLE,
                }
            }
            T::YAML_SEQUENCE_START_EVENT => YamlEvent::SequenceStart {
                anchor: owned(ev.data.sequence_start.anchor),
            },
            T::YAML_SEQUENCE_END_EVENT => YamlEvent::SequenceEnd,
            T::YAML_MAPPING_START_EVENT => YamlEvent::MappingStart {
                anchor: owned(ev.data.mapping_start.anchor),
            },
            T::YAML_MAPPING_END_EVENT => YamlEvent::MappingEnd,
            T::YAML_ALIAS_EVENT => YamlEvent::Alias {
                anchor: owned(ev.data.alias.anchor).unwrap_or_default(),
            },
            T::YAML_STREAM_END_EVENT => YamlEvent::StreamEnd,
            _ => YamlEvent::Boundary,
        }
    }
}

/// SAFETY: `p` is a parser whose last call failed.
unsafe fn error_of(p: &unsafe_libyaml::yaml_parser_t) -> ParseError {
    // SAFETY: problem and context are static C strings or null.
    let (problem, context) = unsafe { (owned(p.problem.cast()), owned(p.context.cast())) };
    let problem = problem.unwrap_or_else(|| "unknown error".into());
    let message = match context {
        Some(c) => format!("{problem} {c}"),
        None => problem,
    };
    let index = if p.problem_mark.index == 0 && p.problem_offset != 0 {
        // Reader errors (invalid UTF-8, control characters) give an offset, not a mark.
        p.problem_offset
    } else {
        p.problem_mark.index
    };
    ParseError { message, index }
}
