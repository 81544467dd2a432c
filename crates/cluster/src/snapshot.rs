//! A snapshot of a cluster: discovery, then a paginated list of every wanted kind, a few kinds
//! at a time, into cluster-origin [`Object`]s.
//!
//! Lists follow the API's pagination contract (k8s.io/apimachinery `ListOptions`:
//! `limit`/`continue`; apiserver storage/etcd3 `GetList`): each page is requested with the
//! previous page's `continue` token until the server returns none. A `410 Expired` on a later
//! page means the token's revision was compacted: the list starts over from the first page
//! (as client-go's pager does when it cannot continue), at most [`MAX_RELISTS`] times.

use std::collections::HashMap;

use futures::StreamExt as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use kubevigil_model::{DiagLevel, Diagnostic, Object};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::api::{ApiError, get};
use crate::kinds::{KINDS, WantedKind};
use crate::{Connection, Error};

/// How many times a list restarts after its continue token expired.
pub const MAX_RELISTS: usize = 3;

const JSON: &str = "application/json";
/// What kube-rs and client-go send for metadata-only lists
/// (apimachinery/pkg/apis/meta/v1 `PartialObjectMetadataList`).
const METADATA_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";

/// The annotation `kubectl apply` keeps the previous configuration in (a whole copy of the
/// object: Secrets' values included). Dropped on ingest.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Which namespaces to read.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only these namespaces (`-n`); empty for all of them (`-A`).
    pub namespaces: Vec<String>,
    /// Namespaces left out (`--exclude-namespaces`): names or globs (`kube-*`).
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    pub scope: Scope,
    /// Items per page (`limit`).
    pub page_size: u32,
    /// Lists in flight at once.
    pub concurrency: usize,
    pub kinds: Vec<WantedKind>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            scope: Scope::default(),
            page_size: 500,
            concurrency: 4,
            kinds: KINDS.to_vec(),
        }
    }
}

/// Something that keeps a snapshot from being complete.
#[derive(Debug, Clone)]
pub enum Problem {
    /// The credentials may not list the kind (403).
    Forbidden { kind: WantedKind, error: ApiError },
    /// Listing the kind failed (after the retries the server asked for).
    Failed { kind: WantedKind, error: ApiError },
    /// A built-in kind the API server does not serve at any version kubevigil reads.
    NotServed { kind: WantedKind },
}

/// What a snapshot read.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub context: String,
    /// In the order of [`KINDS`], each kind in the API's list order.
    pub objects: Vec<Object>,
    pub problems: Vec<Problem>,
    /// The kinds read: kind, apiVersion, object count.
    pub read: Vec<(WantedKind, String, usize)>,
    /// Lists restarted after an expired continue token.
    pub relists: usize,
}

impl Snapshot {
    /// Whether some kind could not be read for a reason other than permissions (those are
    /// warnings: the credentials decide what kubevigil may see).
    pub fn has_errors(&self) -> bool {
        self.problems
            .iter()
            .any(|p| matches!(p, Problem::Failed { .. }))
    }

