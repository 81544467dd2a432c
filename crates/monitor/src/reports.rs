//! PolicyReports kept in the cluster (`--policy-reports`, off by default): the open findings of
//! the history, as `kubevigil scan -o policyreport` (or `-o openreports`) writes them (one
//! report named `kubevigil` per namespace with findings, one cluster-wide report), written by
//! server-side apply with the field manager `kubevigil` whenever the open findings change, at
//! most every `interval`. A report whose namespace has no open finding left is deleted, also
//! one left by an earlier run (found by its label `app.kubernetes.io/managed-by=kubevigil`).
//! Results are capped per report (`max_results`, and 1 MiB), so a report always fits in etcd.
//!
//! The report kinds are custom resources (installed with Kyverno or Policy Reporter for
//! `wgpolicyk8s.io`, with the openreports CRDs for `openreports.io`): when the cluster does not
//! serve them, the monitor says so in its log and tries again at the next change.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kubevigil_model::{Finding, Location};
use kubevigil_report::policyreport::{Flavor, Options, REPORT_NAME, build};
use kubevigil_report::{Report, RuleInfo};
use kubevigil_store::{FindingRecord, HistoryStore, SqliteStore};
use sha2::{Digest, Sha256};

/// The field manager of every report kubevigil applies.
pub const FIELD_MANAGER: &str = "kubevigil";

#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub flavor: Flavor,
    /// Most results per report (`--max-report-results`).
    pub max_results: usize,
    /// Least time between two writes.
    pub interval: Duration,
}

fn api_resource(flavor: Flavor, cluster: bool) -> ApiResource {
    let (group, version) = flavor
        .api_version()
        .split_once('/')
        .expect("report API versions have a group");
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: flavor.api_version().into(),
        kind: flavor.kind(cluster).into(),
        plural: flavor.plural(cluster).into(),
    }
}

/// Where a report goes: its namespace, `None` for the cluster-wide one.
type Scope = Option<String>;

fn api(client: &kube::Client, flavor: Flavor, scope: &Scope) -> Api<DynamicObject> {
    match scope {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &api_resource(flavor, false)),
        None => Api::all_with(client.clone(), &api_resource(flavor, true)),
    }
}

/// A finding as the history keeps it, back as a finding (its check's texts from the catalogue).
fn finding_of(r: FindingRecord) -> Finding {
    Finding {
        check_id: Cow::Owned(r.check_id),
        severity: r.severity,
        title: Cow::Owned(r.title),
        message: r.message,
        object: Arc::new(r.object),
        location: Location::field_only(r.field_path),
        remediation: Cow::Borrowed(""),
        references: Cow::Borrowed(&[]),
        fingerprint: r.fingerprint,
    }
}

/// The report objects for `findings`: the namespaces' and the cluster-wide one.
pub fn reports(
    findings: &[Finding],
    opts: &ReportOptions,
    timestamp_secs: i64,
) -> Vec<serde_json::Value> {
    let rules: Vec<RuleInfo> = kubevigil_checks::catalog()
        .into_iter()
        .map(|m| RuleInfo::of(m, m.category.as_str()))
        .collect();
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        rules: &rules,
        findings,
        suppressed: &[],
        diagnostics: &[],
        objects: &[],
    };
    let options = Options {
        flavor: opts.flavor,
        max_results: opts.max_results,
        timestamp_secs,
    };
    build(&report, &options).0
}

/// The open findings of the history and a digest of what the reports show of them.
fn open_findings(db: &std::path::Path) -> Result<(Vec<Finding>, [u8; 32]), String> {
    let store = SqliteStore::open_read_only(db).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    let mut digest = Sha256::new();
    store
        .open_findings(&mut |r| {
            for part in [
                &r.fingerprint,
                r.severity.as_str(),
                &r.message,
                &r.field_path,
            ] {
                digest.update(part.as_bytes());
                digest.update([0]);
            }
            found.push(finding_of(r));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    Ok((found, digest.finalize().into()))
}

/// Keeps the reports up to date until the task is dropped.
pub async fn run(client: kube::Client, state_dir: PathBuf, opts: ReportOptions) {
    let db = state_dir.join(kubevigil_store::DB_FILE);
    // Reports written (by this run, or found from an earlier one), by scope.
    let mut written: Option<BTreeSet<Scope>> = None;
    let mut shown: Option<[u8; 32]> = None;
    let mut last_error = String::new();
    loop {
        match sync(&client, &db, &opts, &mut written, &mut shown).await {
            Ok(()) => last_error.clear(),
            Err(e) => {
                if e != last_error {
                    tracing::warn!(error = %kubevigil_model::Escaped(&e), "policy reports not written; retrying");
                    last_error = e;
                }
                // Everything is written again at the next try.
                shown = None;
            }
        }
        tokio::time::sleep(opts.interval).await;
    }
}

/// Writes the reports if the open findings changed since the last write, and deletes those of
/// scopes left without findings.
async fn sync(
    client: &kube::Client,
    db: &std::path::Path,
    opts: &ReportOptions,
    written: &mut Option<BTreeSet<Scope>>,
    shown: &mut Option<[u8; 32]>,
) -> Result<(), String> {
    let db_path = db.to_path_buf();
    let (findings, digest) = tokio::task::spawn_blocking(move || open_findings(&db_path))
        .await
        .map_err(|e| e.to_string())??;
    if *shown == Some(digest) {
        return Ok(());
    }
    if written.is_none() {
        *written = Some(existing(client, opts.flavor).await?);
    }
    let now = kubevigil_store::now_ms() / 1000;
    let docs = reports(&findings, opts, now);
    let mut now_written = BTreeSet::new();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for doc in docs {
        let scope: Scope = doc["metadata"]["namespace"].as_str().map(String::from);
        let object: DynamicObject = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        api(client, opts.flavor, &scope)
            .patch(REPORT_NAME, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| {
                format!(
                    "applying {} {REPORT_NAME} in {}: {e}",
                    opts.flavor.kind(scope.is_none()),
                    scope.as_deref().unwrap_or("the cluster")
                )
            })?;
        now_written.insert(scope);
    }
    let stale: Vec<Scope> = written
        .as_ref()
        .map(|w| w.difference(&now_written).cloned().collect())
        .unwrap_or_default();
    for scope in stale {
        match api(client, opts.flavor, &scope)
            .delete(REPORT_NAME, &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(format!(
                    "deleting {} {REPORT_NAME}: {e}",
                    opts.flavor.kind(scope.is_none())
                ));
            }
        }
    }
    *written = Some(now_written);
    *shown = Some(digest);
    Ok(())
}

/// The reports an earlier run left (by their label and name), so that those of scopes without
/// findings now are deleted.
async fn existing(client: &kube::Client, flavor: Flavor) -> Result<BTreeSet<Scope>, String> {
    let params = ListParams::default().labels("app.kubernetes.io/managed-by=kubevigil");
    let mut found = BTreeSet::new();
    let namespaced: Api<DynamicObject> =
        Api::all_with(client.clone(), &api_resource(flavor, false));
    for o in namespaced
        .list(&params)
        .await
        .map_err(|e| format!("listing {}: {e}", flavor.plural(false)))?
    {
        if o.metadata.name.as_deref() == Some(REPORT_NAME) {
            found.insert(o.metadata.namespace.clone());
        }
    }
    let cluster: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(flavor, true));
    for o in cluster
        .list(&params)
        .await
        .map_err(|e| format!("listing {}: {e}", flavor.plural(true)))?
    {
        if o.metadata.name.as_deref() == Some(REPORT_NAME) {
            found.insert(None);
        }
    }
    Ok(found)
}
