//! kube-runtime watchers: a list, then a watch from the list's resourceVersion with bookmarks;
//! `410 Gone` (an expired resourceVersion) and stream failures lead to a fresh list, with
//! kube-runtime's default backoff between attempts (kube-runtime `watcher` and
//! `WatchStreamExt::default_backoff`).

use std::collections::BTreeMap;

use futures::{Stream, StreamExt as _};
use globset::GlobSet;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::{ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kubevigil_model::Object;
use tokio::sync::mpsc;

use crate::snapshot::{Found, discover, exclusions, in_scope, object_of};
use crate::{Connection, Error, Problem, Scope, WantedKind};

/// A change to the set of namespaces, with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceChange {
    /// A (re)list is complete: these are all the namespaces and their labels. Until the first
    /// one, nothing is known.
    Listed(BTreeMap<String, BTreeMap<String, String>>),
    /// A namespace was added or changed.
    Applied {
        name: String,
        labels: BTreeMap<String, String>,
    },
    /// A namespace was deleted.
    Deleted { name: String },
    /// The watch failed; it is retried (after a backoff) and relisted when needed.
    Failed(String),
}

/// Watches the namespaces' metadata (their labels are all the webhook needs:
/// `PartialObjectMetadata`, so `get`/`list`/`watch` on namespaces is the only permission) and
/// calls `on` with every change, forever.
pub async fn watch_namespaces(conn: Connection, mut on: impl FnMut(NamespaceChange)) {
    // `Api<PartialObjectMeta<_>>` lists and watches with the metadata-only media types.
    let api: kube::Api<PartialObjectMeta<Namespace>> = kube::Api::all(conn.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listing: Option<BTreeMap<String, BTreeMap<String, String>>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing = Some(BTreeMap::new()),
            Ok(Event::InitApply(ns)) => {
                if let (Some(list), Some(name)) = (listing.as_mut(), ns.metadata.name) {
                    list.insert(name, ns.metadata.labels.unwrap_or_default());
                }
            }
            Ok(Event::InitDone) => {
                if let Some(list) = listing.take() {
                    tracing::info!(context = %conn.context, namespaces = list.len(), "namespaces listed");
                    on(NamespaceChange::Listed(list));
                }
            }
            Ok(Event::Apply(ns)) => {
                if let Some(name) = ns.metadata.name {
                    on(NamespaceChange::Applied {
                        name,
                        labels: ns.metadata.labels.unwrap_or_default(),
                    });
                }
            }
            Ok(Event::Delete(ns)) => {
                if let Some(name) = ns.metadata.name {
                    on(NamespaceChange::Deleted { name });
                }
            }
            Err(e) => {
                let message = format!(
                    "cluster context {:?}: watching /api/v1/namespaces: {}",
                    conn.context,
                    crate::chain(&e)
                );
                tracing::warn!("{message}; retrying");
                on(NamespaceChange::Failed(message));
            }
        }
    }
}

/// What [`watch_events`] sees.
#[derive(Debug, Clone)]
pub enum EventsChange {
    /// An Event recorded or updated (its count, its series), as JSON: those there when the
    /// watch starts, then each as it comes.
    Event(serde_json::Value),
    /// The watch failed; it is retried after a backoff.
    Failed(String),
}

/// Watches Kubernetes Events across the cluster, `events.k8s.io/v1` when the API server serves
/// it, else core `v1` (the same objects under two APIs; k8s.io/api `events/v1` replaced
/// `core/v1` Events for writers, and both stay readable), and calls `on` with each, forever.
/// Deleted Events (expired after the API server's `--event-ttl`) are not told.
pub async fn watch_events(conn: Connection, mut on: impl FnMut(EventsChange)) {
    let (group, version) = match conn
        .client
        .list_api_group_resources("events.k8s.io/v1")
        .await
    {
        Ok(list) if list.resources.iter().any(|r| r.name == "events") => ("events.k8s.io", "v1"),
        _ => ("", "v1"),
    };
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.clone(),
        kind: "Event".into(),
        plural: "events".into(),
    };
    tracing::info!(context = %conn.context, api = %api_version, "watching Events");
    let api: kube::Api<DynamicObject> = kube::Api::all_with(conn.client.clone(), &resource);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::InitApply(o) | Event::Apply(o)) => {
                if let Ok(mut v) = serde_json::to_value(&o) {
                    // A dynamic object's type meta is the resource's.
                    v["apiVersion"] = serde_json::Value::String(api_version.clone());
                    v["kind"] = serde_json::Value::String("Event".into());
                    on(EventsChange::Event(v));
                }
            }
            Ok(Event::Init | Event::InitDone | Event::Delete(_)) => {}
            Err(e) => {
                let message = format!(
                    "cluster context {:?}: watching Events ({api_version}): {}",
                    conn.context,
                    crate::chain(&e)
                );
                tracing::warn!("{message}; retrying");
                on(EventsChange::Failed(message));
            }
        }
    }
}

/// A change to the watched objects of one kind, in the order the API server sent them.
#[derive(Debug)]
pub enum ObjectEvent {
    /// The kind was listed: at the start, and again whenever its watch could not resume (an
    /// expired resourceVersion, a broken stream). These are all of its objects in scope now;
    /// those held before and not among them were deleted meanwhile.
    Listed {
        kind: WantedKind,
        objects: Vec<Object>,
    },
    /// An object was added or changed.
    Applied(Object),
    /// An object was deleted (its last state).
    Deleted(Object),
    /// The kind's watch failed; kube-runtime tries again after a backoff, listing again when
    /// the watch cannot resume.
    Failed { kind: WantedKind, message: String },
}

