//! The objects, with their history: every write makes a new revision (one counter for the
//! whole server, as etcd's), an object's versions are kept by revision so a list can be read
//! at any revision not yet compacted, and the events are kept for watches that resume.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::Error;

/// A resource the server serves (one entry of an `APIResourceList`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    /// The plural name in paths, e.g. `pods`.
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
}

impl Resource {
    pub fn new(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Resource {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            kind: kind.into(),
            namespaced,
            short_names: Vec::new(),
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn with_short(mut self, short: &str) -> Self {
        self.short_names.push(short.into());
        self
    }
}

/// The built-in resources kubevigil reads (and a few more), at their current versions.
pub fn default_resources() -> Vec<Resource> {
    vec![
        Resource::new("", "v1", "pods", "Pod", true).with_short("po"),
        Resource::new("", "v1", "namespaces", "Namespace", false).with_short("ns"),
        Resource::new("", "v1", "services", "Service", true).with_short("svc"),
        Resource::new("", "v1", "configmaps", "ConfigMap", true).with_short("cm"),
        Resource::new("", "v1", "secrets", "Secret", true),
        Resource::new("", "v1", "serviceaccounts", "ServiceAccount", true).with_short("sa"),
        Resource::new("", "v1", "limitranges", "LimitRange", true).with_short("limits"),
        Resource::new("", "v1", "resourcequotas", "ResourceQuota", true).with_short("quota"),
        Resource::new(
            "",
            "v1",
            "replicationcontrollers",
            "ReplicationController",
            true,
        )
        .with_short("rc"),
        Resource::new("", "v1", "podtemplates", "PodTemplate", true),
        Resource::new("", "v1", "nodes", "Node", false).with_short("no"),
        Resource::new("", "v1", "events", "Event", true).with_short("ev"),
        Resource::new("events.k8s.io", "v1", "events", "Event", true).with_short("ev"),
        Resource::new("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", true),
        Resource::new("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", false),
        Resource::new("apps", "v1", "deployments", "Deployment", true).with_short("deploy"),
        Resource::new("apps", "v1", "statefulsets", "StatefulSet", true).with_short("sts"),
        Resource::new("apps", "v1", "daemonsets", "DaemonSet", true).with_short("ds"),
        Resource::new("apps", "v1", "replicasets", "ReplicaSet", true).with_short("rs"),
        Resource::new("batch", "v1", "jobs", "Job", true),
        Resource::new("batch", "v1", "cronjobs", "CronJob", true).with_short("cj"),
        Resource::new(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
        )
        .with_short("hpa"),
        Resource::new(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
        )
        .with_short("netpol"),
        Resource::new("networking.k8s.io", "v1", "ingresses", "Ingress", true).with_short("ing"),
        Resource::new("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
        Resource::new(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
        ),
        Resource::new(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
        ),
        Resource::new(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
        ),
    ]
}

/// A change, as a watch sends it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    /// Index into the resources.
    pub resource: usize,
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

/// The key of an object inside its resource: (namespace, name), `""` for cluster-scoped ones.
pub(crate) type Key = (String, String);

/// An object's versions, oldest first, by revision; `None` is a deletion.
type Versions = Vec<(u64, Option<Value>)>;

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub resources: Vec<Resource>,
    /// The current revision (the last write's).
    pub rv: u64,
    /// Revisions at or below this one are compacted: lists and watches from them are `410`.
    pub compacted: u64,
    /// Per resource, per key: the versions, oldest first; `None` is a deletion.
    versions: Vec<BTreeMap<Key, Versions>>,
    /// Every event after `compacted`, in revision order.
    pub events: Vec<Event>,
    uid_counter: u64,
}

impl Store {
    pub fn new(resources: Vec<Resource>) -> Self {
        Store {
            versions: vec![BTreeMap::new(); resources.len()],
            resources,
            // etcd starts at revision 1; objects get larger ones.
            rv: 1,
            ..Default::default()
        }
    }

    pub fn resource_of(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.api_version() == api_version && r.kind == kind)
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.group == group && r.version == version && r.plural == plural)
    }

