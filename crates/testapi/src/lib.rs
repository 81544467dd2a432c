//! A Kubernetes API server for tests: the real paths and JSON of kube-apiserver, served over
//! loopback HTTPS from objects that tests create, update and delete while clients list and
//! watch.
//!
//! What it implements, and where upstream defines it:
//!
//! - discovery: `/api` (`APIVersions`), `/apis` (`APIGroupList`), `/apis/<group>`
//!   (`APIGroup`), `/api/v1` and `/apis/<group>/<version>` (`APIResourceList`), `/version`.
//!   Only the legacy (unaggregated) documents are served, with `Content-Type:
//!   application/json`; clients that ask for aggregated discovery (kubectl, client-go) fall back
//!   to them, as they do against a server without it.
//! - list with `limit`/`continue` and `resourceVersion`/`resourceVersionMatch`
//!   (k8s.io/apiserver/pkg/storage/etcd3/store.go `GetList`): items in key order
//!   (namespace, name), a continue token of the upstream shape (base64url of
//!   `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`, storage/continue.go), `remainingItemCount`,
//!   and every page read at the first page's revision (objects keep their history, so a page
//!   never shows a change made after the first one). A token older than the compacted
//!   revision is `410 Expired` with upstream's message.
//! - watch (`watch=true`): synthetic `ADDED` events for the current state when no
//!   resourceVersion (or `0`) is given, otherwise the events after it; `410` as an `ERROR`
//!   event when it is older than the compacted revision (the watch cache's "too old resource
//!   version"); `BOOKMARK` events when `allowWatchBookmarks=true`; `timeoutSeconds`.
//! - errors as `metav1.Status` (`403`, `404`, `405`, `410`, `429` with `Retry-After`, `500`,
//!   `503`, `504`).
//! - metadata-only responses for `Accept: application/json;as=PartialObjectMetadataList;
//!   g=meta.k8s.io;v=v1` (lists) and `as=PartialObjectMetadata` (watch events).
//! - writes to one object: `PATCH` as server-side apply (`application/apply-patch+yaml` with a
//!   JSON body; `fieldManager` required, `422` without; another patch type is `415`), which
//!   creates the object (`201`) or gives the applier every field (`200`: exact for a single field
//!   manager applying with `force`; managed fields are not tracked), and `DELETE` (`200` with the
//!   object, `404`). Watchers see the events. Held against `kubectl apply --server-side`.
//! - bearer-token authentication when a token is set (`401` otherwise).
//! - faults for tests: a kind forbidden, a status on some requests (429 or 5xx mid-pagination),
//!   an expired continue token.
//!
//! Every request is recorded ([`TestApi::requests`]) so tests can assert what a client asked.

mod server;
mod store;

pub mod generate;
pub mod registry;

pub use server::{Fault, FaultOn, TestApi, TestApiBuilder};
pub use store::{Resource, default_resources};

/// Errors of the test server's own API (not HTTP responses).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no resource serves {api_version} {kind}")]
    UnknownKind { api_version: String, kind: String },
    #[error("the object has no metadata.name")]
    NoName,
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}
