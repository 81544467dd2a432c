//! Kubernetes objects under analysis, each with where it came from.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::span::{FieldPath, Pos, SpanNode, Spans};

/// The file position of an object read from a file (or stdin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file path as given (directories expanded), or `<stdin>`.
    pub file: Arc<str>,
    /// Position of the object's first line.
    pub line: u32,
    pub col: u32,
}

/// Where an object came from: a file, a cluster or an admission request. Only objects from files
/// have positions: findings about the others carry the field path but no file, line or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from a file or stdin; the positions of its fields are in [`Object::spans`].
    File(Source),
    /// Read from a cluster's API server.
    Cluster {
        /// The kubeconfig context (or another name for the cluster).
        context: Arc<str>,
        /// `metadata.uid`.
        uid: String,
        /// `metadata.resourceVersion`.
        resource_version: String,
    },
    /// The object (or old object) of an admission request.
    Admission {
        /// The request's `uid`.
        uid: String,
    },
}

impl Origin {
    /// The file position, for objects read from a file.
    pub fn file(&self) -> Option<&Source> {
        match self {
            Origin::File(s) => Some(s),
            Origin::Cluster { .. } | Origin::Admission { .. } => None,
        }
    }

    /// The file name, for objects read from a file.
    pub fn file_name(&self) -> Option<&str> {
        self.file().map(|s| &*s.file)
    }
}

impl From<Source> for Origin {
    fn from(source: Source) -> Origin {
        Origin::File(source)
    }
}

/// For people (diagnostics): the file name, `cluster <context>` or `admission request <uid>`.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(s) => f.write_str(&s.file),
            Origin::Cluster { context, .. } => write!(f, "cluster {context}"),
            Origin::Admission { uid } => write!(f, "admission request {uid}"),
        }
    }
}

/// One Kubernetes object (any kind, CRDs included).
#[derive(Debug, Clone)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    /// `metadata.name`, or `metadata.generateName` when only that is set; empty when neither is.
    pub name: String,
    pub namespace: Option<String>,
    pub value: Value,
    /// Where it came from.
    pub source: Origin,
    /// Positions of its fields; empty (every position unknown) unless it came from a file.
    pub spans: Spans,
    /// Its [`ObjectRef`] and `cluster:` locator, made at the first finding and shared by all
    /// of them.
    shared: std::sync::OnceLock<Shared>,
}

/// What the findings of one object share.
#[derive(Debug, Clone)]
struct Shared {
    object_ref: Arc<crate::ObjectRef>,
    /// For an object read from a cluster.
    uri: Option<Arc<str>>,
}

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

impl Object {
    /// Builds an object from a JSON value; `None` when apiVersion or kind is missing.
    pub fn from_value(
        value: Value,
        spans: impl Into<Spans>,
        source: impl Into<Origin>,
    ) -> Option<Object> {
        let source = source.into();
        let api_version = value.get("apiVersion")?.as_str()?.to_string();
        let kind = value.get("kind")?.as_str()?.to_string();
        let meta = value.get("metadata");
        let str_of = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str);
        let name = str_of("name")
            .or_else(|| str_of("generateName"))
            .unwrap_or("")
            .to_string();
        let namespace = str_of("namespace")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Some(Object {
            api_version,
            kind,
            name,
            namespace,
            value,
            source,
            spans: spans.into(),
            shared: std::sync::OnceLock::new(),
        })
    }

    /// The object's identity as findings name it, one copy shared by all its findings.
    pub fn object_ref(&self) -> Arc<crate::ObjectRef> {
        self.shared().object_ref.clone()
    }

    fn shared(&self) -> &Shared {
        self.shared.get_or_init(|| Shared {
            object_ref: Arc::new(crate::ObjectRef::of(self)),
            uri: match &self.source {
                Origin::Cluster { context, .. } => {
                    Some(crate::finding::cluster_uri(context, self).into())
                }
                Origin::File(_) | Origin::Admission { .. } => None,
            },
        })
    }

    /// Where an object read from a cluster is ([`crate::finding::cluster_uri`]), one copy
    /// shared by all its findings; `None` for objects from elsewhere.
    pub fn cluster_uri(&self) -> Option<Arc<str>> {
        self.shared().uri.clone()
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    /// An object read from a cluster (`context` names it): the origin carries the object's
    /// `metadata.uid` and `metadata.resourceVersion`; there are no positions.
    pub fn from_cluster(value: Value, context: &str) -> Option<Object> {
        let meta = |key: &str| {
            value
                .get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let origin = Origin::Cluster {
            context: Arc::from(context),
            uid: meta("uid"),
            resource_version: meta("resourceVersion"),
        };
        Object::from_value(value, SpanNode::default(), origin)
    }

    /// The object of the admission request `request_uid`; there are no positions.
    pub fn from_admission(value: Value, request_uid: &str) -> Option<Object> {
        let origin = Origin::Admission {
            uid: request_uid.to_string(),
        };
        Object::from_value(value, SpanNode::default(), origin)
    }

    /// Position of a field, or of its nearest existing ancestor.
    pub fn pos_of(&self, path: &FieldPath) -> Pos {
        self.spans.pos_of(&self.value, path)
    }

    /// The file and position of a field (or of its nearest existing ancestor), for objects read
    /// from a file; `None` for objects from elsewhere, which have no positions.
    pub fn file_pos_of(&self, path: &FieldPath) -> Option<(&str, Pos)> {
        let file = self.source.file_name()?;
        Some((file, self.pos_of(path)))
    }

    pub fn labels(&self) -> &Map<String, Value> {
        self.meta_map("labels")
    }

    pub fn annotations(&self) -> &Map<String, Value> {
        self.meta_map("annotations")
    }

    fn meta_map(&self, key: &str) -> &Map<String, Value> {
        self.value
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// `Kind namespace/name` for messages.
    pub fn display_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Read access to the objects under analysis, whatever holds them: an [`Inventory`] read from
/// files (input order, duplicates kept) or a keyed [`Store`](crate::Store) (key order, one
/// object per key) that a cluster watch or an admission stream keeps up to date. Checks that
/// look at several objects at once read them through this, so the monitor evaluates them on
/// its store without copying it.
pub trait Objects: Sync {
    /// Every object.
    fn all(&self) -> Box<dyn Iterator<Item = &Object> + '_>;
    /// The objects of one kind (every API group).
    fn of_kind<'a>(&'a self, kind: &'a str) -> Box<dyn Iterator<Item = &'a Object> + 'a>;
}

impl Objects for Inventory {
    fn all(&self) -> Box<dyn Iterator<Item = &Object> + '_> {
        Box::new(self.objects.iter())
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> Box<dyn Iterator<Item = &'a Object> + 'a> {
        Box::new(Inventory::of_kind(self, kind))
    }
}

/// The set of objects under analysis.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub objects: Vec<Object>,
}

impl Inventory {
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    /// Namespaces that appear in the input: Namespace objects and namespaces of namespaced objects.
    pub fn namespaces(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for o in &self.objects {
            if o.kind == "Namespace" && o.api_version == "v1" {
                out.insert(o.name.clone());
            } else if let Some(ns) = &o.namespace {
                out.insert(ns.clone());
            }
        }
        out
    }
}

/// The identity of an object, whatever its origin: what a cluster, a watch event or an admission
/// request names, and what fingerprints are built from (with the check and the field path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The API group (`""` for the core group).
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Object {
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group().to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}