    /// The problems as diagnostics at `cluster <context>`: a kind that may not be listed is a
    /// warning naming the kind and the enabled checks that read it (their results are
    /// incomplete); a list that failed is an error.
    pub fn diagnostics(&self, enabled: &dyn Fn(&str) -> bool) -> Vec<Diagnostic> {
        let checks = kubevigil_checks::evaluator_checks();
        let readers = |kind: &str| -> String {
            let ids: Vec<&str> = checks
                .iter()
                .filter(|c| c.reads(kind) && enabled(c.meta().id))
                .map(|c| c.meta().id)
                .collect();
            if ids.is_empty() {
                "no enabled check reads it".into()
            } else {
                format!("incomplete checks: {}", ids.join(", "))
            }
        };
        let at = |level, message| Diagnostic {
            level,
            file: format!("cluster {}", self.context),
            line: 0,
            col: 0,
            message,
        };
        self.problems
            .iter()
            .map(|p| match p {
                Problem::Forbidden { kind, error } => at(
                    DiagLevel::Warning,
                    format!(
                        "cannot list {}: GET {}: {}; {}",
                        kind.display(),
                        error.url,
                        error.message,
                        readers(kind.kind)
                    ),
                ),
                Problem::Failed { kind, error } => at(
                    DiagLevel::Error,
                    format!(
                        "cannot list {}: {error}; the result is incomplete ({})",
                        kind.display(),
                        readers(kind.kind)
                    ),
                ),
                Problem::NotServed { kind } => at(
                    DiagLevel::Warning,
                    format!(
                        "the API server does not serve {} at {}; {}",
                        kind.display(),
                        kind.versions
                            .iter()
                            .map(|v| kind.api_version(v))
                            .collect::<Vec<_>>()
                            .join(", "),
                        readers(kind.kind)
                    ),
                ),
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct GroupList {
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    name: String,
    #[serde(default)]
    versions: Vec<GroupVersion>,
}

#[derive(Debug, Deserialize)]
struct GroupVersion {
    version: String,
}

#[derive(Debug, Deserialize)]
struct ResourceList {
    #[serde(default)]
    resources: Vec<ApiResource>,
}

#[derive(Debug, Deserialize)]
struct ApiResource {
    name: String,
    #[serde(default)]
    namespaced: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Page {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// A kind as discovery found it.
#[derive(Debug, Clone)]
struct Found {
    kind: WantedKind,
    version: String,
    namespaced: bool,
}

fn decode<T: for<'de> Deserialize<'de>>(
    conn: &Connection,
    path: &str,
    bytes: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError {
        context: conn.context.clone(),
        url: format!("{}{path}", conn.server),
        code: None,
        reason: String::new(),
        message: format!("the response is not the JSON the API defines: {e}"),
    })
}

/// Discovery: which version of each wanted kind the server serves, and whether it is
/// namespaced. `/api` and `/apis` must answer; a group version that fails is a problem for its
/// kinds only (an aggregated API whose backend is down answers 503).
async fn discover(
    conn: &Connection,
    kinds: &[WantedKind],
    problems: &mut Vec<Problem>,
) -> Result<Vec<Found>, Error> {
    let groups: GroupList = {
        let bytes = get(conn, "/apis", JSON).await?;
        decode(conn, "/apis", &bytes)?
    };
    let mut lists: HashMap<String, Result<ResourceList, ApiError>> = HashMap::new();
    let mut found = Vec::new();
    for kind in kinds {
        let served: Vec<&str> = if kind.group.is_empty() {
            vec!["v1"]
        } else {
            groups
                .groups
                .iter()
                .filter(|g| g.name == kind.group)
                .flat_map(|g| g.versions.iter().map(|v| v.version.as_str()))
                .collect()
        };
        let mut located = None;
        let mut failure = None;
        for version in kind.versions.iter().filter(|v| served.contains(v)) {
            let path = if kind.group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{}/{version}", kind.group)
            };
            if !lists.contains_key(&path) {
                let list = match get(conn, &path, JSON).await {
                    Ok(bytes) => decode::<ResourceList>(conn, &path, &bytes),
                    Err(e) => Err(e),
                };
                lists.insert(path.clone(), list);
            }
            match &lists[&path] {
                Ok(list) => {
                    if let Some(r) = list.resources.iter().find(|r| r.name == kind.plural) {
                        located = Some(Found {
                            kind: *kind,
                            version: version.to_string(),
                            namespaced: r.namespaced,
                        });
                        break;
                    }
                }
                Err(e) => failure = Some(e.clone()),
            }
        }
        match (located, failure) {
            (Some(f), _) => found.push(f),
            (None, Some(error)) if kind.builtin || error.code != Some(404) => {
                problems.push(Problem::Failed { kind: *kind, error })
            }
            (None, _) if kind.builtin => problems.push(Problem::NotServed { kind: *kind }),
            (None, _) => tracing::debug!(kind = %kind.display(), "not served: skipped"),
        }
    }
    Ok(found)
}

/// `s` as a query value (RFC 3986 unreserved characters kept).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Makes an item of a list into an object: its `apiVersion` and `kind` (which the API server
/// leaves out of typed lists' items, and which a metadata-only list gives as
/// `meta.k8s.io/v1 PartialObjectMetadata`), without `metadata.managedFields` and the
/// last-applied-configuration annotation. Items that are not objects are dropped.
fn ingest(item: Value, found: &Found, context: &str) -> Option<Object> {
    let Value::Object(mut fields) = item else {
        return None;
    };
    let mut object = Map::with_capacity(fields.len() + 2);
    object.insert(
        "apiVersion".into(),
        Value::String(found.kind.api_version(&found.version)),
    );
    object.insert("kind".into(), Value::String(found.kind.kind.into()));
    if found.kind.metadata_only {
        // Only the metadata, whatever the server sent: never a value.
        if let Some(m) = fields.remove("metadata") {
            object.insert("metadata".into(), m);
        }
    } else {
        for (k, v) in fields {
            if k != "apiVersion" && k != "kind" {
                object.insert(k, v);
            }
        }
    }
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.remove(LAST_APPLIED);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    Object::from_cluster(Value::Object(object), context)
}

fn exclusions(scope: &Scope) -> Result<GlobSet, Error> {
    let mut b = GlobSetBuilder::new();
    for pattern in &scope.exclude {
        b.add(
            Glob::new(pattern)
                .map_err(|e| Error::Kubeconfig(format!("--exclude-namespaces {pattern:?}: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| Error::Kubeconfig(format!("--exclude-namespaces: {e}")))
}

/// A kind's objects and how many times its list restarted, or why it failed.
type Listed = Result<(Vec<Object>, usize), ApiError>;

/// Lists one kind at one path, every page; restarts after an expired continue token.
async fn list_all(
    conn: &Connection,
    found: &Found,
    base: &str,
    page_size: u32,
    exclude: &GlobSet,
) -> Listed {
    let accept = if found.kind.metadata_only {
        METADATA_LIST
    } else {
        JSON
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut relists = 0;
    'list: loop {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("{base}{separator}limit={page_size}");
            if let Some(t) = &token {
                path.push_str("&continue=");
                path.push_str(&query_escape(t));
            }
            let bytes = match get(conn, &path, accept).await {
                Ok(b) => b,
                Err(e) if e.is_gone() && token.is_some() && relists < MAX_RELISTS => {
                    relists += 1;
                    tracing::warn!(
                        context = %conn.context,
                        path = %path,
                        "the continue token expired (410): listing {} again from the start",
                        found.kind.display()
                    );
                    continue 'list;
                }
                Err(e) => return Err(e),
            };
            let page: Page = decode(conn, &path, &bytes)?;
            drop(bytes);
            for item in page.items.unwrap_or_default() {
                if let Some(o) = ingest(item, found, &conn.context) {
                    let excluded = match (&o.namespace, o.kind.as_str()) {
                        (Some(ns), _) => exclude.is_match(ns),
                        (None, "Namespace") => exclude.is_match(&o.name),
                        (None, _) => false,
                    };
                    if !excluded {
                        objects.push(o);
                    }
                }
            }
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok((objects, relists)),
            }
        }
    }
}

/// Reads every wanted kind the server serves, in `scope`.
pub async fn snapshot(conn: &Connection, options: &SnapshotOptions) -> Result<Snapshot, Error> {
    let exclude = exclusions(&options.scope)?;
    let mut snapshot = Snapshot {
        context: conn.context.clone(),
        ..Default::default()
    };
    let found = discover(conn, &options.kinds, &mut snapshot.problems).await?;
    // One list per kind, or per kind and namespace with -n.
    let mut jobs: Vec<(Found, String)> = Vec::new();
    for f in &found {
        let prefix = if f.kind.group.is_empty() {
            format!("/api/{}", f.version)
        } else {
            format!("/apis/{}/{}", f.kind.group, f.version)
        };
        let namespaces = &options.scope.namespaces;
        if namespaces.is_empty() {
            jobs.push((f.clone(), format!("{prefix}/{}", f.kind.plural)));
        } else if f.namespaced {
            for ns in namespaces {
                jobs.push((
                    f.clone(),
                    format!("{prefix}/namespaces/{}/{}", query_escape(ns), f.kind.plural),
                ));
            }
        } else if f.kind.kind == "Namespace" {
            for ns in namespaces {
                jobs.push((
                    f.clone(),
                    format!(
                        "{prefix}/namespaces?fieldSelector={}",
                        query_escape(&format!("metadata.name={ns}"))
                    ),
                ));
            }
        } else {
            jobs.push((f.clone(), format!("{prefix}/{}", f.kind.plural)));
        }
    }
    let page_size = options.page_size.max(1);
    let results: Vec<(Found, Listed)> = futures::stream::iter(jobs.into_iter().map(|(f, path)| {
        let exclude = &exclude;
        async move {
            let r = list_all(conn, &f, &path, page_size, exclude).await;
            (f, r)
        }
    }))
    .buffered(options.concurrency.max(1))
    .collect()
    .await;
    let mut failed: Vec<String> = Vec::new();
    for (f, result) in results {
        match result {
            Ok((objects, relists)) => {
                snapshot.relists += relists;
                let api_version = f.kind.api_version(&f.version);
                match snapshot
                    .read
                    .iter_mut()
                    .find(|(k, v, _)| *k == f.kind && *v == api_version)
                {
                    Some((_, _, n)) => *n += objects.len(),
                    None => snapshot.read.push((f.kind, api_version, objects.len())),
                }
                snapshot.objects.extend(objects);
            }
            Err(error) => {
                // With -n, one problem per kind is enough.
                if failed.contains(&f.kind.display()) && f.namespaced {
                    continue;
                }
                failed.push(f.kind.display());
                snapshot.problems.push(if error.is_forbidden() {
                    Problem::Forbidden {
                        kind: f.kind,
                        error,
                    }
                } else {
                    Problem::Failed {
                        kind: f.kind,
                        error,
                    }
                });
            }
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_are_escaped() {
        assert_eq!(query_escape("eyJ2Ijoi-_"), "eyJ2Ijoi-_");
        assert_eq!(query_escape("a+b/c=&d"), "a%2Bb%2Fc%3D%26d");
    }
}
