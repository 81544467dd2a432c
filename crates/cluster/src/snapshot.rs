//! A snapshot of a cluster: discovery, then a paginated list of every wanted kind, a few kinds
//! at a time, into cluster-origin [`Object`]s.
//!
//! Lists follow the API's pagination contract (k8s.io/apimachinery `ListOptions`:
//! `limit`/`continue`; apiserver storage/etcd3 `GetList`): each page is requested with the
//! previous page's `continue` token until the server returns none. A `410 Expired` on a later
//! page means the token's revision was compacted: the list starts over from the first page
//! (as client-go's pager does when it cannot continue), at most [`MAX_RELISTS`] times.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use futures::StreamExt as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use kubevigil_model::{DiagLevel, Diagnostic, Object};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// A kind as discovery found it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub kind: WantedKind,
    pub version: String,
    pub namespaced: bool,
}

fn decode<T: for<'de> Deserialize<'de>>(
    conn: &Connection,
    path: &str,
    bytes: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| not_json(conn, path, e))
}

fn not_json(conn: &Connection, path: &str, e: serde_json::Error) -> ApiError {
    ApiError {
        context: conn.context.clone(),
        url: format!("{}{path}", conn.server),
        code: None,
        reason: String::new(),
        message: format!("the response is not the JSON the API defines: {e}"),
    }
}

/// Discovery: which version of each wanted kind the server serves, and whether it is
/// namespaced. `/api` and `/apis` must answer; a group version that fails is a problem for its
/// kinds only (an aggregated API whose backend is down answers 503).
pub(crate) async fn discover(
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

/// A page of a list, parsed straight into objects (no intermediate tree): its items, each made
/// into an object with its `apiVersion` and `kind` (which the API server leaves out of typed
/// lists' items, and which a metadata-only list gives as `meta.k8s.io/v1
/// PartialObjectMetadata`), without `metadata.managedFields` and the
/// last-applied-configuration annotation, which are skipped as they are read (never built).
/// Items that are not objects are dropped, and so are the objects `keep` refuses.
struct PageSeed<'a> {
    found: &'a Found,
    /// `found`'s apiVersion.
    api_version: &'a str,
    context: &'a str,
    keep: &'a dyn Fn(&Object) -> bool,
}

/// What [`PageSeed`] read.
#[derive(Default)]
struct Page {
    objects: Vec<Object>,
    continue_token: Option<String>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Page;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Page, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Page;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
        let mut page = Page::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "metadata" => page.continue_token = map.next_value::<PageMeta>()?.continue_token,
                "items" => page.objects = map.next_value_seed(Items(&self))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// A list's `items` (`null` for none).
struct Items<'s, 'a>(&'s PageSeed<'a>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = Vec<Object>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Object>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = Vec<Object>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list's items")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<Object>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Object>, A::Error> {
        let seed = self.0;
        let mut objects = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) =
            seq.next_element_seed(Tree(Level::Item(seed.found, seed.api_version)))?
        {
            if let Some(o) = Object::from_cluster(item, seed.context)
                && (seed.keep)(&o)
            {
                objects.push(o);
            }
        }
        Ok(objects)
    }
}

/// Where in an item [`Tree`] is.
#[derive(Clone, Copy)]
enum Level<'a> {
    /// The item: its `apiVersion` and `kind` come from the list (`found`, apiVersion).
    Item(&'a Found, &'a str),
    /// `metadata`: without `managedFields`, except, for a Secret, when its entries wrote the
    /// data (see [`Level::DataWrites`]).
    Metadata { secret: bool },
    /// A Secret's `metadata.managedFields`: only the entries that wrote `data` or `stringData`,
    /// with their manager, operation and time, and `fieldsV1` cut to those two keys (no key
    /// names): when its value last changed, for `secret-not-rotated`.
    DataWrites,
    /// `metadata.annotations`: without the last-applied configuration.
    Annotations,
    /// Anything below: kept whole.
    Inside,
}

/// A JSON value as a [`Value`] (what `Value`'s own `Deserialize` builds), without the parts of
/// an item that are dropped on ingest.
struct Tree<'a>(Level<'a>);

