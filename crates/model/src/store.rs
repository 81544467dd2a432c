//! A keyed store of objects with a by-kind index, kept up to date by applying changes one at a
//! time, in the manner of kube-runtime's reflector `Store` (`apply_watcher_event`): an upsert
//! replaces the object with the same key, a delete removes it.
//!
//! Objects are shared (`Arc`): a clone of the store is a snapshot that costs the keys, not the
//! objects, so that whole-inventory engines can read one on another thread while changes go on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::object::{Inventory, Object, ObjectKey, Objects};

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create or replace the object with this object's key.
    Upsert(Object),
    Delete(ObjectKey),
}

impl Change {
    pub fn key(&self) -> ObjectKey {
        match self {
            Change::Upsert(o) => o.key(),
            Change::Delete(k) => k.clone(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    by_kind: HashMap<String, BTreeSet<ObjectKey>>,
}

impl Store {
    /// A store holding the objects of `inventory` (a later object replaces an earlier one with
    /// the same key, as a second `kubectl apply` would).
    pub fn from_inventory(inventory: Inventory) -> Self {
        let mut store = Store::default();
        for o in inventory.objects {
            store.apply(Change::Upsert(o));
        }
        store
    }

    /// Applies one change; returns the object it replaced or deleted.
    pub fn apply(&mut self, change: Change) -> Option<Arc<Object>> {
        match change {
            Change::Upsert(object) => {
                let key = object.key();
                self.by_kind
                    .entry(key.kind.clone())
                    .or_default()
                    .insert(key.clone());
                self.objects.insert(key, Arc::new(object))
            }
            Change::Delete(key) => {
                let old = self.objects.remove(&key)?;
                if let Some(keys) = self.by_kind.get_mut(&key.kind) {
                    keys.remove(&key);
                }
                Some(old)
            }
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key).map(|o| &**o)
    }

    /// The objects of one kind (every API group), in key order.
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|k| self.objects.get(k).map(|o| &**o))
    }

    /// Every object, in key order.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.objects.values().map(|o| &**o)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl Objects for Store {
    fn all(&self) -> Box<dyn Iterator<Item = &Object> + '_> {
        Box::new(self.objects())
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> Box<dyn Iterator<Item = &'a Object> + 'a> {
        Box::new(Store::of_kind(self, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, Loaded, load_text_into};

    #[test]
    fn upsert_replaces_by_key_and_delete_removes_from_the_kind_index() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n---\n\
                    apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x, labels: {v: '2'}}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n";
        let mut loaded = Loaded::default();
        load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
        let mut store = Store::from_inventory(loaded.inventory);
        assert_eq!(store.len(), 2);
        let services: Vec<&Object> = store.of_kind("Service").collect();
        assert_eq!(services.len(), 1);
        assert!(services[0].labels().contains_key("v"));
        let key = services[0].key();
        assert!(store.apply(Change::Delete(key.clone())).is_some());
        assert!(store.get(&key).is_none());
        assert_eq!(store.of_kind("Service").count(), 0);
        assert_eq!(store.of_kind("ConfigMap").count(), 1);
        assert!(store.apply(Change::Delete(key)).is_none());
    }
}
