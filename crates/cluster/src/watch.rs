//! kube-runtime watchers: a list, then a watch from the list's resourceVersion with bookmarks;
//! `410 Gone` (an expired resourceVersion) and stream failures lead to a fresh list, with
//! kube-runtime's default backoff between attempts (kube-runtime `watcher` and
//! `WatchStreamExt::default_backoff`).

use std::collections::BTreeMap;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};

use crate::Connection;

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