    fn key_of(&self, resource: usize, object: &Value) -> Result<Key, Error> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or(Error::NoName)?;
        let namespace = if self.resources[resource].namespaced {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("default")
        } else {
            ""
        };
        Ok((namespace.to_string(), name.to_string()))
    }

    fn resource_for(&self, object: &Value) -> Result<usize, Error> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        self.resource_of(api_version, kind)
            .ok_or_else(|| Error::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
            })
    }

    /// The current version of an object.
    pub fn current(&self, resource: usize, key: &Key) -> Option<&Value> {
        self.at(resource, key, self.rv)
    }

    /// The version of an object at revision `rv`.
    pub fn at(&self, resource: usize, key: &Key, rv: u64) -> Option<&Value> {
        let versions = self.versions[resource].get(key)?;
        versions
            .iter()
            .rev()
            .find(|(r, _)| *r <= rv)
            .and_then(|(_, v)| v.as_ref())
    }

    /// Creates or replaces an object (`upsert`); returns it as stored and the event.
    pub fn write(&mut self, mut object: Value, create_only: bool) -> Result<Event, Error> {
        let resource = self.resource_for(&object)?;
        let key = self.key_of(resource, &object)?;
        let existing = self.current(resource, &key).cloned();
        if create_only && existing.is_some() {
            return Err(Error::Exists(format!("{}/{}", key.0, key.1)));
        }
        self.rv += 1;
        let rv = self.rv;
        let meta = object
            .as_object_mut()
            .ok_or(Error::NoName)?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        let meta = meta.as_object_mut().ok_or(Error::NoName)?;
        if self.resources[resource].namespaced {
            meta.insert("namespace".into(), Value::String(key.0.clone()));
        } else {
            meta.remove("namespace");
        }
        let old_meta = existing.as_ref().and_then(|e| e.get("metadata"));
        for field in ["uid", "creationTimestamp"] {
            if let Some(v) = old_meta.and_then(|m| m.get(field)) {
                meta.insert(field.into(), v.clone());
            }
        }
        if !meta.contains_key("uid") {
            self.uid_counter += 1;
            meta.insert(
                "uid".into(),
                Value::String(format!("00000000-0000-4000-8000-{:012x}", self.uid_counter)),
            );
        }
        meta.entry("creationTimestamp")
            .or_insert_with(|| Value::String("2026-11-30T00:00:00Z".into()));
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        let kind = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.versions[resource]
            .entry(key)
            .or_default()
            .push((rv, Some(object.clone())));
        let event = Event {
            rv,
            resource,
            kind,
            object,
        };
        self.events.push(event.clone());
        Ok(event)
    }

    /// Deletes an object; the event carries its last state at the deletion's revision.
    pub fn delete(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Event, Error> {
        let resource = self
            .resource_of(api_version, kind)
            .ok_or_else(|| Error::UnknownKind {
                api_version: api_version.into(),
                kind: kind.into(),
            })?;
        let namespace = if self.resources[resource].namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        let key = (namespace.to_string(), name.to_string());
        let mut last = self
            .current(resource, &key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("{kind} {namespace}/{name}")))?;
        self.rv += 1;
        let rv = self.rv;
        last["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        self.versions[resource]
            .get_mut(&key)
            .expect("the object exists")
            .push((rv, None));
        let event = Event {
            rv,
            resource,
            kind: "DELETED",
            object: last,
        };
        self.events.push(event.clone());
        Ok(event)
    }

    /// Forgets history up to the current revision, as etcd compaction does: lists at older
    /// revisions and watches from them get `410 Gone`.
    pub fn compact(&mut self) {
        self.compacted = self.rv;
        self.events.clear();
        for per_resource in &mut self.versions {
            per_resource.retain(|_, versions| {
                let keep_from = versions
                    .iter()
                    .rposition(|(r, _)| *r <= self.rv)
                    .unwrap_or(0);
                versions.drain(..keep_from);
                versions.last().is_some_and(|(_, v)| v.is_some())
            });
        }
    }

    /// The objects of a resource at revision `rv`, in key order, from `start`, in
    /// `namespace` if given, that `keep` accepts.
    pub fn list_at<'a>(
        &'a self,
        resource: usize,
        rv: u64,
        namespace: Option<&'a str>,
        start: std::ops::Bound<Key>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.versions[resource]
            .range((start, std::ops::Bound::Unbounded))
            .filter(move |(k, _)| namespace.is_none_or(|ns| k.0 == ns))
            .filter_map(move |(k, versions)| {
                versions
                    .iter()
                    .rev()
                    .find(|(r, _)| *r <= rv)
                    .and_then(|(_, v)| v.as_ref())
                    .map(|v| (k, v))
            })
    }
}
