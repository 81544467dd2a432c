//! Namespace labels: a cache fed by a static file of Namespace objects, or kept current from
//! the cluster by kubevigil-cluster's kube-runtime watcher on the namespaces' metadata (the
//! kubeconfig, or the in-cluster service account; RBAC needs only namespaces get/list/watch).
//!
//! The watcher follows the API's list/watch contract: list (paged), then watch from the list's
//! `resourceVersion` with bookmarks; `410 Gone` and any stream failure lead to a fresh list
//! after kube-runtime's backoff, which replaces the cache. Until the first list has been
//! applied the cache reports itself unsynced and `/readyz` fails, so the API server does not
//! send requests that would be judged against missing labels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use kubevigil_cluster::watch::{NamespaceChange, watch_namespaces};
use serde_json::{Map, Value};

use crate::policy::pod_security::NamespaceLabels;

/// Labels by namespace name, shared between the watcher and the request handlers.
#[derive(Debug)]
pub struct NamespaceCache {
    labels: RwLock<NamespaceLabels>,
    synced: AtomicBool,
}

impl Default for NamespaceCache {
    fn default() -> Self {
        NamespaceCache::from_labels(NamespaceLabels::new())
    }
}

impl NamespaceCache {
    /// A cache that is complete as given (a static file).
    pub fn from_labels(labels: NamespaceLabels) -> Self {
        NamespaceCache {
            labels: RwLock::new(labels),
            synced: AtomicBool::new(true),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, NamespaceLabels> {
        self.labels.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::SeqCst);
    }

    pub fn replace(&self, labels: NamespaceLabels) {
        *self.labels.write().unwrap_or_else(|p| p.into_inner()) = labels;
    }

    /// Applies one watch event (`ADDED`, `MODIFIED`, `DELETED`); other types are ignored.
    pub fn apply(&self, event_type: &str, object: &Value) {
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let mut m = self.labels.write().unwrap_or_else(|p| p.into_inner());
        match event_type {
            "ADDED" | "MODIFIED" => {
                m.insert(name.to_string(), labels_of(object));
            }
            "DELETED" => {
                m.remove(name);
            }
            _ => {}
        }
    }
}

fn labels_of(o: &Value) -> Map<String, Value> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn label_map(labels: BTreeMap<String, String>) -> Map<String, Value> {
    labels
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// Keeps the webhook's namespace cache current forever from `conn`'s cluster. Marks the cache
/// unsynced until the first list is applied; a failed watch keeps the last known labels while
/// the watcher retries and relists.
pub async fn run_watch(conn: kubevigil_cluster::Connection, webhook: Arc<crate::Webhook>) {
    let cache = &webhook.namespaces;
    cache.set_synced(false);
    watch_namespaces(conn, |change| match change {
        NamespaceChange::Listed(all) => {
            cache.replace(
                all.into_iter()
                    .map(|(name, labels)| (name, label_map(labels)))
                    .collect(),
            );
            cache.set_synced(true);
        }
        NamespaceChange::Applied { name, labels } => {
            let object =
                serde_json::json!({"metadata": {"name": name, "labels": label_map(labels)}});
            cache.apply("MODIFIED", &object);
        }
        NamespaceChange::Deleted { name } => {
            cache.apply("DELETED", &serde_json::json!({"metadata": {"name": name}}));
        }
        NamespaceChange::Failed(_) => {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watch_events_update_the_cache() {
        let c = NamespaceCache::default();
        c.apply(
            "ADDED",
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}}),
        );
        c.apply(
            "MODIFIED",
            &json!({"metadata": {"name": "a", "labels": {"x": "2"}}}),
        );
        c.apply("ADDED", &json!({"metadata": {"name": "b"}}));
        c.apply("BOOKMARK", &json!({"metadata": {"resourceVersion": "9"}}));
        assert_eq!(c.read()["a"]["x"], "2");
        assert!(c.read()["b"].is_empty());
        c.apply("DELETED", &json!({"metadata": {"name": "a"}}));
        assert!(!c.read().contains_key("a"));
        c.apply("ADDED", &json!({"metadata": {}}));
        assert_eq!(c.read().len(), 1);
    }
}
