//! kubevigil-monitor: what `kubevigil monitor` runs, as a library.
//!
//! * [`spool`]: audit events on disk before they are acknowledged, until detection has
//!   processed them.
//! * [`follow`]: `--audit-log` files followed across rotation into the spool.
//! * [`intake`]: the `EventList` bodies of kube-apiserver's audit webhook backend.
//! * [`falco`]: Falco's alerts (`POST /falco`), enriched from the inventory.
//! * [`hubble`]: Hubble's flows (`POST /hubble`), judged against the watched NetworkPolicies.
//! * [`detection`]: the spool as an event source of the detection engine, committed behind it.
//! * [`pod_logs`]: the selected pods' logs followed live, again from their last line when a stream ends.
//! * [`posture`]: the cluster read and evaluated again and again, findings' transitions told.
//! * [`reports`]: PolicyReports kept in the cluster (`--policy-reports`).
//! * [`resources`]: the metrics API polled, pods hogging and quotas near their limit told.
//! * [`images`]: the cluster's images scanned for vulnerabilities, and again when they or the
//!   vulnerability database change.
//! * [`refresh`]: open findings sent again to Alertmanager, so that they stay firing there.
//! * [`server`]: `POST /audit`, `/metrics`, `/healthz`, `/readyz`, and the pipeline running.
//! * [`dashboard`]: the dashboard's pages over HTTP, read-only, optionally authenticated.
//! * [`manifests`]: the objects that run the monitor in a cluster, and kube-apiserver's audit
//!   webhook kubeconfig and policy.

#![forbid(unsafe_code)]

pub mod dashboard;
pub mod detection;
pub mod falco;
pub mod follow;
pub mod hubble;
pub mod images;
pub mod intake;
pub mod manifests;
pub mod pod_logs;
pub mod posture;
pub mod refresh;
pub mod reports;
pub mod resources;
pub mod server;
pub mod spool;
