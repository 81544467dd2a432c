//! Typed, zero-copy view of one Kubernetes audit event.
//!
//! The field set mirrors `Event` of `k8s.io/apiserver/pkg/apis/audit/v1/types.go` (and the
//! v1beta1 variant, which adds the legacy `timestamp` field). Request and response bodies are
//! never materialised: they are kept as [`RawJson`] slices of the input so that the common
//! case (policy evaluation, detection prefilters) only pays for the small request-attribute
//! part of an event. [`Event::value`] parses the whole event into a `serde_json::Value` when
//! a caller really needs it.
//!
//! Strings borrow from the input buffer when they contain no escapes ([`Str`]), so parsing
//! a typical event allocates only the few small vectors (groups, source IPs, annotations).

use std::borrow::Cow;
use std::fmt;

use kubevigil_model::json_skip::Members;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON string borrowed from the input when possible (no escape sequences), owned otherwise.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_owned(self) -> Str<'static> {
        Str(Cow::Owned(self.0.into_owned()))
    }
}

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Str<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Raw JSON text of a value inside an event (request/response bodies, annotations,
/// `user.extra`).
///
/// Borrowed from the input; [`RawJson::parse`] materialises it. Values found by the fast parser
/// are checked for balanced brackets and terminated strings only (not for UTF-8 or number
/// syntax); full validation happens when they are parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a>(&'a [u8]);

impl<'a> RawJson<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        RawJson(text)
    }
    /// The JSON text.
    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The JSON text as `&str`, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.0).ok()
    }
    pub fn parse(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(self.0)
    }
    /// Deserialises into any borrowed type (strings borrow from the input).
    pub fn parse_as<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(self.0)
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({} bytes)", self.0.len())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|r| RawJson(r.get().as_bytes()))
    }
}

/// String-to-string map kept as a small vector in input order (annotations, labels).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrMap<'a>(pub Vec<(Str<'a>, Str<'a>)>);

