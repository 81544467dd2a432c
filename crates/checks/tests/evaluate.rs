//! The monitor's core loop: changing one Deployment evaluates again only the object checks that
//! read Deployments, on that Deployment, and the cluster checks that read Deployments; deleting
//! it resolves its findings.

use std::collections::HashMap;
use std::sync::Mutex;

use kubevigil_checks::{Check, Config, Emitter, Evaluator, RuleMeta, Scope, registry};
use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{Change, Object, Objects};

/// A built-in check that counts its invocations.
struct Counting<'a> {
    inner: &'static dyn Check<Config>,
    calls: &'a Mutex<HashMap<&'static str, usize>>,
}

impl Counting<'_> {
    fn count(&self) {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(self.inner.meta().id)
            .or_default() += 1;
    }
}

impl Check<Config> for Counting<'_> {
    fn meta(&self) -> &'static RuleMeta {
        self.inner.meta()
    }
    fn scope(&self) -> Scope {
        self.inner.scope()
    }
    fn reads(&self, kind: &str) -> bool {
        self.inner.reads(kind)
    }
    fn check_object(&self, config: &Config, object: &Object, out: &mut Emitter) {
        self.count();
        self.inner.check_object(config, object, out)
    }
    fn check_cluster(&self, config: &Config, objects: &dyn Objects, out: &mut Emitter) {
        self.count();
        self.inner.check_cluster(config, objects, out)
    }
}

fn objects(text: &str) -> Vec<Object> {
    let mut loaded = Loaded::default();
    load_text_into("shop.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.inventory.objects
}

const SHOP: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: production}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: nginx}
";

fn web(image: &str) -> Object {
    let text = SHOP.split("---").last().unwrap();
    objects(&text.replace("image: nginx", &format!("image: {image}")))
        .pop()
        .unwrap()
}

#[test]
fn one_changed_deployment_evaluates_only_what_reads_deployments() {
    let calls = Mutex::new(HashMap::new());
    let counting: Vec<Counting> = registry()
        .iter()
        .map(|&inner| Counting {
            inner,
            calls: &calls,
        })
        .collect();
    let checks: Vec<&dyn Check<Config>> = counting.iter().map(|c| c as _).collect();
    let mut evaluator = Evaluator::new(Config::default(), &checks);

    let first = evaluator.apply(objects(SHOP).into_iter().map(Change::Upsert));
    assert!(first.resolved.is_empty());
    let tag_latest = |f: &kubevigil_model::Finding| f.check_id == "image-tag-latest";
    assert!(first.new.iter().any(tag_latest), "{:#?}", first.new);
    assert!(first.new.iter().any(|f| f.check_id == "service-nodeport"));
    let total = evaluator.findings().count();
    assert_eq!(total, first.new.len());

    // Pin the image: only what reads Deployments runs again, once each.
    calls.lock().unwrap().clear();
    let pinned = web(&format!("nginx:1.27@sha256:{}", "a".repeat(64)));
    let diff = evaluator.apply([Change::Upsert(pinned)]);
    let want: HashMap<&str, usize> = registry()
        .iter()
        .filter(|c| c.reads("Deployment"))
        .map(|c| (c.meta().id, 1))
        .collect();
    assert_eq!(*calls.lock().unwrap(), want);
    assert!(!want.contains_key("service-nodeport"));
    assert!(!want.contains_key("configmap-credential"));
    assert!(
        want.contains_key("container-resources-missing"),
        "a cluster check"
    );
    assert!(diff.new.is_empty(), "{:#?}", diff.new);
    let resolved: Vec<&str> = diff.resolved.iter().map(|f| f.check_id.as_ref()).collect();
    assert!(resolved.contains(&"image-tag-latest"), "{resolved:?}");
    assert!(
        resolved.contains(&"image-not-pinned-by-digest"),
        "{resolved:?}"
    );
    assert!(diff.resolved.iter().all(|f| f.object.kind == "Deployment"));
    assert_eq!(evaluator.findings().count(), total - diff.resolved.len());

    // Delete it: every finding about it is resolved, the Service's stay.
    calls.lock().unwrap().clear();
    let key = web("nginx").key();
    let diff = evaluator.apply([Change::Delete(key)]);
    assert_eq!(
        *calls.lock().unwrap().get("service-nodeport").unwrap_or(&0),
        0
    );
    assert!(!diff.resolved.is_empty());
    assert!(diff.resolved.iter().all(|f| f.object.kind == "Deployment"));
    assert!(evaluator.findings().all(|f| f.object.kind != "Deployment"));
    assert!(
        evaluator
            .findings()
            .any(|f| f.check_id == "service-nodeport")
    );
    assert_eq!(evaluator.store().len(), 3);

    // Changed twice in one batch: evaluated once, on its final state (the pinned image).
    calls.lock().unwrap().clear();
    let diff = evaluator.apply([
        Change::Upsert(web("nginx")),
        Change::Upsert(web(&format!("nginx:1.27@sha256:{}", "a".repeat(64)))),
    ]);
    assert_eq!(*calls.lock().unwrap(), want);
    assert!(!diff.new.iter().any(tag_latest), "{:#?}", diff.new);
    assert!(diff.resolved.is_empty());
}

