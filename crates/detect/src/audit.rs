//! Kubernetes audit events as a detection source: how Sigma rules read them, what an alert
//! keeps of one, and which of their fields hold secrets.

use kubevigil_model::json_skip::Members;
use kubevigil_sigma::Options;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Engine options for Kubernetes audit events (`logsource: product: kubernetes, service:
/// audit`).
///
/// The field mapping gives SigmaHQ's short field names their audit-event paths: `apiGroup`
/// is `objectRef.apiGroup`; `hostPath` is a pod's `spec.volumes[].hostPath.path`;
/// `capabilities` is the `securityContext.capabilities.add` of any container, init
/// container or ephemeral container of the created pod.
pub fn sigma_options() -> Options {
    let caps = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .map(|c| format!("requestObject.spec.{c}.securityContext.capabilities.add"))
        .collect();
    Options {
        product: Some("kubernetes".into()),
        service: Some("audit".into()),
        categories: vec!["application".into()],
        field_map: vec![
            ("apiGroup".into(), vec!["objectRef.apiGroup".into()]),
            (
                "hostPath".into(),
                vec!["requestObject.spec.volumes.hostPath.path".into()],
            ),
            ("capabilities".into(), caps),
        ],
        disabled: Default::default(),
        dispatch_pair: Some(("objectRef.resource".into(), "verb".into())),
        dispatch_fields: vec![
            "objectRef.resource".into(),
            "objectRef.subresource".into(),
            "verb".into(),
            "user.username".into(),
            "responseStatus.code".into(),
        ],
        time_fields: vec![
            "stageTimestamp".into(),
            "requestReceivedTimestamp".into(),
            "timestamp".into(),
        ],
        // What an audit event is, is decided by kubevigil-audit's reader before the engine
        // sees it (see `Detector`).
        deferred_roots: vec!["requestObject".into(), "responseObject".into()],
        // The API server takes `auditID` from the client's `Audit-ID` header when present
        // (k8s.io/apiserver/pkg/endpoints/filters/audit_init.go, `WithAuditInit`), so
        // the id alone never identifies a request. These attributes are set once, before
        // the RequestReceived stage is emitted (`audit.LogRequestMetadata` in
        // k8s.io/apiserver/pkg/audit/request.go), and are copied unchanged into every later
        // stage. Left out on purpose: `impersonatedUser` (set by the impersonation filter,
        // which runs after RequestReceived was emitted, filters/impersonation.go) and
        // objectRef name/namespace/uid/resourceVersion (completed from the request body by
        // `audit.LogRequestObject`); `requestURI` carries the name and namespace of the
        // path.
        dedup_fields: [
            "auditID",
            "requestReceivedTimestamp",
            "user.username",
            "user.uid",
            "verb",
            "requestURI",
            "objectRef.resource",
            "objectRef.subresource",
            "objectRef.apiGroup",
            "objectRef.apiVersion",
        ]
        .map(String::from)
        .to_vec(),
        dedup_window: 65_536,
        // The kubelet's default streaming connection idle timeout (exec, attach,
        // port-forward sessions): longer requests may alert twice, never not at all.
        dedup_max_age_ms: 4 * 3600 * 1000,
        max_groups: 50_000,
        max_samples: 3,
        placeholders: vec![
            (
                CLUSTER_NETWORKS.into(),
                DEFAULT_CLUSTER_NETWORKS
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            (IOC_ADDRESSES.into(), Vec::new()),
            (
                OUTSIDE_CLUSTER_NETWORKS.into(),
                outside(DEFAULT_CLUSTER_NETWORKS.iter().copied()),
            ),
        ],
    }
}

/// Placeholder for every address *outside* `%cluster_networks%`, derived from it (see
/// [`outside`]). `sourceIPs|expand|cidr: '%outside_cluster_networks%'` matches when any
/// source address is outside, so an `X-Forwarded-For` header naming a cluster address (the
/// API server lists forwarded addresses before the connection's own, `utilnet.SourceIPs`)
/// cannot hide the address a request really came from; `not sourceIPs|cidr: %cluster_networks%`
/// would be fooled by it.
pub const OUTSIDE_CLUSTER_NETWORKS: &str = "outside_cluster_networks";

/// The complement of `networks` in the IPv4 and IPv6 address spaces, as CIDR ranges (at
/// most 128 per network). Entries that do not parse are ignored (callers validate them).
pub fn outside<'a>(networks: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    use ipnet::IpNet;
    let nets: Vec<IpNet> = networks
        .into_iter()
        .filter_map(|n| n.parse::<IpNet>().ok().map(|n| n.trunc()))
        .collect();
    let mut out = Vec::new();
    for universe in ["0.0.0.0/0", "::/0"] {
        complement(universe.parse().expect("valid"), &nets, &mut out);
    }
    out.iter().map(ToString::to_string).collect()
}

fn complement(range: ipnet::IpNet, excluded: &[ipnet::IpNet], out: &mut Vec<ipnet::IpNet>) {
    if excluded.iter().any(|e| e.contains(&range)) {
        return;
    }
    if !excluded.iter().any(|e| range.contains(e)) {
        out.push(range);
        return;
    }
    // Some excluded range lies strictly inside: split in halves.
    let halves = range
        .subnets(range.prefix_len() + 1)
        .expect("a range containing a longer one can be split");
    for half in halves {
        complement(half, excluded, out);
    }
}

/// Placeholder (`sourceIPs|expand|cidr: '%cluster_networks%'`) for the addresses the
/// cluster's own components connect from: nodes, pods, the control plane, load balancers.
pub const CLUSTER_NETWORKS: &str = "cluster_networks";

/// Its default: the private and shared address ranges clusters run on (RFC 1918, RFC 6598
/// carrier-grade NAT as used by some VPC CNIs, loopback, IPv6 unique-local RFC 4193 and
/// link-local). Replaced by `--cluster-network` or `detect.clusterNetworks`.
pub const DEFAULT_CLUSTER_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Placeholder for the addresses of the user's indicator lists (`--ioc-file`); empty by
/// default, so the rule that uses it matches nothing until a list is given.
pub const IOC_ADDRESSES: &str = "ioc_addresses";