impl StrMap<'_> {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v.as_str())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StrMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Str<'de>, Str<'de>>()? {
                    out.push((k, v));
                }
                Ok(StrMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Audit level, ordered from least to most verbose (upstream `audit.Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::None,
        Level::Metadata,
        Level::Request,
        Level::RequestResponse,
    ];
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stage of request handling an event was generated in (upstream `audit.Stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
    /// Bit used in [`StageSet`].
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of stages (upstream keeps `[]Stage`; a bit set gives the same union semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct StageSet(pub u8);

impl StageSet {
    pub fn insert(&mut self, s: Stage) {
        self.0 |= s.bit();
    }
    pub fn contains(self, s: Stage) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn union(self, other: StageSet) -> StageSet {
        StageSet(self.0 | other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Stage> {
        Stage::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Stage> for StageSet {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Self {
        let mut set = StageSet::default();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

/// `authentication.k8s.io/v1 UserInfo` as recorded in `user` / `impersonatedUser`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo<'a> {
    #[serde(borrow, default)]
    pub username: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub uid: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub groups: Option<Vec<Str<'a>>>,
    /// `extra` (map of string lists), unparsed.
    #[serde(borrow, default)]
    pub extra: Option<RawJson<'a>>,
}

impl UserInfo<'_> {
    pub fn name(&self) -> &str {
        self.username.as_deref().unwrap_or("")
    }
    pub fn groups(&self) -> &[Str<'_>] {
        self.groups.as_deref().unwrap_or(&[])
    }
}

/// `ObjectReference` of audit/v1: the object a resource request is about.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef<'a> {
    #[serde(borrow, default)]
    pub resource: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub uid: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub api_group: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub api_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub resource_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub subresource: Option<Str<'a>>,
}

/// The subset of `metav1.Status` recorded as `responseStatus`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseStatus<'a> {
    #[serde(default)]
    pub code: Option<i32>,
    #[serde(borrow, default)]
    pub status: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub reason: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub message: Option<Str<'a>>,
}

/// One audit event's request attributes, borrowed from the input text.
///
/// Unknown fields are tolerated; every field is optional so that older captures (without
/// `apiVersion`/`kind`, v1beta1 with `timestamp`) parse.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    #[serde(borrow, default)]
    pub api_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub level: Option<Str<'a>>,
    #[serde(borrow, default, rename = "auditID")]
    pub audit_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub stage: Option<Str<'a>>,
    #[serde(borrow, default, rename = "requestURI")]
    pub request_uri: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub verb: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub user: Option<UserInfo<'a>>,
    #[serde(borrow, default)]
    pub impersonated_user: Option<UserInfo<'a>>,
    #[serde(borrow, default, rename = "sourceIPs")]
    pub source_ips: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    pub user_agent: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub object_ref: Option<ObjectRef<'a>>,
    #[serde(borrow, default)]
    pub response_status: Option<ResponseStatus<'a>>,
    /// Request body, unparsed (present at level Request and RequestResponse).
    #[serde(borrow, default)]
    pub request_object: Option<RawJson<'a>>,
    /// Response body, unparsed (present at level RequestResponse).
    #[serde(borrow, default)]
    pub response_object: Option<RawJson<'a>>,
    #[serde(borrow, default)]
    pub request_received_timestamp: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub stage_timestamp: Option<Str<'a>>,
    /// v1alpha1/v1beta1 only.
    #[serde(borrow, default)]
    pub timestamp: Option<Str<'a>>,
    /// Annotations, unparsed (they often contain escaped quotes); see [`Event::annotations`].
    #[serde(borrow, default)]
    pub annotations: Option<RawJson<'a>>,
}

/// Why a JSON value is not an audit event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not an audit event: kind {0:?}")]
    WrongKind(String),
    #[error("not an audit event: apiVersion {0:?}")]
    WrongApiVersion(String),
    /// A field with the wrong shape, at byte `offset` of the event text.
    #[error("not an audit event: {message}")]
    Field { offset: usize, message: String },
}

impl<'a> Event<'a> {
    /// Parses the request attributes of one event from its JSON text.
    ///
    /// Bodies are validated (they must be well-formed JSON) but not materialised.
    /// `kind` and `apiVersion` may be absent; when present they must be `Event` and
    /// `audit.k8s.io/*`.
    ///
    /// A hand-written scanner handles the common shape fast (bodies are skipped by bracket
    /// matching, small fields go through serde); anything unusual, and every error, is
    /// re-parsed by serde_json so that results and error messages are serde's.
    pub fn parse(text: &'a [u8]) -> Result<Event<'a>, EventError> {
        Self::parse_noting(text, None)
    }

    /// [`Event::parse`], noting the event's top-level members in `members` when the fast path
    /// read it (`members.complete`), for a reader that wants the same text's members next
    /// (the Sigma projection).
    pub fn parse_members(text: &'a [u8], members: &mut Members) -> Result<Event<'a>, EventError> {
        let parsed = Self::parse_noting(text, Some(&mut *members));
        if parsed.is_err() {
            members.clear();
        }
        parsed
    }

    fn parse_noting(
        text: &'a [u8],
        members: Option<&mut Members>,
    ) -> Result<Event<'a>, EventError> {
        // serde's derive would also take a struct from a JSON array (fields in order).
        let start = text.iter().position(|b| !b.is_ascii_whitespace());
        if start.is_some_and(|i| text[i] != b'{') {
            return Err(EventError::Field {
                offset: start.unwrap_or(0),
                message: "expected a JSON object".into(),
            });
        }
        let fast = match members {
            Some(members) => crate::fastparse::parse_recording(text, members),
            None => crate::fastparse::parse(text),
        };
        // The scan checks the annotations as it reads them.
        let (ev, annotations_checked) = match fast {
            Some(ev) => (ev, true),
            None => (serde_json::from_slice::<Event<'a>>(text)?, false),
        };
        ev.check_type()?;
        if !annotations_checked {
            ev.check_annotations(text)?;
        }
        Ok(ev)
    }

    /// `annotations` is a `map[string]string` upstream; both parse paths keep it raw, so its
    /// shape is checked here (it is small: a few authorization and admission entries).
    fn check_annotations(&self, text: &[u8]) -> Result<(), EventError> {
        let Some(raw) = self.annotations else {
            return Ok(());
        };
        if crate::fastparse::is_string_map(raw.bytes()) {
            return Ok(());
        }
        let Err(e) = raw.parse_as::<Option<StrMap<'_>>>() else {
            return Ok(());
        };
        let start = raw.bytes().as_ptr() as usize - text.as_ptr() as usize;
        let within = offset_in(raw.bytes(), e.line(), e.column());
        Err(EventError::Field {
            offset: start + within,
            message: format!("annotations: {}", serde_message(&e)),
        })
    }

    fn check_type(&self) -> Result<(), EventError> {
        if let Some(kind) = &self.kind
            && kind.as_str() != "Event"
        {
            return Err(EventError::WrongKind(kind.to_string()));
        }
        if let Some(av) = &self.api_version
            && !av.starts_with("audit.k8s.io/")
        {
            return Err(EventError::WrongApiVersion(av.to_string()));
        }
        Ok(())
    }

    pub fn level(&self) -> Option<Level> {
        self.level.as_deref().and_then(Level::parse)
    }

    pub fn stage(&self) -> Option<Stage> {
        self.stage.as_deref().and_then(Stage::parse)
    }

    pub fn verb(&self) -> &str {
        self.verb.as_deref().unwrap_or("")
    }

    pub fn audit_id(&self) -> &str {
        self.audit_id.as_deref().unwrap_or("")
    }

    pub fn request_uri(&self) -> &str {
        self.request_uri.as_deref().unwrap_or("")
    }

    /// URL path of the request: `requestURI` without its query string (what the
    /// authorizer sees as `GetPath()` for non-resource requests).
    pub fn path(&self) -> &str {
        let uri = self.request_uri();
        match memchr::memchr(b'?', uri.as_bytes()) {
            Some(i) => &uri[..i],
            None => uri,
        }
    }

    /// The authenticated user, `None` when the request was not authenticated
    /// (upstream records an empty `user` object then).
    pub fn authenticated_user(&self) -> Option<&UserInfo<'a>> {
        self.user
            .as_ref()
            .filter(|u| !u.name().is_empty() || !u.groups().is_empty())
    }

    /// Resource requests carry an `objectRef` (upstream sets it iff
    /// `attribs.IsResourceRequest()`, see `k8s.io/apiserver/pkg/audit/request.go`).
    pub fn is_resource_request(&self) -> bool {
        self.object_ref.is_some()
    }

    /// The annotations (`authorization.k8s.io/decision`, `.../reason`, ...), parsed on demand.
    pub fn annotations(&self) -> Result<StrMap<'a>, serde_json::Error> {
        match self.annotations {
            Some(raw) => raw
                .parse_as::<Option<StrMap<'a>>>()
                .map(Option::unwrap_or_default),
            None => Ok(StrMap::default()),
        }
    }

    pub fn response_code(&self) -> Option<i32> {
        self.response_status.as_ref().and_then(|s| s.code)
    }

    /// The event's time as text: `stageTimestamp`, else `requestReceivedTimestamp`, else the
    /// legacy `timestamp`.
    pub fn time_text(&self) -> Option<&str> {
        self.stage_timestamp
            .as_deref()
            .or(self.request_received_timestamp.as_deref())
            .or(self.timestamp.as_deref())
    }

    /// The event's time in microseconds since the Unix epoch (see [`Event::time_text`]).
    pub fn time_micros(&self) -> Option<i64> {
        self.time_text()
            .and_then(kubevigil_model::time::parse_rfc3339_micros)
    }
}

/// A serde_json error message without its position (reported separately) and without the
/// offending string value: `invalid type: string "Bearer ...", expected ...` becomes
/// `invalid type: string, expected ...` (strings in an event may be secrets).
pub(crate) fn serde_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    match (msg.find(" string \""), msg.rfind("\", expected")) {
        (Some(a), Some(b)) if a < b => format!("{} string{}", &msg[..a], &msg[b + 1..]),
        _ => msg.to_string(),
    }
}

/// Byte offset of a serde_json position (1-based line, 1-based byte column) in `text`.
/// serde_json reports a newline as column 0 of the line it starts: the offset of the newline.
pub(crate) fn offset_in(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', text)
            .nth(line - 2)
            .map_or(text.len(), |i| i + 1)
    };
    match column {
        0 => line_start.saturating_sub(1),
        c => (line_start + c - 1).min(text.len()),
    }
}