/// The kinds to watch, as discovery found them (a snapshot's discovery: the preferred version
/// each kind is served at; a built-in kind not served, or a group whose discovery failed, is a
/// problem).
#[derive(Debug)]
pub struct Watches {
    found: Vec<Found>,
    pub problems: Vec<Problem>,
}

impl Watches {
    pub async fn discover(conn: &Connection, kinds: &[WantedKind]) -> Result<Watches, Error> {
        let mut problems = Vec::new();
        let found = discover(conn, kinds, &mut problems).await?;
        Ok(Watches { found, problems })
    }

    /// The kinds watched and the apiVersion each is read at.
    pub fn kinds(&self) -> Vec<(WantedKind, String)> {
        self.found
            .iter()
            .map(|f| (f.kind, f.kind.api_version(&f.version)))
            .collect()
    }

    /// Watches every kind (the whole cluster but `scope`'s excluded namespaces; `scope`'s
    /// `namespaces` are not supported here and must be empty) and sends what changes to `tx`;
    /// returns when `tx` is closed.
    pub async fn run(
        self,
        conn: Connection,
        scope: &Scope,
        tx: mpsc::Sender<ObjectEvent>,
    ) -> Result<(), Error> {
        let exclude = exclusions(scope)?;
        let watches = self
            .found
            .iter()
            .map(|found| watch_kind(&conn, found, &exclude, &tx));
        futures::future::join_all(watches).await;
        Ok(())
    }
}

/// Watches one kind (metadata only for a metadata-only kind) until `tx` is closed.
async fn watch_kind(
    conn: &Connection,
    found: &Found,
    exclude: &GlobSet,
    tx: &mpsc::Sender<ObjectEvent>,
) {
    let api_version = found.kind.api_version(&found.version);
    let resource = ApiResource {
        group: found.kind.group.to_string(),
        version: found.version.clone(),
        api_version: api_version.clone(),
        kind: found.kind.kind.to_string(),
        plural: found.kind.plural.to_string(),
    };
    let config = watcher::Config::default();
    let path = if found.kind.group.is_empty() {
        format!("/api/{}/{}", found.version, found.kind.plural)
    } else {
        format!("/apis/{api_version}/{}", found.kind.plural)
    };
    let relay = Relay {
        conn,
        found,
        api_version: &api_version,
        path: &path,
        exclude,
        tx,
    };
    if found.kind.metadata_only {
        // `Api<PartialObjectMeta<_>>` lists and watches with the metadata-only media types:
        // Secrets' values never leave the API server.
        let api: kube::Api<PartialObjectMeta<DynamicObject>> =
            kube::Api::all_with(conn.client.clone(), &resource);
        relay
            .run(watcher::watcher(api, config).default_backoff())
            .await
    } else {
        let api: kube::Api<DynamicObject> = kube::Api::all_with(conn.client.clone(), &resource);
        relay
            .run(watcher::watcher(api, config).default_backoff())
            .await
    }
}

/// Turns one kind's watcher events into [`ObjectEvent`]s.
struct Relay<'a> {
    conn: &'a Connection,
    found: &'a Found,
    api_version: &'a str,
    path: &'a str,
    exclude: &'a GlobSet,
    tx: &'a mpsc::Sender<ObjectEvent>,
}

impl Relay<'_> {
    async fn run<K: serde::Serialize>(
        &self,
        stream: impl Stream<Item = Result<Event<K>, watcher::Error>>,
    ) {
        futures::pin_mut!(stream);
        let kind = self.found.kind;
        let mut listing: Option<Vec<Object>> = None;
        while let Some(event) = stream.next().await {
            let out = match event {
                Ok(Event::Init) => {
                    listing = Some(Vec::new());
                    continue;
                }
                Ok(Event::InitApply(o)) => {
                    if let (Some(list), Some(o)) = (listing.as_mut(), self.object(&o)) {
                        list.push(o);
                    }
                    continue;
                }
                Ok(Event::InitDone) => match listing.take() {
                    Some(objects) => {
                        tracing::debug!(context = %self.conn.context, kind = %kind.display(), objects = objects.len(), "listed");
                        ObjectEvent::Listed { kind, objects }
                    }
                    None => continue,
                },
                Ok(Event::Apply(o)) => match self.object(&o) {
                    Some(o) => ObjectEvent::Applied(o),
                    None => continue,
                },
                Ok(Event::Delete(o)) => match self.object(&o) {
                    Some(o) => ObjectEvent::Deleted(o),
                    None => continue,
                },
                Err(e) => {
                    let message = format!(
                        "cluster context {:?}: watching {}{}: {}",
                        self.conn.context,
                        self.conn.server,
                        self.path,
                        crate::chain(&e)
                    );
                    tracing::warn!("{message}; retrying");
                    ObjectEvent::Failed { kind, message }
                }
            };
            if self.tx.send(out).await.is_err() {
                return;
            }
        }
    }

    /// The object of an event, if it is one and in scope.
    fn object<K: serde::Serialize>(&self, o: &K) -> Option<Object> {
        let value = serde_json::to_value(o).ok()?;
        let o = object_of(self.found, self.api_version, value, &self.conn.context)?;
        in_scope(self.exclude, &o).then_some(o)
    }
}