/// The event fields of the alert contract (`events[]` of [`crate::DetectionAlert::to_json`];
/// `time` is the event's `stageTimestamp`, else its `requestReceivedTimestamp`).
pub const CONTRACT_FIELDS: [&str; 7] = [
    "auditID",
    "time",
    "user",
    "sourceIPs",
    "verb",
    "objectRef",
    "responseStatus",
];

/// The request attributes a sample keeps, besides the rule-specific `facts`.
const SAMPLE_FIELDS: [&str; 11] = [
    "auditID",
    "user",
    "impersonatedUser",
    "sourceIPs",
    "userAgent",
    "verb",
    "objectRef",
    "requestURI",
    "responseStatus",
    "stageTimestamp",
    "requestReceivedTimestamp",
];

/// Most binding subjects and pod containers an alert's facts list (the rest are counted).
pub const MAX_FACT_ITEMS: usize = 20;

/// An alert's view of one event, as compact JSON text (correlation state may hold many):
/// who did what (the request attributes of `SAMPLE_FIELDS`: user, impersonated user, source
/// addresses, user agent, verb, objectRef, requestURI, response status, times) and the
/// rule-specific `facts` (binding, exec, pod, secret: see `fn facts`). Bodies are never kept
/// (that is where Secret data and tokens are: see `kubevigil_audit::redact`); facts take only
/// names and security settings from them.
/// The event is split into its top-level members without materialising them, so an event whose
/// body nests deeper than serde_json's recursion limit still has a sample.
///
/// The text is what writing the members' parsed values gives; it is written from the event's
/// text where that is already so (every alert costs one), parsed only where it is not.
pub fn sample(text: &[u8]) -> String {
    sample_noted(text, &Members::default())
}

/// [`sample`], given the event's top-level members as the audit reader's check noted them
/// (used when `complete`: the reader then accepted the event, whose members a sample would
/// otherwise split again).
pub fn sample_noted(text: &[u8], noted: &Members) -> String {
    let Some(members) = sample_members(text, noted) else {
        return "null".into();
    };
    let object_ref = ObjectRef::read(members.get("objectRef"));
    let mut uri = Attr::read(members.get("requestURI"));
    // Exec arguments may hold credentials (`mysql --password=...`): the URI that carries them is
    // redacted before anything reads it.
    if let Attr::Text(u) = &mut uri
        && u.contains("command=")
    {
        *u = Cow::Owned(redact_exec_uri(u));
    }
    let facts = facts(&object_ref, uri.text(), members.get("requestObject"));
    // Correlation and dedup state hold samples: a client-chosen URI or user agent of megabytes
    // must not be held thousands of times.
    let mut user_agent = Attr::read(members.get("userAgent"));
    uri.cap();
    user_agent.cap();
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    for key in SAMPLE_FIELDS {
        if out.len() > 1 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        match key {
            "objectRef" => out.extend_from_slice(object_ref.text.as_bytes()),
            "requestURI" => uri.write(&mut out),
            "userAgent" => user_agent.write(&mut out),
            // The other attributes are copied as written when that reads back to what parsing
            // them would give; else parsed and written again.
            _ => match members.get(key) {
                Some(raw) if reads_back_the_same(raw.as_bytes()) => {
                    out.extend_from_slice(raw.as_bytes())
                }
                raw => write_json(&mut out, &parse_or_null(raw)),
            },
        }
    }
    out.extend_from_slice(b",\"facts\":");
    write_json(&mut out, &facts);
    out.push(b'}');
    String::from_utf8(out).expect("JSON text and serde_json's output are UTF-8")
}

/// A member's value as serde_json reads it (`null` when absent or unreadable).
fn parse_or_null(raw: Option<&str>) -> Value {
    raw.and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or(Value::Null)
}

/// Appends `value` as compact JSON (what `Value::to_string` gives for its `Value`).
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer(out, value).expect("writing to memory does not fail");
}

/// A sample attribute that is text when it is a string (`requestURI`, `userAgent`): borrowed from
/// the event when written without escapes, so that it is redacted, cut and written without being
/// parsed into a `Value`.
enum Attr<'a> {
    Text(Cow<'a, str>),
    Other(Value),
}

impl<'a> Attr<'a> {
    fn read(raw: Option<&'a str>) -> Attr<'a> {
        if let Some(s) = raw.and_then(plain_string) {
            return Attr::Text(Cow::Borrowed(s));
        }
        match parse_or_null(raw) {
            Value::String(s) => Attr::Text(Cow::Owned(s)),
            other => Attr::Other(other),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Attr::Text(s) => Some(s),
            Attr::Other(_) => None,
        }
    }

    fn cap(&mut self) {
        if let Attr::Text(s) = self
            && s.len() > MAX_SAMPLE_TEXT
        {
            cap_text(s.to_mut());
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Attr::Text(s) => write_json(out, s),
            Attr::Other(v) => write_json(out, v),
        }
    }
}

/// The contents of a JSON string written without escapes (so its text is its value), else `None`.
fn plain_string(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    // A string token holds no raw quote; a raw control character is not valid JSON, and is left
    // to the parser to refuse.
    (!inner.bytes().any(|b| b == b'\\' || b < 0x20)).then_some(inner)
}

/// The `objectRef` of a sample: its text as the sample keeps it, and the fields facts read.
struct ObjectRef<'a> {
    text: Cow<'a, str>,
    resource: Option<Cow<'a, str>>,
    subresource: Option<Cow<'a, str>>,
    namespace: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
}

impl<'a> ObjectRef<'a> {
    /// Borrowed from the event when it is a flat object that writing its parsed value gives back
    /// unchanged (as API servers write it); else parsed.
    fn read(raw: Option<&'a str>) -> ObjectRef<'a> {
        if let Some(found) = raw.and_then(ObjectRef::read_canonical) {
            return found;
        }
        let value = parse_or_null(raw);
        let field = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .map(|s| s.to_string().into())
        };
        ObjectRef {
            resource: field("resource"),
            subresource: field("subresource"),
            namespace: field("namespace"),
            name: field("name"),
            text: Cow::Owned(value.to_string()),
        }
    }