/// Parses the whole event text into a JSON value (bodies included). Use only when needed.
pub fn event_value(text: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_slice(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_attributes_without_bodies() {
        let text = br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns/secrets/s?x=1","verb":"get","user":{"username":"alice","groups":["dev","system:authenticated"]},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl/v1.30","objectRef":{"resource":"secrets","namespace":"ns","name":"s","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"a":[1,2,{"b":"c"}]},"responseObject":{"kind":"Secret","data":{"k":"dg=="}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000001Z","stageTimestamp":"2024-05-01T10:00:01.5Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#;
        let ev = Event::parse(text).unwrap();
        assert_eq!(ev.verb(), "get");
        assert_eq!(ev.level(), Some(Level::RequestResponse));
        assert_eq!(ev.stage(), Some(Stage::ResponseComplete));
        assert_eq!(ev.path(), "/api/v1/namespaces/ns/secrets/s");
        let user = ev.authenticated_user().unwrap();
        assert_eq!(user.name(), "alice");
        assert_eq!(user.groups()[1].as_str(), "system:authenticated");
        assert!(matches!(
            user.username.as_ref().unwrap().0,
            Cow::Borrowed(_)
        ));
        assert_eq!(
            ev.object_ref.as_ref().unwrap().resource.as_deref(),
            Some("secrets")
        );
        assert_eq!(ev.response_code(), Some(200));
        assert_eq!(
            ev.response_object.unwrap().bytes(),
            br#"{"kind":"Secret","data":{"k":"dg=="}}"#
        );
        assert_eq!(
            ev.annotations()
                .unwrap()
                .get("authorization.k8s.io/decision"),
            Some("allow")
        );
        assert_eq!(ev.time_text(), Some("2024-05-01T10:00:01.5Z"));
        assert_eq!(ev.time_micros(), Some(1_714_557_601_500_000));
    }

    #[test]
    fn timestamp_precedence() {
        let ev = Event::parse(br#"{"requestReceivedTimestamp":"2024-05-01T10:00:00Z","timestamp":"2020-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(ev.time_text(), Some("2024-05-01T10:00:00Z"));
        let ev = Event::parse(br#"{"timestamp":"2020-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(ev.time_micros(), Some(1_577_836_800_000_000));
    }

    #[test]
    fn rejects_other_kinds_and_bad_json() {
        assert!(matches!(
            Event::parse(br#"{"kind":"Pod"}"#),
            Err(EventError::WrongKind(_))
        ));
        assert!(matches!(
            Event::parse(br#"{"apiVersion":"v1"}"#),
            Err(EventError::WrongApiVersion(_))
        ));
        assert!(Event::parse(br#"{"verb":"get","requestObject":{"a":}"#).is_err());
    }

    #[test]
    fn escaped_strings_are_owned_and_decoded() {
        let ev = Event::parse(br#"{"verb":"g\u0065t"}"#).unwrap();
        assert_eq!(ev.verb(), "get");
    }

    #[test]
    fn unauthenticated_user_is_none() {
        let ev = Event::parse(br#"{"user":{}}"#).unwrap();
        assert!(ev.authenticated_user().is_none());
    }
}
