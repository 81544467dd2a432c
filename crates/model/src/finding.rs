//! The finding model shared by every check, engine and report.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::object::Object;
use crate::span::FieldPath;

/// Severity of a finding, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected critical, high, medium, low or info)"
            )),
        }
    }
}

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(object: &Object) -> Self {
        ObjectRef {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
        }
    }
}

/// Where in the input a finding points: the field path always; the file, line and column only
/// for objects read from a file; for an object read from a cluster, its place in the cluster
/// as `cluster:<context>/<namespace>/<kind>/<name>` (`uri`; the namespace is empty for
/// cluster-scoped objects). An admission request's object has only the field path.
///
/// JSON: `{"file", "line", "col", "fieldPath"}` with a file, `{"uri", "fieldPath"}` for a
/// cluster object, `{"fieldPath"}` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// The file, for objects read from a file (or stdin); `None` otherwise. Shared with the
    /// object's origin: a scan holds many findings per file.
    #[serde(default)]
    pub file: Option<Arc<str>>,
    /// 1-based line and column in `file`; 0 (and never shown) when there is no file.
    #[serde(default)]
    pub line: u32,
    #[serde(default)]
    pub col: u32,
    /// `cluster:<context>/<namespace>/<kind>/<name>` for an object read from a cluster.
    #[serde(default)]
    pub uri: Option<Arc<str>>,
    /// Field path inside the object, e.g. `spec.template.spec.containers[0].image`.
    pub field_path: String,
}

impl Location {
    /// A location in a file.
    pub fn in_file(file: impl Into<Arc<str>>, line: u32, col: u32, field_path: String) -> Location {
        Location {
            file: Some(file.into()),
            line,
            col,
            uri: None,
            field_path,
        }
    }

    /// A location in an object read from a cluster: its `cluster:` locator and the field path.
    pub fn in_cluster(uri: impl Into<Arc<str>>, field_path: String) -> Location {
        Location {
            file: None,
            line: 0,
            col: 0,
            uri: Some(uri.into()),
            field_path,
        }
    }

    /// Where the object is: the file, or the `cluster:` locator; `None` for an admission
    /// request's object.
    pub fn place(&self) -> Option<&str> {
        self.file.as_deref().or(self.uri.as_deref())
    }

    /// A location in an object that did not come from a file: the field path only.
    pub fn field_only(field_path: String) -> Location {
        Location {
            file: None,
            line: 0,
            col: 0,
            uri: None,
            field_path,
        }
    }

    /// The file, line and column, when there is a file.
    pub fn file_pos(&self) -> Option<(&str, u32, u32)> {
        self.file.as_deref().map(|f| (f, self.line, self.col))
    }

    /// The file name, or `""` when there is none (for sorting and grouping).
    pub fn file_or_empty(&self) -> &str {
        self.file.as_deref().unwrap_or("")
    }
}

impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Location", 5)?;
        match &self.file {
            Some(file) => {
                s.serialize_field("file", file)?;
                s.serialize_field("line", &self.line)?;
                s.serialize_field("col", &self.col)?;
            }
            None => {
                s.skip_field("file")?;
                s.skip_field("line")?;
                s.skip_field("col")?;
            }
        }
        match (&self.file, &self.uri) {
            (None, Some(uri)) => s.serialize_field("uri", uri)?,
            _ => s.skip_field("uri")?,
        }
        s.serialize_field("fieldPath", &self.field_path)?;
        s.end()
    }
}

/// A reference to a benchmark or framework control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `CIS Kubernetes Benchmark`, `NSA/CISA Kubernetes Hardening Guide`, `MITRE ATT&CK`, ...
    pub framework: Cow<'static, str>,
    /// Control id, e.g. `5.2.2` or `T1610`.
    pub id: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'static, str>>,
}

/// A reference known at compile time (check and rule metadata are `static`); becomes a
/// [`Reference`] in findings.
#[derive(Debug, Clone, Copy)]
pub struct Ref {
    pub framework: &'static str,
    pub id: &'static str,
    /// Empty when there is no URL.
    pub url: &'static str,
}