    /// A flat object of strings without escapes, integers of at most 15 digits, booleans and
    /// nulls, written compactly with no repeated key: what serde_json writes for its `Value`.
    fn read_canonical(raw: &'a str) -> Option<ObjectRef<'a>> {
        const MAX_MEMBERS: usize = 16;
        let mut found = ObjectRef {
            text: Cow::Borrowed(raw),
            resource: None,
            subresource: None,
            namespace: None,
            name: None,
        };
        let inner = raw.strip_prefix('{')?.strip_suffix('}')?;
        if inner.is_empty() {
            return Some(found);
        }
        let mut keys = [""; MAX_MEMBERS];
        let mut rest = inner;
        for n in 0.. {
            // `"key":` then a value up to the next `,` (no string holds one: they are checked)
            // or the end.
            let (key, after) = rest.strip_prefix('"')?.split_once("\":")?;
            if key.bytes().any(|b| b == b'\\' || b == b'"' || b < 0x20)
                || n >= MAX_MEMBERS
                || keys[..n].contains(&key)
            {
                return None;
            }
            keys[n] = key;
            let (value, next) = match after.strip_prefix('"') {
                Some(s) => {
                    let end = s.find('"')? + 2;
                    (&after[..end], &after[end..])
                }
                None => after.split_at(after.find(',').unwrap_or(after.len())),
            };
            let text = match plain_string(value) {
                Some(s) => Some(Cow::Borrowed(s)),
                None if is_canonical_scalar(value) => None,
                None => return None,
            };
            match key {
                "resource" => found.resource = text,
                "subresource" => found.subresource = text,
                "namespace" => found.namespace = text,
                "name" => found.name = text,
                _ => {}
            }
            match next.strip_prefix(',') {
                Some(more) => rest = more,
                None if next.is_empty() => break,
                None => return None,
            }
        }
        Some(found)
    }
}

/// `true`, `false`, `null`, or an integer serde_json writes back as it is (at most 15 digits, no
/// leading zero, not `-0`, which it reads as a float).
fn is_canonical_scalar(text: &str) -> bool {
    if matches!(text, "true" | "false" | "null") {
        return true;
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" && digits.len() == text.len() || !digits.starts_with('0'))
}

/// Whether JSON text (valid: the reader accepted the event) can be kept as written in a sample:
/// it is what serde_json writes for the value it parses to, so the sample is too (alerts copy
/// parts of it as they are, [`crate::sample::Sample`]). Escapes (a lone surrogate fails),
/// fractions and exponents (overflow fails), integers past 15 digits, `-0` (a float), blank space
/// between tokens, a repeated key (serde keeps the last), objects of many members (repeats are
/// looked for member by member) and deep nesting (serde_json's recursion limit) are left to the
/// parser.
fn reads_back_the_same(raw: &[u8]) -> bool {
    const MAX_DEPTH: usize = 64;
    const MAX_MEMBERS: usize = 64;
    // Per open container: whether it is an object, and where its keys start in `keys`.
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut expect_key = false;
    let mut digits = 0;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'"' {
            let Some(len) = memchr::memchr2(b'"', b'\\', &raw[i + 1..]) else {
                return false;
            };
            let (end, string) = (i + 1 + len, &raw[i + 1..i + 1 + len]);
            if raw[end] == b'\\' {
                return false;
            }
            if expect_key {
                let start = open.last().map_or(0, |o| o.1);
                if keys.len() - start >= MAX_MEMBERS || keys[start..].contains(&string) {
                    return false;
                }
                keys.push(string);
                expect_key = false;
            }
            digits = 0;
            i = end + 1;
            continue;
        }
        if b.is_ascii_digit() {
            digits += 1;
            if digits > 15 {
                return false;
            }
            i += 1;
            continue;
        }
        // A fraction or an exponent follows a digit (`true` and `false` have an `e` too).
        if digits > 0 && matches!(b, b'.' | b'e' | b'E') {
            return false;
        }
        digits = 0;
        match b {
            b'{' | b'[' => {
                if open.len() >= MAX_DEPTH {
                    return false;
                }
                open.push((b == b'{', keys.len()));
                expect_key = b == b'{';
            }
            b'}' | b']' => {
                if let Some((_, start)) = open.pop() {
                    keys.truncate(start);
                }
                expect_key = false;
            }
            b',' => expect_key = open.last().is_some_and(|o| o.0),
            b' ' | b'\t' | b'\n' | b'\r' => return false,
            b'-' if raw.get(i + 1) == Some(&b'0') => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// A request URI whose `command` parameters (exec and attach) hold credentials, as the scan judges
/// them in a container's `command` and `args` (`detect_args`: `--db-password=...`,
/// `--token abc`, tokens by their format, `user:password@` URLs), with those parameters replaced
/// by `command=%3Credacted%3E` (`<redacted>` once decoded). A long URI is cut at a parameter
/// boundary (marked `…`), so no credential is left half-cut and unrecognisable.
pub fn redact_exec_uri(uri: &str) -> String {
    const CUT: &str = "…";
    let limit = MAX_SAMPLE_TEXT - CUT.len();
    let Some((path, query)) = uri.split_once('?') else {
        let mut s = uri.to_string();
        cap_text(&mut s);
        return s;
    };
    if path.len() >= limit {
        let mut s = path.to_string();
        cap_text(&mut s);
        return s;
    }
    let mut len = path.len() + 1;
    let mut pairs = Vec::new();
    let mut cut = false;
    for pair in query.split('&') {
        if len + pair.len() + usize::from(!pairs.is_empty()) > limit {
            cut = true;
            break;
        }
        len += pair.len() + usize::from(!pairs.is_empty());
        pairs.push(pair);
    }
    // The command arguments as `parse_query` reads them, with the index of their pair.
    let mut commands = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        if let [(k, v)] = parse_query(pair).as_slice()
            && k == "command"
        {
            commands.push((i, v.clone()));
        }
    }
    let args: Vec<&str> = commands.iter().map(|(_, v)| v.as_str()).collect();
    let mut out: Vec<&str> = pairs;
    for (arg, _) in kubevigil_checks::rules::credentials::detect_args(&args) {
        out[commands[arg].0] = "command=%3Credacted%3E";
    }
    let mut s = format!("{path}?{}", out.join("&"));
    if cut {
        s.push_str(CUT);
    }
    s
}

/// The top-level members of an event that a sample reads (`SAMPLE_FIELDS` and `requestObject`),
/// borrowed from its text, by their place in [`SAMPLE_KEYS`]; the others are skipped without
/// being copied. A repeated key keeps its last value, as a map would.
#[derive(Default)]
struct SampleMembers<'a>([Option<&'a str>; SAMPLE_KEYS.len()]);

/// What a sample reads of an event: its `SAMPLE_FIELDS`, then the request body.
const SAMPLE_KEYS: [&str; SAMPLE_FIELDS.len() + 1] = {
    let mut keys = [""; SAMPLE_FIELDS.len() + 1];
    let mut i = 0;
    while i < SAMPLE_FIELDS.len() {
        keys[i] = SAMPLE_FIELDS[i];
        i += 1;
    }
    keys[i] = "requestObject";
    keys
};

impl<'a> SampleMembers<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0[sample_key(key)?]
    }
}