impl<'de> DeserializeSeed<'de> for Tree<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Level::Inside => Value::deserialize(d),
            Level::DataWrites => Ok(data_writes(Value::deserialize(d)?)),
            _ => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Tree<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        if let Level::Item(found, api_version) = self.0 {
            object.insert("apiVersion".into(), Value::String(api_version.into()));
            object.insert("kind".into(), Value::String(found.kind.kind.into()));
        }
        while let Some(key) = map.next_key::<String>()? {
            let below = match (self.0, key.as_str()) {
                (Level::Item(..), "apiVersion" | "kind") => None,
                (Level::Item(found, _), "metadata") => Some(Level::Metadata {
                    secret: found.kind.kind == "Secret",
                }),
                // Only the metadata of a metadata-only kind, whatever the server sent: never
                // a value.
                (Level::Item(found, _), _) if found.kind.metadata_only => None,
                (Level::Metadata { secret: true }, "managedFields") => Some(Level::DataWrites),
                (Level::Metadata { .. }, "managedFields") => None,
                (Level::Metadata { .. }, "annotations") => Some(Level::Annotations),
                (Level::Annotations, LAST_APPLIED) => None,
                _ => Some(Level::Inside),
            };
            let Some(below) = below else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(Tree(below))?;
            // Annotations that were only the last-applied configuration are dropped.
            if matches!(below, Level::Annotations) && value.as_object().is_some_and(Map::is_empty) {
                object.remove(&key);
                continue;
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// [`Level::DataWrites`] of a `managedFields` value.
fn data_writes(managed: Value) -> Value {
    const DATA: [&str; 2] = ["f:data", "f:stringData"];
    let entries = managed.as_array().into_iter().flatten().filter_map(|e| {
        let fields = e.get("fieldsV1")?.as_object()?;
        let touched: Map<String, Value> = DATA
            .iter()
            .filter(|k| fields.contains_key(**k))
            .map(|k| (k.to_string(), Value::Object(Map::new())))
            .collect();
        if touched.is_empty() {
            return None;
        }
        let mut kept = Map::new();
        for k in ["manager", "operation", "time"] {
            if let Some(v) = e.get(k).filter(|v| v.is_string()) {
                kept.insert(k.into(), v.clone());
            }
        }
        kept.insert("fieldsV1".into(), Value::Object(touched));
        Some(Value::Object(kept))
    });
    Value::Array(entries.collect())
}

/// One object of a watch event (a JSON tree as kube-rs decoded it), made into an object as
/// a list's item is: the kind's `apiVersion` and `kind`, without `managedFields` (a Secret's
/// data writes aside) and the last-applied configuration, only the metadata of a
/// metadata-only kind. `None` when it is not an object or has no name.
pub(crate) fn object_of(
    found: &Found,
    api_version: &str,
    value: Value,
    context: &str,
) -> Option<Object> {
    let tree = Tree(Level::Item(found, api_version))
        .deserialize(value)
        .ok()?;
    Object::from_cluster(tree, context)
}

/// Whether an object is in scope: not in an excluded namespace (nor an excluded Namespace).
pub(crate) fn in_scope(exclude: &GlobSet, o: &Object) -> bool {
    match (&o.namespace, o.kind.as_str()) {
        (Some(ns), _) => !exclude.is_match(ns),
        (None, "Namespace") => !exclude.is_match(&o.name),
        (None, _) => true,
    }
}

/// Parses a page of a list at `path`.
fn decode_page(
    conn: &Connection,
    path: &str,
    bytes: &[u8],
    seed: PageSeed<'_>,
) -> Result<Page, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    seed.deserialize(&mut de)
        .and_then(|page| de.end().map(|()| page))
        .map_err(|e| not_json(conn, path, e))
}

pub(crate) fn exclusions(scope: &Scope) -> Result<GlobSet, Error> {
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

/// One page of one list, as it arrives: the objects of the page `page` (from 0) of the
/// attempt `attempt` (from 0; a list restarts after an expired continue token) of the list
/// `list` (an index in the snapshot's lists, which are in the order of [`KINDS`]).
pub(crate) struct ListPage {
    pub list: usize,
    pub attempt: usize,
    pub page: usize,
    pub objects: Vec<Object>,
}

/// How a list ended: its last attempt and how many objects it read, or why it failed.
type Listed = Result<(usize, usize), ApiError>;

/// Lists one kind at one path, every page, giving each page to `on_page` as it arrives;
/// restarts after an expired continue token.
async fn list_all(
    conn: &Connection,
    found: &Found,
    list: usize,
    base: &str,
    page_size: u32,
    exclude: &GlobSet,
    on_page: &(dyn Fn(ListPage) + Sync),
) -> Listed {
    let accept = if found.kind.metadata_only {
        METADATA_LIST
    } else {
        JSON
    };
    let api_version = found.kind.api_version(&found.version);
    let keep = |o: &Object| in_scope(exclude, o);
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut attempt = 0;
    'list: loop {
        let mut count = 0;
        let mut token: Option<String> = None;
        for page in 0.. {
            let mut path = format!("{base}{separator}limit={page_size}");
            if let Some(t) = &token {
                path.push_str("&continue=");
                path.push_str(&kubevigil_model::text::percent_encode(t));
            }
            let bytes = match get(conn, &path, accept).await {
                Ok(b) => b,
                Err(e) if e.is_gone() && token.is_some() && attempt < MAX_RELISTS => {
                    attempt += 1;
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
            let seed = PageSeed {
                found,
                api_version: &api_version,
                context: &conn.context,
                keep: &keep,
            };
            let read = decode_page(conn, &path, &bytes, seed)?;
            drop(bytes);
            count += read.objects.len();
            on_page(ListPage {
                list,
                attempt,
                page,
                objects: read.objects,
            });
            match read.continue_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        return Ok((attempt, count));
    }
}

/// Reads every wanted kind the server serves, in `scope`.
pub async fn snapshot(conn: &Connection, options: &SnapshotOptions) -> Result<Snapshot, Error> {
    let pages = Mutex::new(Vec::new());
    let (mut snapshot, complete) = snapshot_pages(conn, options, &|p| {
        pages.lock().expect("pages lock").push(p)
    })
    .await?;
    let pages = pages.into_inner().expect("pages lock");
    let pages = pages
        .into_iter()
        .map(|p| (p.list, p.attempt, p.page, p.objects))
        .collect();
    snapshot.objects = complete.assemble(pages).into_iter().flatten().collect();
    Ok(snapshot)
}

/// Which pages make a snapshot: those of the last attempt of each list that completed.
#[derive(Debug, Default)]
pub(crate) struct Complete {
    /// For each list, its last attempt, or `None` when it failed.
    last_attempt: Vec<Option<usize>>,
}

impl Complete {
    /// Whether `page` belongs to the snapshot.
    pub fn counts(&self, list: usize, attempt: usize) -> bool {
        self.last_attempt.get(list).copied().flatten() == Some(attempt)
    }

    /// What was made of the pages that belong to the snapshot, in list order and each list in
    /// page order; what was made of the others is dropped. `pages` gives each page's list,
    /// attempt and page number.
    pub fn assemble<T>(&self, pages: Vec<(usize, usize, usize, T)>) -> Vec<T> {
        let mut kept: Vec<(usize, usize, T)> = pages
            .into_iter()
            .filter(|(list, attempt, _, _)| self.counts(*list, *attempt))
            .map(|(list, _, page, t)| (list, page, t))
            .collect();
        kept.sort_by_key(|(list, page, _)| (*list, *page));
        kept.into_iter().map(|(_, _, t)| t).collect()
    }
}

/// [`snapshot`] without its objects: each page is given to `on_page` as it arrives (pages of
/// the lists in flight interleave); what is returned says which pages count.
pub(crate) async fn snapshot_pages(
    conn: &Connection,
    options: &SnapshotOptions,
    on_page: &(dyn Fn(ListPage) + Sync),
) -> Result<(Snapshot, Complete), Error> {
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
                    format!(
                        "{prefix}/namespaces/{}/{}",
                        kubevigil_model::text::percent_encode(ns),
                        f.kind.plural
                    ),
                ));
            }
        } else if f.kind.kind == "Namespace" {
            for ns in namespaces {
                jobs.push((
                    f.clone(),
                    format!(
                        "{prefix}/namespaces?fieldSelector={}",
                        kubevigil_model::text::percent_encode(&format!("metadata.name={ns}"))
                    ),
                ));
            }
        } else {
            jobs.push((f.clone(), format!("{prefix}/{}", f.kind.plural)));
        }
    }
    let page_size = options.page_size.max(1);
    let results: Vec<(Found, Listed)> =
        futures::stream::iter(jobs.into_iter().enumerate().map(|(list, (f, path))| {
            let exclude = &exclude;
            async move {
                let r = list_all(conn, &f, list, &path, page_size, exclude, on_page).await;
                (f, r)
            }
        }))
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let mut complete = Complete::default();
    let mut failed: Vec<String> = Vec::new();
    for (f, result) in results {
        match result {
            Ok((attempt, count)) => {
                complete.last_attempt.push(Some(attempt));
                snapshot.relists += attempt;
                let api_version = f.kind.api_version(&f.version);
                match snapshot
                    .read
                    .iter_mut()
                    .find(|(k, v, _)| *k == f.kind && *v == api_version)
                {
                    Some((_, _, n)) => *n += count,
                    None => snapshot.read.push((f.kind, api_version, count)),
                }
            }
            Err(error) => {
                complete.last_attempt.push(None);
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
    Ok((snapshot, complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_page(kind: WantedKind, text: &str) -> Page {
        let found = Found {
            kind,
            version: "v1".into(),
            namespaced: true,
        };
        let seed = PageSeed {
            found: &found,
            api_version: "v1",
            context: "test",
            keep: &|o: &Object| o.name != "excluded",
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let page = seed.deserialize(&mut de).unwrap();
        de.end().unwrap();
        page
    }

    fn kind(name: &str) -> WantedKind {
        *KINDS.iter().find(|k| k.kind == name).unwrap()
    }

    #[test]
    fn items_are_read_without_managed_fields_and_the_last_applied_configuration() {
        let text = r#"{"kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "9", "continue": "next"},
            "items": [
                {"metadata": {"name": "a", "namespace": "ns", "uid": "u1",
                    "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                    "annotations": {"x": "1", "kubectl.kubernetes.io/last-applied-configuration": "{\"secret\": 1}"},
                    "resourceVersion": "7"},
                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Running"}},
                {"metadata": {"name": "b", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                 "apiVersion": "wrong/v9", "kind": "Wrong"},
                {"metadata": {"name": "excluded"}},
                "not an object", 3, null, [1, 2]
            ]}"#;
        let page = read_page(kind("Pod"), text);
        assert_eq!(page.continue_token.as_deref(), Some("next"));
        let values: Vec<&Value> = page.objects.iter().map(|o| &o.value).collect();
        assert_eq!(
            values,
            [
                &serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "a", "namespace": "ns", "uid": "u1",
                        "annotations": {"x": "1"}, "resourceVersion": "7"},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                    "status": {"phase": "Running"}}),
                &serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}),
            ]
        );
        // In the order read (the tree keeps the server's key order).
        let keys: Vec<&String> = values[0]["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["name", "namespace", "uid", "annotations", "resourceVersion"]
        );
        let o = &page.objects[0];
        assert_eq!(
            (o.kind.as_str(), o.namespace.as_deref()),
            ("Pod", Some("ns"))
        );
        assert!(
            matches!(&o.source, kubevigil_model::Origin::Cluster { uid, resource_version, .. }
            if uid == "u1" && resource_version == "7")
        );
    }

    #[test]
    fn metadata_only_items_keep_only_their_metadata() {
        let text = r#"{"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "s", "namespace": "ns"}, "data": {"token": "c2VjcmV0"}, "type": "Opaque"}]}"#;
        let page = read_page(kind("Secret"), text);
        assert_eq!(page.continue_token, None);
        assert_eq!(
            page.objects[0].value,
            serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "ns"}})
        );
    }

    /// A Secret keeps when its data was written (for secret-not-rotated), nothing else of its
    /// managed fields: no key name, no other manager.
    #[test]
    fn secrets_keep_only_when_their_data_was_written() {
        let text = r#"{"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "items": [{"metadata": {"name": "s", "namespace": "ns", "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "time": "2026-05-01T00:00:00Z", "apiVersion": "v1",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:password": {}}, "f:metadata": {"f:labels": {}}}},
                {"manager": "kubectl-label", "operation": "Update", "time": "2026-06-01T00:00:00Z",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}]}}]}"#;
        let page = read_page(kind("Secret"), text);
        assert_eq!(
            page.objects[0].value["metadata"]["managedFields"],
            serde_json::json!([{"manager": "kubectl", "operation": "Apply",
                "time": "2026-05-01T00:00:00Z", "fieldsV1": {"f:data": {}}}])
        );
        // Other kinds keep none.
        let pods = read_page(
            kind("Pod"),
            r#"{"items": [{"metadata": {"name": "p", "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}]}}]}"#,
        );
        assert!(
            pods.objects[0].value["metadata"]
                .get("managedFields")
                .is_none()
        );
    }

    #[test]
    fn a_list_without_items_is_empty() {
        for text in [r#"{"metadata": {}, "items": null}"#, r#"{"metadata": {}}"#] {
            assert!(read_page(kind("Pod"), text).objects.is_empty());
        }
    }

    #[test]
    fn continue_tokens_are_escaped() {
        assert_eq!(
            kubevigil_model::text::percent_encode("eyJ2Ijoi-_"),
            "eyJ2Ijoi-_"
        );
        assert_eq!(
            kubevigil_model::text::percent_encode("a+b/c=&d"),
            "a%2Bb%2Fc%3D%26d"
        );
    }
}