/// The monitor's evaluator reads its keyed store (cluster checks included, with no copy of the
/// objects) and finds exactly what a batch scan of the same objects finds.
#[test]
fn evaluator_on_its_store_agrees_with_a_batch_scan() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/insecure");
    let loaded = kubevigil_model::load_paths(&[dir], &LoadOptions::default());
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let keys: std::collections::HashSet<_> =
        loaded.inventory.objects.iter().map(Object::key).collect();
    assert_eq!(
        keys.len(),
        loaded.inventory.objects.len(),
        "no duplicate keys"
    );
    let checks = registry();
    let batch = kubevigil_checks::scan::run_checks(&loaded.inventory, &Config::default(), checks);
    let mut evaluator = Evaluator::new(Config::default(), checks);
    evaluator.apply(loaded.inventory.objects.iter().cloned().map(Change::Upsert));
    let fingerprints = |it: &mut dyn Iterator<Item = &kubevigil_model::Finding>| {
        let mut v: Vec<String> = it
            .map(|f| format!("{} {}", f.check_id, f.fingerprint))
            .collect();
        v.sort();
        v
    };
    let from_store = fingerprints(&mut evaluator.findings());
    assert_eq!(from_store, fingerprints(&mut batch.iter()));
    let cluster_scope: Vec<&str> = checks
        .iter()
        .filter(|c| c.scope() == Scope::Cluster)
        .map(|c| c.meta().id)
        .collect();
    assert!(
        from_store.iter().any(|f| cluster_scope
            .iter()
            .any(|id| f.starts_with(&format!("{id} ")))),
        "the examples exercise a cluster-scope check: {cluster_scope:?}"
    );
}

/// The NetworkPolicy findings' ids, from the engine that defines them.
fn is_netpol(f: &kubevigil_model::Finding) -> bool {
    kubevigil_netpol::findings::kind(&f.check_id).is_some()
}

fn sorted_fingerprints<'f>(
    findings: impl Iterator<Item = &'f kubevigil_model::Finding>,
) -> Vec<String> {
    let mut v: Vec<String> = findings
        .map(|f| format!("{} {}", f.check_id, f.fingerprint))
        .collect();
    v.sort();
    v
}