/// The members a sample reads, split by the audit reader's scanner (bodies skipped by bracket
/// matching, as the reader did when it accepted the event), or by serde_json for what that
/// scanner leaves to serde (escaped member names).
fn sample_members<'a>(text: &'a [u8], noted: &Members) -> Option<SampleMembers<'a>> {
    let mut kept = SampleMembers::default();
    let mut keep = |name: &[u8], raw: &'a [u8]| {
        if let Some(i) = SAMPLE_KEYS.iter().position(|k| k.as_bytes() == name) {
            kept.0[i] = Some(std::str::from_utf8(raw).ok()?);
        }
        Some(())
    };
    if noted.complete {
        // The same members as the split below gives: the reader's scan is that split.
        for (name, value) in &noted.spans {
            keep(&text[name.clone()], &text[value.clone()])?;
        }
    } else {
        let Some(all) = kubevigil_audit::top_level_members(text) else {
            return serde_json::from_slice::<SampleMembers>(text).ok();
        };
        for (name, raw) in all {
            keep(name, raw)?;
        }
    }
    Some(kept)
}

/// The place in [`SAMPLE_KEYS`] of a member name, if a sample reads it.
fn sample_key(name: &str) -> Option<usize> {
    SAMPLE_KEYS.iter().position(|k| *k == name)
}