impl Ref {
    /// `refs` as [`Reference`]s, converted once per distinct static list and kept for the life
    /// of the process (rule metadata is static: the lists are few), so that findings borrow
    /// them instead of each holding a copy.
    pub fn static_list(refs: &'static [Ref]) -> &'static [Reference] {
        use std::collections::HashMap;
        use std::sync::{OnceLock, RwLock};
        type Cache = RwLock<HashMap<(usize, usize), &'static [Reference]>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        if refs.is_empty() {
            return &[];
        }
        let key = (refs.as_ptr() as usize, refs.len());
        let cache = CACHE.get_or_init(Default::default);
        if let Some(list) = cache.read().expect("reference cache").get(&key) {
            return list;
        }
        let mut cache = cache.write().expect("reference cache");
        cache
            .entry(key)
            .or_insert_with(|| Vec::leak(refs.iter().map(|r| r.to_reference()).collect()))
    }

    pub fn to_reference(self) -> Reference {
        Reference {
            framework: Cow::Borrowed(self.framework),
            id: Cow::Borrowed(self.id),
            url: (!self.url.is_empty()).then_some(Cow::Borrowed(self.url)),
        }
    }
}

/// One finding of one check on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    // The rule's own texts are borrowed from its static metadata: a scan holds one finding per
    // offending field, and copying them was most of a finding's weight.
    pub check_id: Cow<'static, str>,
    pub severity: Severity,
    pub title: Cow<'static, str>,
    pub message: String,
    /// Shared by the findings of one object ([`Object::object_ref`]).
    pub object: Arc<ObjectRef>,
    pub location: Location,
    pub remediation: Cow<'static, str>,
    /// Borrowed from the rule's static metadata when the rule is built in.
    pub references: Cow<'static, [Reference]>,
    /// Stable identity: independent of line numbers, file names and list ordering.
    pub fingerprint: String,
}

/// Computes the fingerprint of a finding: check, object identity and the order-independent
/// field path (list indices replaced by element names where elements are named).
pub fn fingerprint(check_id: &str, object: &Object, path: &FieldPath) -> String {
    thread_local! {
        /// The hashed text, reused: written whole, then hashed at once (fed to the hasher part
        /// by part, the pieces cost more than the hashing).
        static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        for part in [
            check_id,
            object.group(),
            &object.kind,
            object.namespace.as_deref().unwrap_or(""),
            &object.name,
        ] {
            text.push_str(part);
            text.push('\0');
        }
        path.write_stable(&object.value, text);
        text.push('\0');
        let digest = Sha256::digest(text.as_bytes());
        if text.capacity() > 1 << 16 {
            *text = String::new();
        }
        crate::text::hex(&digest[..16])
    })
}

/// `cluster:<context>/<namespace>/<kind>/<name>`: where an object read from a cluster is (the
/// namespace is empty for cluster-scoped objects, so the last three segments are always the
/// namespace, the kind and the name, whatever the context's name holds).
pub fn cluster_uri(context: &str, object: &Object) -> String {
    format!(
        "cluster:{context}/{}/{}/{}",
        object.namespace.as_deref().unwrap_or(""),
        object.kind,
        object.name
    )
}

impl Finding {
    /// Builds a finding about `object` at `path`, locating the field and fingerprinting it.
    #[allow(clippy::too_many_arguments)]
    pub fn at(
        check_id: impl Into<Cow<'static, str>>,
        severity: Severity,
        title: impl Into<Cow<'static, str>>,
        message: String,
        object: &Object,
        path: &FieldPath,
        remediation: impl Into<Cow<'static, str>>,
        references: impl Into<Cow<'static, [Reference]>>,
    ) -> Finding {
        let check_id = check_id.into();
        let location = match object.source.file() {
            Some(source) => {
                let pos = object.pos_of(path);
                Location::in_file(source.file.clone(), pos.line, pos.col, path.to_string())
            }
            None => match object.cluster_uri() {
                Some(uri) => Location::in_cluster(uri, path.to_string()),
                None => Location::field_only(path.to_string()),
            },
        };
        Finding {
            fingerprint: fingerprint(&check_id, object, path),
            check_id,
            severity,
            title: title.into(),
            message,
            object: object.object_ref(),
            location,
            remediation: remediation.into(),
            references: references.into(),
        }
    }
}