/// The evaluator carries the NetworkPolicy findings: on each example, from its keyed store, it
/// finds exactly what the batch scan's shared analysis (`engine_findings`) finds, and removing
/// the hardened example's policies brings findings to both alike.
#[test]
fn evaluator_finds_the_networkpolicy_findings_of_a_batch_scan() {
    let config = Config::default();
    let checks = kubevigil_checks::evaluator_checks();
    for example in ["insecure", "hardened"] {
        let dir = format!("{}/../../examples/{example}", env!("CARGO_MANIFEST_DIR"));
        let loaded = kubevigil_model::load_paths(&[&dir], &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let (engines, _) = kubevigil_checks::engine_findings(&loaded.inventory, &config);
        let batch = sorted_fingerprints(engines.iter().filter(|f| is_netpol(f)));
        // The hardened example has none: its policies are what the insecure one lacks.
        assert_eq!(
            batch.is_empty(),
            example == "hardened",
            "{example}: {batch:?}"
        );
        assert_eq!(
            batch,
            sorted_fingerprints(
                kubevigil_netpol::findings::findings_of(&loaded.inventory, None).iter()
            )
        );
        let mut evaluator = Evaluator::new(Config::default(), &checks);
        evaluator.apply(loaded.inventory.objects.iter().cloned().map(Change::Upsert));
        let from_store = sorted_fingerprints(evaluator.findings().filter(|f| is_netpol(f)));
        assert_eq!(from_store, batch, "{example}");

        let (policies, rest): (Vec<Object>, Vec<Object>) = loaded
            .inventory
            .objects
            .iter()
            .cloned()
            .partition(|o| o.kind == "NetworkPolicy");
        let diff = evaluator.apply(policies.iter().map(|o| Change::Delete(o.key())));
        let rest = kubevigil_model::Inventory { objects: rest };
        let batch =
            sorted_fingerprints(kubevigil_netpol::findings::findings_of(&rest, None).iter());
        assert_eq!(
            sorted_fingerprints(evaluator.findings().filter(|f| is_netpol(f))),
            batch,
            "{example} without its NetworkPolicies"
        );
        if example == "hardened" {
            assert!(diff.new.iter().any(is_netpol), "{:#?}", diff.new);
        }
    }
}

const SELECT_WEB: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
";

/// A NetworkPolicy that selects the unselected Deployment resolves its
/// `netpol-workload-not-selected` finding, every NetworkPolicy check running once; deleting the
/// policy brings the finding back; a changed ConfigMap runs no NetworkPolicy check.
#[test]
fn a_networkpolicy_change_evaluates_the_networkpolicy_checks_again() {
    const NOT_SELECTED: &str = "netpol-workload-not-selected";
    let calls = Mutex::new(HashMap::new());
    let counting: Vec<Counting> = kubevigil_checks::evaluator_checks()
        .into_iter()
        .map(|inner| Counting {
            inner,
            calls: &calls,
        })
        .collect();
    let checks: Vec<&dyn Check<Config>> = counting.iter().map(|c| c as _).collect();
    let mut evaluator = Evaluator::new(Config::default(), &checks);
    let netpol_calls =
        |calls: &Mutex<HashMap<&'static str, usize>>| -> HashMap<&'static str, usize> {
            calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(id, _)| kubevigil_netpol::findings::kind(id).is_some())
                .map(|(id, n)| (*id, *n))
                .collect()
        };
    let every_netpol_check_once: HashMap<&str, usize> = kubevigil_netpol::findings::kinds()
        .map(|k| (k.id, 1))
        .collect();

    let first = evaluator.apply(objects(SHOP).into_iter().map(Change::Upsert));
    let not_selected: Vec<String> = first
        .new
        .iter()
        .filter(|f| f.check_id == NOT_SELECTED && f.object.name == "web")
        .map(|f| f.fingerprint.clone())
        .collect();
    assert_eq!(not_selected.len(), 1, "{:#?}", first.new);
    let before = sorted_fingerprints(evaluator.findings().filter(|f| is_netpol(f)));

    calls.lock().unwrap().clear();
    let policy = objects(SELECT_WEB).pop().unwrap();
    let diff = evaluator.apply([Change::Upsert(policy.clone())]);
    assert_eq!(netpol_calls(&calls), every_netpol_check_once);
    let resolved: Vec<&str> = diff
        .resolved
        .iter()
        .filter(|f| f.check_id == NOT_SELECTED)
        .map(|f| f.fingerprint.as_str())
        .collect();
    assert_eq!(resolved, not_selected, "{:#?}", diff.resolved);
    assert!(!evaluator.findings().any(|f| f.check_id == NOT_SELECTED));

    calls.lock().unwrap().clear();
    let diff = evaluator.apply([Change::Delete(policy.key())]);
    assert_eq!(netpol_calls(&calls), every_netpol_check_once);
    let back: Vec<&str> = diff
        .new
        .iter()
        .filter(|f| f.check_id == NOT_SELECTED)
        .map(|f| f.fingerprint.as_str())
        .collect();
    assert_eq!(back, not_selected, "{:#?}", diff.new);
    assert_eq!(
        sorted_fingerprints(evaluator.findings().filter(|f| is_netpol(f))),
        before
    );

    calls.lock().unwrap().clear();
    let settings = SHOP
        .split("---")
        .find(|d| d.contains("kind: ConfigMap"))
        .unwrap();
    let changed = objects(&settings.replace("production", "staging"))
        .pop()
        .unwrap();
    let diff = evaluator.apply([Change::Upsert(changed)]);
    assert_eq!(netpol_calls(&calls), HashMap::new());
    assert!(!diff.new.iter().chain(&diff.resolved).any(is_netpol));
}