impl<'de> Deserialize<'de> for SampleMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = SampleMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut kept = SampleMembers::default();
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    match key {
                        Some(i) => {
                            kept.0[i] = Some(map.next_value::<&'de RawValue>()?.get());
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(kept)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A member name (unescaped, as a map would read it): its place in [`SAMPLE_KEYS`], if a sample
/// reads it. Read without allocating.
struct Key(Option<usize>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(sample_key(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// Longest request URI, user agent or exec argument a sample keeps, in bytes.
pub const MAX_SAMPLE_TEXT: usize = 4096;

/// Most exec arguments a sample keeps.
pub const MAX_COMMAND_ARGS: usize = 64;

/// Cuts `s` to [`MAX_SAMPLE_TEXT`] bytes ([`crate::source::cap_text`]).
fn cap_text(s: &mut String) {
    crate::source::cap_text(s, MAX_SAMPLE_TEXT);
}

/// Rule-specific facts of one event, from its request attributes and body:
/// * `binding`: a RoleBinding's or ClusterRoleBinding's `roleRef` and `subjects` (the first
///   [`MAX_FACT_ITEMS`], `subjectsOmitted` counting the rest), from `requestObject`;
/// * `exec`: for `pods/exec` and `pods/attach`, the `command` (every `command=` parameter, in
///   order) and `container` of the request URI's query, decoded as the API server does
///   (`url.ParseQuery` of Go's net/url: `&`-separated, `+` is a space, `%XX` escapes; a pair
///   with a `;` or a bad escape is dropped);
/// * `pod`: for a Pod or a workload's pod template in `requestObject`, `hostNetwork`,
///   `hostPID`, `hostIPC` and, per container (init and ephemeral ones too), `privileged`,
///   `allowPrivilegeEscalation` and added capabilities;
/// * `secret`: for requests on `secrets`, the Secret's name and namespace, never its content.
fn facts<'a>(
    object_ref: &'a ObjectRef<'a>,
    request_uri: Option<&str>,
    request_object: Option<&str>,
) -> Facts<'a> {
    let mut facts = Facts::default();
    let resource = object_ref.resource.as_deref().unwrap_or("");
    let subresource = object_ref.subresource.as_deref().unwrap_or("");
    let mut body = request_object.and_then(Body::read);
    facts.pod = body.as_ref().and_then(Body::pod_spec).map(PodFacts::of);
    match (resource, subresource) {
        ("rolebindings" | "clusterrolebindings", "") => {
            if let Some(b) = &mut body
                && (b.role_ref.is_some() || b.subjects.is_some())
            {
                facts.binding = Some(BindingFacts::of(b.role_ref.take(), b.subjects.take()));
            }
        }
        ("pods", "exec" | "attach") => {
            let query = request_uri
                .unwrap_or("")
                .split_once('?')
                .map_or("", |(_, q)| q);
            let mut exec = ExecFacts::default();
            for (k, mut v) in parse_query(query) {
                match k.as_str() {
                    "command" if exec.command.len() < MAX_COMMAND_ARGS => {
                        cap_text(&mut v);
                        exec.command.push(v)
                    }
                    "container" if exec.container.is_none() => exec.container = Some(v),
                    _ => {}
                }
            }
            facts.exec = Some(exec);
        }
        ("secrets", _) => {
            facts.secret = Some(SecretFacts {
                name: object_ref.name.as_deref(),
                namespace: object_ref.namespace.as_deref(),
            })
        }
        _ => {}
    }
    facts
}

/// What [`facts`] found, written as the sample's `facts` object (absent parts left out).
#[derive(Serialize, Default)]
struct Facts<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    binding: Option<BindingFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<ExecFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretFacts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod: Option<PodFacts>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BindingFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    role_ref: Option<RoleRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects: Option<Vec<Subject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects_omitted: Option<usize>,
}

impl BindingFacts {
    fn of(role_ref: Option<RoleRef>, mut subjects: Option<Vec<Subject>>) -> BindingFacts {
        let omitted = subjects
            .as_ref()
            .map_or(0, |s| s.len().saturating_sub(MAX_FACT_ITEMS));
        if let Some(s) = &mut subjects {
            s.truncate(MAX_FACT_ITEMS);
        }
        BindingFacts {
            role_ref,
            subjects,
            subjects_omitted: (omitted > 0).then_some(omitted),
        }
    }
}

#[derive(Serialize, Default)]
struct ExecFacts {
    command: Vec<String>,
    container: Option<String>,
}

#[derive(Serialize)]
struct SecretFacts<'a> {
    name: Option<&'a str>,
    namespace: Option<&'a str>,
}

#[derive(Serialize)]
struct PodFacts {
    #[serde(rename = "hostNetwork")]
    host_network: bool,
    #[serde(rename = "hostPID")]
    host_pid: bool,
    #[serde(rename = "hostIPC")]
    host_ipc: bool,
    containers: Vec<ContainerFacts>,
    #[serde(rename = "containersOmitted", skip_serializing_if = "Option::is_none")]
    containers_omitted: Option<usize>,
}

#[derive(Serialize)]
struct ContainerFacts {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    privileged: bool,
    #[serde(rename = "allowPrivilegeEscalation")]
    allow_privilege_escalation: Option<bool>,
    capabilities: Vec<String>,
}

impl PodFacts {
    fn of(spec: PodSpec) -> PodFacts {
        let all = [
            ("container", spec.containers),
            ("initContainer", spec.init_containers),
            ("ephemeralContainer", spec.ephemeral_containers),
        ];
        let total: usize = all.iter().map(|(_, cs)| cs.len()).sum();
        let containers = all
            .into_iter()
            .flat_map(|(kind, cs)| cs.into_iter().map(move |c| (kind, c)))
            .take(MAX_FACT_ITEMS)
            .map(|(kind, c)| {
                let sc = c.security_context;
                ContainerFacts {
                    name: c.name,
                    kind,
                    privileged: sc.as_ref().and_then(|s| s.privileged).unwrap_or(false),
                    allow_privilege_escalation: sc
                        .as_ref()
                        .and_then(|s| s.allow_privilege_escalation),
                    capabilities: sc
                        .and_then(|s| s.capabilities)
                        .map_or(Vec::new(), |c| c.add),
                }
            })
            .collect();
        PodFacts {
            host_network: spec.host_network.unwrap_or(false),
            host_pid: spec.host_pid.unwrap_or(false),
            host_ipc: spec.host_ipc.unwrap_or(false),
            containers,
            containers_omitted: (total > MAX_FACT_ITEMS).then(|| total - MAX_FACT_ITEMS),
        }
    }
}

/// The parts of a request body facts are taken from; everything else is skipped unread.
#[derive(Deserialize, Default)]
struct Body {
    kind: Option<String>,
    #[serde(rename = "roleRef")]
    role_ref: Option<RoleRef>,
    subjects: Option<Vec<Subject>>,
    spec: Option<Box<RawValue>>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_group: Option<String>,
    kind: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct Subject {
    kind: Option<String>,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

/// A pod spec, or a workload spec holding a pod template (`template`, or a CronJob's
/// `jobTemplate.spec.template`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    host_network: Option<bool>,
    #[serde(rename = "hostPID")]
    host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    host_ipc: Option<bool>,
    #[serde(default)]
    containers: Vec<Container>,
    #[serde(default)]
    init_containers: Vec<Container>,
    #[serde(default)]
    ephemeral_containers: Vec<Container>,
    template: Option<Template>,
    job_template: Option<JobTemplate>,
}

#[derive(Deserialize)]
struct Template {
    spec: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct JobTemplate {
    spec: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: Option<String>,
    security_context: Option<SecurityContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    privileged: Option<bool>,
    allow_privilege_escalation: Option<bool>,
    capabilities: Option<Capabilities>,
}

#[derive(Deserialize)]
struct Capabilities {
    #[serde(default)]
    add: Vec<String>,
}

impl Body {
    /// The body as serde reads it into this struct (`None` when serde would fail: not an object,
    /// a member of the wrong type, a repeated member), with the members found by the audit
    /// reader's scanner so that only these four are parsed; serde itself for what that scanner
    /// leaves to it (escaped member names).
    fn read(raw: &str) -> Option<Body> {
        let Some(members) = kubevigil_audit::top_level_members(raw.as_bytes()) else {
            return serde_json::from_str(raw).ok();
        };
        let mut body = Body::default();
        let mut seen = [false; 4];
        for (name, value) in members {
            let at = match name {
                b"kind" => 0,
                b"roleRef" => 1,
                b"subjects" => 2,
                b"spec" => 3,
                _ => continue,
            };
            if std::mem::replace(&mut seen[at], true) {
                return None;
            }
            let value = std::str::from_utf8(value).ok()?;
            match at {
                0 => body.kind = serde_json::from_str(value).ok()?,
                1 => body.role_ref = serde_json::from_str(value).ok()?,
                2 => body.subjects = serde_json::from_str(value).ok()?,
                _ => body.spec = serde_json::from_str(value).ok()?,
            }
        }
        Some(body)
    }

    /// The pod spec of a Pod, of a workload's template, or of a CronJob's job template.
    fn pod_spec(&self) -> Option<PodSpec> {
        let kind = self.kind.as_deref()?;
        let spec: PodSpec = serde_json::from_str(self.spec.as_ref()?.get()).ok()?;
        if kind == "Pod" {
            return Some(spec);
        }
        let inner = |raw: &Option<Box<RawValue>>| -> Option<PodSpec> {
            serde_json::from_str(raw.as_ref()?.get()).ok()
        };
        if let Some(t) = &spec.template {
            return inner(&t.spec);
        }
        let job: PodSpec = inner(&spec.job_template.as_ref()?.spec)?;
        inner(&job.template?.spec)
    }
}

/// The pairs of a URL query as Go's `url.ParseQuery` (net/url) reads them, which is how the
/// API server reads `command` and `container` of exec and attach requests: pairs split on `&`,
/// key and value on the first `=`, both unescaped by `QueryUnescape` (`+` is a space, `%XX`
/// a byte); a pair holding a `;` or a malformed escape is an error there and is dropped here.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(k)?, query_unescape(v)?))
        })
        .collect()
}

fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    // Go strings hold any bytes; ours are shown as text.
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Whether the field at a dotted path of an audit event holds secret data (a correlation
/// `group` value taken from it is printed as a keyed hash): `kubevigil_audit::redact`'s rule.
pub fn is_secret_field(path: &str, text: &[u8]) -> bool {
    kubevigil_audit::redact::is_secret_field(text, path)
}

#[cfg(test)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn outside_is_the_exact_complement() {
        let out = outside(["10.0.0.0/8", "::/1"]);
        let nets: Vec<ipnet::IpNet> = out.iter().map(|n| n.parse().unwrap()).collect();
        let inside = |a: &str| {
            let ip: std::net::IpAddr = a.parse().unwrap();
            nets.iter().any(|n| n.contains(&ip))
        };
        for a in [
            "9.255.255.255",
            "11.0.0.0",
            "0.0.0.0",
            "255.255.255.255",
            "8000::1",
        ] {
            assert!(inside(a), "{a}");
        }
        for a in ["10.0.0.0", "10.255.255.255", "10.1.2.3", "::1", "7fff::1"] {
            assert!(!inside(a), "{a}");
        }
        // 10.0.0.0/8 costs 8 ranges, ::/1 one.
        assert_eq!(out.len(), 9, "{out:?}");
        assert_eq!(outside(["0.0.0.0/0", "::/0"]), Vec::<String>::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts_of(event: Value) -> Value {
        let s: Value = serde_json::from_str(&sample(event.to_string().as_bytes())).unwrap();
        s["facts"].clone()
    }

    #[test]
    fn exec_command_and_container_are_decoded_as_go_does() {
        let f = facts_of(
            json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "exec"},
            "requestURI": "/api/v1/namespaces/ns/pods/web/exec?command=sh&command=-c&command=cat+%2Fetc%2Fshadow&container=app&stdin=true&command=x%zz&a;b=c"}),
        );
        assert_eq!(
            f["exec"],
            json!({"command": ["sh", "-c", "cat /etc/shadow"], "container": "app"})
        );
    }

    #[test]
    fn binding_subjects_and_role_ref_capped() {
        let subjects: Vec<Value> = (0..25)
            .map(|i| json!({"kind": "User", "name": format!("u{i}")}))
            .collect();
        let f = facts_of(json!({"objectRef": {"resource": "clusterrolebindings"},
            "requestObject": {"kind": "ClusterRoleBinding", "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": subjects}}));
        assert_eq!(f["binding"]["roleRef"]["name"], "cluster-admin");
        assert_eq!(
            f["binding"]["subjects"].as_array().unwrap().len(),
            MAX_FACT_ITEMS
        );
        assert_eq!(
            f["binding"]["subjects"][0],
            json!({"kind": "User", "name": "u0"})
        );
        assert_eq!(f["binding"]["subjectsOmitted"], 5);
    }

    #[test]
    fn pod_settings_from_pods_and_templates() {
        let spec = json!({"hostPID": true, "containers": [{"name": "c", "env": [{"name": "P", "value": "hunter2"}],
            "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN"]}}}]});
        let pod = facts_of(
            json!({"objectRef": {"resource": "pods"}, "requestObject": {"kind": "Pod", "spec": spec}}),
        );
        let cron = facts_of(
            json!({"objectRef": {"resource": "cronjobs"}, "requestObject": {"kind": "CronJob",
            "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}}),
        );
        for f in [&pod, &cron] {
            assert_eq!(f["pod"]["hostPID"], true, "{f}");
            assert_eq!(f["pod"]["hostNetwork"], false);
            assert_eq!(f["pod"]["containers"][0]["privileged"], true);
            assert_eq!(
                f["pod"]["containers"][0]["capabilities"],
                json!(["SYS_ADMIN"])
            );
            assert!(!f.to_string().contains("hunter2"));
        }
    }

    /// An exec command's credentials reach neither the facts nor the request URI of an alert:
    /// `--flag=value`, `--flag value`, a token by its format, a URL with a password.
    #[test]
    fn exec_credentials_are_redacted_in_facts_and_uri() {
        // A fake token assembled at run time, so that secret scanners leave this file alone.
        let token = format!("{}_{}", "ghp", "0123456789abcdefghijklmnopqrstuvwxyz");
        let uri = format!(
            "/api/v1/namespaces/db/pods/pg-0/exec?command=psql&command=--password%3Dhunter2secret&command=--token&command=s3cr3tT0kenValue&command=curl&command=https%3A%2F%2Fadmin%3Apa55w0rdXyz%40db.example.com%2F&command=echo+{token}&container=pg&stdin=true"
        );
        let text =
            json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "exec"},
            "requestURI": uri})
            .to_string();
        let s = sample(text.as_bytes());
        for secret in [
            "hunter2secret",
            "s3cr3tT0kenValue",
            "pa55w0rdXyz",
            &token[4..],
        ] {
            assert!(!s.contains(secret), "{secret} leaks: {s}");
        }
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v["facts"]["exec"],
            json!({"command": ["psql", "<redacted>", "--token", "<redacted>", "curl", "<redacted>", "<redacted>"], "container": "pg"})
        );
        assert!(
            v["requestURI"]
                .as_str()
                .unwrap()
                .ends_with("&container=pg&stdin=true"),
            "{v}"
        );
        // Nothing to redact: the URI is kept as it was.
        let plain = "/api/v1/namespaces/n/pods/p/exec?command=sh&command=-c&command=id&container=c";
        assert_eq!(redact_exec_uri(plain), plain);
    }

    /// Member names are read as a JSON map reads them (escapes decoded, the last of repeated
    /// keys wins), and a body nested past serde_json's recursion limit does not cost the sample.
    #[test]
    fn sample_members_read_as_a_map_reads_them() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let text = format!(
            r#"{{"audit\u0049D":"a1","verb":"get","verb":"delete","requestObject":{{"x":{deep}}},"responseObject":{deep}}}"#
        );
        let v: Value = serde_json::from_str(&sample(text.as_bytes())).unwrap();
        assert_eq!(
            (v["auditID"].as_str(), v["verb"].as_str()),
            (Some("a1"), Some("delete"))
        );
        assert_eq!(sample(b"[1]"), "null");
    }

    /// A request body read by the member split is what serde reads into `Body`, whatever the
    /// body: repeated or mistyped members fail both ways, escaped names take serde's path.
    #[test]
    fn bodies_read_as_serde_reads_them() {
        let view = |b: Option<Body>| {
            b.map(|b| {
                (
                    b.kind,
                    serde_json::to_string(&b.role_ref).unwrap(),
                    serde_json::to_string(&b.subjects).unwrap(),
                    b.spec.map(|s| s.get().to_string()),
                )
            })
        };
        let pod = r#"{"containers":[{"name":"c","securityContext":{"privileged":true}}]}"#;
        let bodies = [
            format!(r#"{{"kind":"Pod","metadata":{{"name":"p"}},"spec":{pod}}}"#),
            format!(r#"{{"kind":"Pod","spec":{pod},"spec":{pod}}}"#),
            r#"{"kind":"RoleBinding","roleRef":{"kind":"ClusterRole","name":"admin"},"subjects":[{"kind":"User","name":"u"}]}"#.into(),
            r#"{"kind":"RoleBinding","subjects":null,"roleRef":null}"#.into(),
            r#"{"kind":7}"#.into(),
            r#"{"subjects":{"kind":"User"}}"#.into(),
            r#"{"\u006bind":"Pod","spec":{}}"#.into(),
            r#"{"kind":"Pod","kind":"Pod"}"#.into(),
            r#"{"spec":null,"other":[1,{"x":"}"}]}"#.into(),
            "{}".into(),
            "[]".into(),
            "null".into(),
            r#""text""#.into(),
        ];
        for raw in &bodies {
            assert_eq!(
                view(Body::read(raw)),
                view(serde_json::from_str(raw).ok()),
                "{raw}"
            );
        }
        assert!(Body::read(&bodies[0]).is_some());
        assert!(Body::read(&bodies[1]).is_none(), "a repeated member fails");
    }

    /// Attributes copied as written read back to what parsing them gives, and those that would
    /// not (escapes, a lone surrogate, overflowing numbers, deep nesting) are parsed: a sample
    /// holds the same values either way.
    #[test]
    fn copied_attributes_read_back_as_parsed_ones() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let values = [
            r#"{"username":"alice","groups":["a","b"],"extra":{"k":["v"]}}"#.to_string(),
            r#"{"username":"al\u00e9ce","uid":"\ud800"}"#.into(),
            r#"{"username":"x","username":"y"}"#.into(),
            r#"{"n":1e400}"#.into(),
            r#"{"n":12345678901234567890,"m":-7,"f":1.50,"t":true,"z":false,"u":null}"#.into(),
            format!(r#"{{"deep":{deep}}}"#),
            r#"[ "10.0.0.1" , "::1" ]"#.into(),
            r#""a\"quoted\" \\ text""#.into(),
            "404".into(),
            r#"{"a":{"k":1,"k":2},"b":[{"k":1},{"k":2}],"c":{}}"#.into(),
            r#"{"n":-0,"m":[-0],"s":"-0 and a b"}"#.into(),
            "{\"username\":\"a\",\n\"groups\":[]}".into(),
            "{\"u\":\"ü✓\u{202e}\",\"v\":[[],{},[{}]],\"w\":\"\"}".into(),
        ];
        for raw in &values {
            for key in [
                "user",
                "impersonatedUser",
                "sourceIPs",
                "responseStatus",
                "auditID",
            ] {
                let event = format!(r#"{{"verb":"get","{key}":{raw}}}"#);
                let text = sample(event.as_bytes());
                let s: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key}: {raw}: {e}"));
                // What writing its value gives: alerts copy parts of the text as they are.
                assert_eq!(s.to_string(), text, "{key}: {raw}");
                let parsed: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                assert_eq!(s[key], parsed, "{key}: {raw}");
                assert_eq!(s["verb"], "get");
            }
        }
        assert!(reads_back_the_same(values[0].as_bytes()));
        assert!(!reads_back_the_same(values[1].as_bytes()));
        assert!(!reads_back_the_same(values[5].as_bytes()));
        for (raw, same) in [
            (r#"{"a":{"k":1,"k":2}}"#, false),
            (r#"{"b":[{"k":1},{"k":2}],"k":{"k":3}}"#, true),
            (r#"{"x":1,"y":{"x":2},"x":3}"#, false),
            (r#"[-0]"#, false),
            (r#"[-10,"-0"]"#, true),
            ("[1, 2]", false),
            (r#"{"a":"b c"}"#, true),
        ] {
            assert_eq!(reads_back_the_same(raw.as_bytes()), same, "{raw}");
        }
        let many: String = (0..100).map(|i| format!(r#""k{i}":{i},"#)).collect();
        assert!(!reads_back_the_same(
            format!("{{{}}}", many.trim_end_matches(',')).as_bytes()
        ));
    }

    /// The fast member split (unescaped names) and serde's (an escaped name forces it) give the
    /// same sample: repeated keys, deep bodies and every sample field included.
    #[test]
    fn both_member_splits_give_the_same_sample() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let event = |audit_id_key: &str| {
            format!(
                r#"{{"kind":"Event","{audit_id_key}":"a1","verb":"get","verb":"create","user":{{"username":"u","groups":["g"],"extra":{{"k":["v"]}}}},"impersonatedUser":{{"username":"root"}},"sourceIPs":["10.0.0.1"],"userAgent":"kubectl","objectRef":{{"resource":"pods","namespace":"n","name":"p","subresource":"exec"}},"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=sh&container=c","responseStatus":{{"code":101}},"requestObject":{{"spec":{{"containers":[{{"name":"c","securityContext":{{"privileged":true}}}}]}},"x":{deep}}},"responseObject":{deep},"stageTimestamp":"2026-01-01T00:00:00Z","requestReceivedTimestamp":"2026-01-01T00:00:00Z"}}"#
            )
        };
        let fast = event("auditID");
        assert!(kubevigil_audit::top_level_members(fast.as_bytes()).is_some());
        let slow = event(r"audit\u0049D");
        assert!(kubevigil_audit::top_level_members(slow.as_bytes()).is_none());
        let s = sample(fast.as_bytes());
        assert_eq!(s, sample(slow.as_bytes()));
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            (v["auditID"].as_str(), v["verb"].as_str()),
            (Some("a1"), Some("create"))
        );
        // The members the reader notes when it accepts an event (serde refuses a repeated
        // `verb`, so the reader does too) are that split as well.
        let accepted = fast.replacen(r#""verb":"get","#, "", 1);
        let mut noted = Members::default();
        kubevigil_audit::Event::parse_members(accepted.as_bytes(), &mut noted).unwrap();
        assert!(noted.complete);
        assert_eq!(
            sample_noted(accepted.as_bytes(), &noted),
            sample(accepted.as_bytes())
        );
        assert_eq!(sample_noted(accepted.as_bytes(), &noted), s);
    }

    /// An objectRef is copied as written only when that is the text of its parsed value, and its
    /// fields read as the parsed value's; a request URI or user agent reads as serde reads it.
    #[test]
    fn attributes_copied_as_written_are_their_parsed_values() {
        let object_refs = [
            r#"{"resource":"pods","namespace":"n","name":"p","subresource":"exec"}"#,
            r#"{"resource":"secrets","n":0,"m":-12,"t":true,"f":false,"z":null,"":"x"}"#,
            r#"{ "resource":"pods"}"#,
            r#"{"resource" :"pods"}"#,
            r#"{"resource":"pods" }"#,
            r#"{"resource":"pods","resource":"secrets"}"#,
            r#"{"resource":"secr\u0065ts","name":"a\"b"}"#,
            r#"{"\u0072esource":"secrets"}"#,
            r#"{"n":-0}"#,
            r#"{"n":1.5}"#,
            r#"{"n":1e5}"#,
            r#"{"n":1234567890123456}"#,
            r#"{"n":{"a":1}}"#,
            r#"{"n":[1]}"#,
            r#"{"resource":5,"subresource":null,"name":true}"#,
            r#"{"name":"a,b","namespace":"c:d","resource":"é✓ "}"#,
            "{\"name\":\"a\u{1}\"}",
            "{}",
            "[]",
            r#""pods""#,
            "null",
        ];
        for raw in object_refs {
            let parsed: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            let o = ObjectRef::read(Some(raw));
            assert_eq!(o.text, parsed.to_string(), "{raw}");
            for (key, got) in [
                ("resource", &o.resource),
                ("subresource", &o.subresource),
                ("namespace", &o.namespace),
                ("name", &o.name),
            ] {
                assert_eq!(got.as_deref(), parsed[key].as_str(), "{key} of {raw}");
            }
        }
        assert!(matches!(
            ObjectRef::read(Some(object_refs[0])).text,
            Cow::Borrowed(_)
        ));
        for raw in [
            r#""/api/v1/pods?watch=1""#,
            r#""a\tb\u2028\"\\""#,
            r#""\ud800""#,
            "\"a\u{1}\"",
            r#""é✓""#,
            "7",
            "null",
            "[1]",
        ] {
            let parsed: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
            let mut written = Vec::new();
            Attr::read(Some(raw)).write(&mut written);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                parsed.to_string(),
                "{raw}"
            );
        }
    }

    #[test]
    fn huge_client_chosen_texts_are_cut() {
        let uri = format!(
            "/api/v1/namespaces/n/pods/p/exec?{}",
            "command=aaaaaaaaaa&".repeat(100_000)
        );
        let text =
            json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "exec"},
            "requestURI": uri, "userAgent": "é".repeat(100_000)})
            .to_string();
        let s = sample(text.as_bytes());
        assert!(s.len() < 3 * MAX_SAMPLE_TEXT + 64 * 12, "{}", s.len());
        let v: Value = serde_json::from_str(&s).unwrap();
        assert!(v["requestURI"].as_str().unwrap().ends_with('…'));
        assert!(v["userAgent"].as_str().unwrap().ends_with("é…"));
        assert_eq!(
            v["facts"]["exec"]["command"].as_array().unwrap().len(),
            MAX_COMMAND_ARGS
        );
    }

    #[test]
    fn a_secret_is_named_never_shown() {
        let text = json!({"verb": "create", "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
            "requestObject": {"kind": "Secret", "data": {"password": "c2VjcmV0"}, "stringData": {"k": "plain-secret"}}})
        .to_string();
        let s = sample(text.as_bytes());
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v["facts"]["secret"],
            json!({"name": "db", "namespace": "prod"})
        );
        assert!(
            !s.contains("c2VjcmV0") && !s.contains("plain-secret"),
            "{s}"
        );
    }
}
