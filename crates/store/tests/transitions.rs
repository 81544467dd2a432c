//! What a run changes (new, reopened, resolved), step by step, per scope; restarts; retention.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use kubevigil_model::{Finding, Location, ObjectKey, ObjectRef, Severity};
use kubevigil_store::{
    Checks, HistoryQuery, HistoryStore, Objects, Run, Scope, SqliteStore, Transition, Transitions,
};

/// The findings of the cases, by fingerprint: (fingerprint, check, namespace, kind, name).
const FINDINGS: &[(&str, &str, Option<&str>, &str, &str)] = &[
    ("A", "privileged", Some("shop"), "Deployment", "web"),
    ("B", "image-latest", Some("shop"), "Deployment", "web"),
    // A cluster-scope check's finding about the same object.
    ("C", "netpol-isolation", Some("shop"), "Deployment", "web"),
    ("D", "privileged", Some("shop"), "Deployment", "db"),
    ("E", "privileged", Some("other"), "Deployment", "api"),
    ("F", "rbac-admin", None, "ClusterRoleBinding", "admin"),
    // Same namespace, kind and name as web, another API group.
    ("G", "privileged", Some("shop"), "Widget", "web"),
];

fn finding(fp: &str) -> Finding {
    let &(_, check, ns, kind, name) = FINDINGS.iter().find(|f| f.0 == fp).unwrap();
    let api_version = match kind {
        "Deployment" => "apps/v1",
        "ClusterRoleBinding" => "rbac.authorization.k8s.io/v1",
        _ => "example.com/v1",
    };
    Finding {
        check_id: Cow::Owned(check.into()),
        severity: Severity::High,
        title: Cow::Owned(format!("{check} title")),
        message: format!("{kind} {name} fails {check}"),
        object: Arc::new(ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: ns.map(String::from),
            name: name.into(),
        }),
        location: Location::field_only("spec".into()),
        remediation: Cow::Borrowed(""),
        references: Cow::Borrowed(&[]),
        fingerprint: fp.into(),
    }
}

fn findings(fps: &str) -> Vec<Finding> {
    fps.split_whitespace().map(finding).collect()
}

/// A scope written as `all`, `ns:NS`, `obj:GROUP/KIND/NS/NAME`, then optionally
/// ` checks:a,b` (no checks part: every check).
fn scope(text: &str) -> Scope {
    let (objects, checks) = text.split_once(' ').unwrap_or((text, ""));
    let objects = if objects == "all" {
        Objects::All
    } else if let Some(ns) = objects.strip_prefix("ns:") {
        Objects::Namespace(ns.into())
    } else {
        let parts: Vec<&str> = objects.strip_prefix("obj:").unwrap().split('/').collect();
        Objects::Object(ObjectKey {
            group: parts[0].into(),
            kind: parts[1].into(),
            namespace: (!parts[2].is_empty()).then(|| parts[2].into()),
            name: parts[3].into(),
        })
    };
    let checks = match checks.strip_prefix("checks:") {
        Some(ids) => Checks::Only(
            ids.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<BTreeSet<_>>(),
        ),
        None => Checks::All,
    };
    Scope { objects, checks }
}

fn summary(t: &Transitions) -> String {
    let names = |v: &[kubevigil_store::FindingRecord]| {
        let mut n: Vec<&str> = v.iter().map(|f| f.fingerprint.as_str()).collect();
        n.sort();
        n.join(" ")
    };
    format!(
        "new [{}] reopened [{}] resolved [{}]",
        names(&t.new),
        names(&t.reopened),
        names(&t.resolved)
    )
}

/// One step: a run (scope, complete, findings) and what it must change.
struct Step {
    scope: &'static str,
    complete: bool,
    found: &'static str,
    expect: &'static str,
}

const fn step(scope: &'static str, found: &'static str, expect: &'static str) -> Step {
    Step {
        scope,
        complete: true,
        found,
        expect,
    }
}

const fn partial(scope: &'static str, found: &'static str, expect: &'static str) -> Step {
    Step {
        scope,
        complete: false,
        found,
        expect,
    }
}

const NOTHING: &str = "new [] reopened [] resolved []";

fn cases() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "a first run finds everything new",
            vec![step("all", "A B D", "new [A B D] reopened [] resolved []")],
        ),
        (
            "the same findings again change nothing",
            vec![
                step("all", "A B", "new [A B] reopened [] resolved []"),
                step("all", "B A", NOTHING),
            ],
        ),
        (
            "absent from a complete run of everything: resolved",
            vec![
                step("all", "A B", "new [A B] reopened [] resolved []"),
                step("all", "A", "new [] reopened [] resolved [B]"),
                step("all", "A", NOTHING),
            ],
        ),
        (
            "an incomplete run resolves nothing, but still finds",
            vec![
                step("all", "A B", "new [A B] reopened [] resolved []"),
                partial("all", "D", "new [D] reopened [] resolved []"),
                step("all", "A B D", NOTHING),
            ],
        ),
        (
            "a resolved finding that comes back is reopened, then resolved again",
            vec![
                step("all", "A", "new [A] reopened [] resolved []"),
                step("all", "", "new [] reopened [] resolved [A]"),
                step("all", "A", "new [] reopened [A] resolved []"),
                step("all", "A", NOTHING),
                step("all", "", "new [] reopened [] resolved [A]"),
            ],
        ),
        (
            "an object's run resolves that object's findings only",
            vec![
                step("all", "A D E", "new [A D E] reopened [] resolved []"),
                step(
                    "obj:apps/Deployment/shop/web",
                    "",
                    "new [] reopened [] resolved [A]",
                ),
            ],
        ),
        (
            "an object's run resolves the findings of the checks that ran only",
            vec![
                step("all", "A B C", "new [A B C] reopened [] resolved []"),
                step(
                    "obj:apps/Deployment/shop/web checks:privileged,image-latest",
                    "B",
                    "new [] reopened [] resolved [A]",
                ),
                // C (a cluster-scope check) was not run: still open.
                step("all", "B C", NOTHING),
            ],
        ),
        (
            "an object's run with no check resolves nothing",
            vec![
                step("all", "A", "new [A] reopened [] resolved []"),
                step("obj:apps/Deployment/shop/web checks:", "", NOTHING),
            ],
        ),
        (
            "an object is its group too: another group's same kind and name is another object",
            vec![
                step("all", "A G", "new [A G] reopened [] resolved []"),
                step(
                    "obj:example.com/Widget/shop/web",
                    "",
                    "new [] reopened [] resolved [G]",
                ),
            ],
        ),
        (
            "a cluster-scope check run over everything resolves its own findings only",
            vec![
                step("all", "A C D", "new [A C D] reopened [] resolved []"),
                step(
                    "all checks:netpol-isolation",
                    "",
                    "new [] reopened [] resolved [C]",
                ),
            ],
        ),
        (
            "a namespace's run resolves that namespace only, not cluster-scoped objects",
            vec![
                step("all", "A E F", "new [A E F] reopened [] resolved []"),
                step("ns:shop", "", "new [] reopened [] resolved [A]"),
                step("ns:other", "E", NOTHING),
            ],
        ),
        (
            "a deleted object (its run finds nothing) then recreated: reopened",
            vec![
                step("all", "D", "new [D] reopened [] resolved []"),
                step(
                    "obj:apps/Deployment/shop/db",
                    "",
                    "new [] reopened [] resolved [D]",
                ),
                step(
                    "obj:apps/Deployment/shop/db",
                    "D",
                    "new [] reopened [D] resolved []",
                ),
            ],
        ),
        (
            "a finding twice in one run counts once",
            vec![step("all", "A A", "new [A] reopened [] resolved []")],
        ),
    ]
}

#[test]
fn transitions_per_scope() {
    for (name, steps) in cases() {
        let mut store = SqliteStore::open_in_memory().unwrap();
        for (i, s) in steps.iter().enumerate() {
            let scope = scope(s.scope);
            let found = findings(s.found);
            let t = store
                .record_run(&Run {
                    time_ms: 1_000 * (i as i64 + 1),
                    scope: &scope,
                    complete: s.complete,
                    findings: &found,
                })
                .unwrap();
            assert_eq!(summary(&t), s.expect, "{name}: step {}", i + 1);
        }
    }
}

#[test]
fn records_carry_times_and_the_findings_fields() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    let run = |store: &mut SqliteStore, t: i64, f: &[Finding]| {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: f,
            })
            .unwrap()
    };
    let a = findings("A");
    let t = run(&mut store, 10, &a);
    assert_eq!(t.new[0].first_seen, 10);
    assert_eq!(t.new[0].object.namespace.as_deref(), Some("shop"));
    run(&mut store, 20, &a);
    let held = store.finding("A").unwrap().unwrap();
    assert_eq!(
        (held.first_seen, held.last_seen, held.resolved_at),
        (10, 20, None)
    );
    assert_eq!(held.message, "Deployment web fails privileged");
    let t = run(&mut store, 30, &[]);
    assert_eq!(t.resolved[0].resolved_at, Some(30));
    assert_eq!(t.resolved[0].last_seen, 20);
    let t = run(&mut store, 40, &a);
    assert_eq!(
        (t.reopened[0].first_seen, t.reopened[0].reopened_at),
        (10, Some(40))
    );
    let held = store.finding("A").unwrap().unwrap();
    assert_eq!(
        (
            held.first_seen,
            held.last_seen,
            held.resolved_at,
            held.reopened_at
        ),
        (10, 40, None, Some(40))
    );
    // Every transition is in the history, oldest first.
    let mut seen = Vec::new();
    store
        .finding_history(&HistoryQuery::default(), &mut |e| {
            seen.push((e.time_ms, e.transition));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        seen,
        [
            (10, Transition::New),
            (30, Transition::Resolved),
            (40, Transition::Reopened)
        ]
    );
}

#[test]
fn a_restart_reports_nothing_already_known() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let all = Scope::everything();
    let record = |t: i64, fps: &str| {
        // A new process each time: the store is opened from the file again.
        let mut store = SqliteStore::open_dir(&state).unwrap();
        let found = findings(fps);
        summary(
            &store
                .record_run(&Run {
                    time_ms: t,
                    scope: &all,
                    complete: true,
                    findings: &found,
                })
                .unwrap(),
        )
    };
    assert_eq!(record(1, "A B"), "new [A B] reopened [] resolved []");
    assert_eq!(record(2, "A B"), NOTHING);
    assert_eq!(record(3, "A"), "new [] reopened [] resolved [B]");
    assert_eq!(record(4, "A"), NOTHING);
    assert_eq!(record(5, "A B"), "new [] reopened [B] resolved []");
    assert_eq!(record(6, "B A"), NOTHING);
    assert!(state.join(kubevigil_store::DB_FILE).is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700, "the state directory is private");
        assert_eq!(mode(&state.join(kubevigil_store::DB_FILE)), 0o600);
    }
}

#[test]
fn retention_prunes_resolved_findings_old_history_alerts_and_runs() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    let day = 86_400_000;
    let run = |store: &mut SqliteStore, t: i64, fps: &str| {
        let found = findings(fps);
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &found,
            })
            .unwrap()
    };
    run(&mut store, 0, "A B D");
    run(&mut store, 5 * day, "A D");
    run(&mut store, 100 * day, "A");
    let alert = |key: &str, t: i64| kubevigil_detect::DetectionAlert {
        rule: "r".into(),
        dedup_key: key.into(),
        first_seen: Some(t),
        last_seen: Some(t),
        ..Default::default()
    };
    store.record_alert(&alert("old", day), 0).unwrap();
    store.record_alert(&alert("new", 99 * day), 0).unwrap();

    // 90 days before day 100: B (resolved on day 5) goes; D (resolved on day 100) and A (open
    // since day 0) stay.
    let cutoff = 100 * day - kubevigil_store::DEFAULT_RETENTION_MS;
    let pruned = store.prune(cutoff).unwrap();
    assert_eq!(
        (pruned.findings, pruned.events, pruned.alerts, pruned.runs),
        (1, 4, 1, 2),
        "{pruned:?}"
    );
    assert!(store.finding("B").unwrap().is_none());
    assert!(store.finding("D").unwrap().is_some());
    assert!(store.finding("A").unwrap().unwrap().is_open());
    let mut alerts = Vec::new();
    store
        .alert_history(&HistoryQuery::default(), &mut |a| {
            alerts.push(a.dedup_key);
            Ok(())
        })
        .unwrap();
    assert_eq!(alerts, ["new"]);

    // A pruned finding that comes back is new again: its history is gone.
    let t = run(&mut store, 101 * day, "A B");
    assert_eq!(summary(&t), "new [B] reopened [] resolved []");
}

/// A finding's last run can be pruned while the finding stays open: the next run's id must
/// never be that one again, or the finding would count as seen by a run that did not see it.
#[test]
fn run_ids_are_not_reused_after_pruning() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    let a = findings("A");
    for (t, found, expect) in [
        (1, &a[..], "new [A] reopened [] resolved []"),
        (2, &[][..], "new [] reopened [] resolved [A]"),
    ] {
        let t = store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: found,
            })
            .unwrap();
        assert_eq!(summary(&t), expect);
        store.prune(i64::MAX).unwrap();
    }
}

#[test]
fn history_filters_by_time_and_namespace() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    for (t, fps) in [(1, "A E F"), (2, "E F"), (3, "E")] {
        let found = findings(fps);
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &found,
            })
            .unwrap();
    }
    let list = |since_ms: i64, namespace: Option<&str>| {
        let mut out = Vec::new();
        store
            .finding_history(
                &HistoryQuery {
                    since_ms,
                    namespace: namespace.map(String::from),
                },
                &mut |e| {
                    out.push(format!(
                        "{} {} {}",
                        e.time_ms,
                        e.transition.as_str(),
                        e.finding.fingerprint
                    ));
                    Ok(())
                },
            )
            .unwrap();
        out.join(", ")
    };
    assert_eq!(
        list(0, None),
        "1 new A, 1 new E, 1 new F, 2 resolved A, 3 resolved F"
    );
    assert_eq!(list(2, None), "2 resolved A, 3 resolved F");
    assert_eq!(list(0, Some("shop")), "1 new A, 2 resolved A");
    assert_eq!(list(0, Some("other")), "1 new E");
    assert_eq!(list(0, Some("nowhere")), "");
}

/// Changes seen between evaluations (the monitor's watches): what appeared is new, reopened or
/// already open; what is gone is resolved once; a complete run afterwards agrees.
#[test]
fn changes_between_evaluations() {
    use kubevigil_store::Changes;
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut record = |time_ms: i64, appeared: &str, gone: &str| {
        let (appeared, gone) = (findings(appeared), findings(gone));
        let t = store
            .record_changes(&Changes {
                time_ms,
                appeared: &appeared,
                gone: &gone,
            })
            .unwrap();
        summary(&t)
    };
    assert_eq!(record(1, "A B", ""), "new [A B] reopened [] resolved []");
    assert_eq!(record(2, "A", ""), NOTHING, "already open");
    assert_eq!(record(3, "D", "A"), "new [D] reopened [] resolved [A]");
    assert_eq!(record(4, "", "A"), NOTHING, "already resolved");
    assert_eq!(record(5, "", "E"), NOTHING, "never seen");
    assert_eq!(record(6, "A", "B"), "new [] reopened [A] resolved [B]");
    let a = store.finding("A").unwrap().unwrap();
    assert_eq!(
        (a.first_seen, a.reopened_at, a.resolved_at),
        (1, Some(6), None)
    );
    let b = store.finding("B").unwrap().unwrap();
    assert_eq!(b.resolved_at, Some(6));
    // Between evaluations, open findings are marked seen; resolved ones keep their last seen.
    assert_eq!(store.touch_open(6).unwrap(), 1, "D (A was seen at 6)");
    assert_eq!(store.touch_open(7).unwrap(), 2, "A and D");
    let a = store.finding("A").unwrap().unwrap();
    assert_eq!(a.last_seen, 7);
    assert_eq!(store.finding("B").unwrap().unwrap().last_seen, 1);
    // A complete evaluation then resolves what is open and not found, and nothing else.
    let scope = scope("all");
    let found = findings("A");
    let t = store
        .record_run(&Run {
            time_ms: 7,
            scope: &scope,
            complete: true,
            findings: &found,
        })
        .unwrap();
    assert_eq!(summary(&t), "new [] reopened [] resolved [D]");
    // Each change is in the history once.
    let mut events = Vec::new();
    store
        .finding_history(&HistoryQuery::default(), &mut |e| {
            events.push(format!(
                "{} {}",
                e.finding.fingerprint,
                e.transition.as_str()
            ));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        events,
        [
            "A new",
            "B new",
            "D new",
            "A resolved",
            "A reopened",
            "B resolved",
            "D resolved"
        ]
    );
}

#[test]
fn open_findings_are_those_not_resolved() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    let mut run = |t: i64, fps: &str| {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &findings(fps),
            })
            .unwrap();
    };
    run(10, "A B D");
    run(20, "A D");
    run(30, "A B D");
    run(40, "B D");
    let mut open = Vec::new();
    store
        .open_findings(&mut |f| {
            open.push((f.fingerprint, f.reopened_at));
            Ok(())
        })
        .unwrap();
    // A resolved at 40; B reopened at 30; D open since 10.
    assert_eq!(open, [("B".to_string(), Some(30)), ("D".to_string(), None)]);
}

/// The findings of one object, open or resolved; the same namespace, kind and name in another
/// API group is another object.
#[test]
fn findings_of_one_object() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    for (t, fps) in [(1, "A B C D F"), (2, "A C D F")] {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &findings(fps),
            })
            .unwrap();
    }
    let web = finding("A").object;
    let got: Vec<(String, bool)> = store
        .findings_of(&web)
        .unwrap()
        .into_iter()
        .map(|f| (f.fingerprint.clone(), f.is_open()))
        .collect();
    assert_eq!(
        got,
        [("A".into(), true), ("B".into(), false), ("C".into(), true)]
    );
    let admin = finding("F").object;
    assert_eq!(store.findings_of(&admin).unwrap().len(), 1);
    let mut widget = (*finding("G").object).clone();
    widget.api_version = "example.com/v1".into();
    assert!(store.findings_of(&widget).unwrap().is_empty());
}

/// Every transition with its time and the finding's severity, oldest first (the dashboard's
/// trend).
#[test]
fn transitions_in_time_order() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let all = Scope::everything();
    for (t, fps) in [(10, "A D"), (20, "A"), (30, "A D")] {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &findings(fps),
            })
            .unwrap();
    }
    let mut got = Vec::new();
    store
        .transitions(&mut |t, s, tr| got.push((t, s, tr.as_str())))
        .unwrap();
    let high = Severity::High;
    assert_eq!(
        got,
        [
            (10, high, "new"),
            (10, high, "new"),
            (20, high, "resolved"),
            (30, high, "reopened")
        ]
    );
}

/// What a run or a change records is told before it is committed (a reader does not see it
/// yet), so that a crash between the two tells it again instead of never.
#[test]
fn transitions_are_told_before_they_are_committed() {
    use kubevigil_store::Changes;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open_dir(dir.path()).unwrap();
    let reader = SqliteStore::open_read_only(&dir.path().join(kubevigil_store::DB_FILE)).unwrap();
    let committed = || {
        let mut n = 0;
        reader
            .finding_history(&HistoryQuery::default(), &mut |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
        n
    };
    let (all, found) = (Scope::everything(), findings("A B"));
    let mut told = Vec::new();
    let run = Run {
        time_ms: 1,
        scope: &all,
        complete: true,
        findings: &found,
    };
    store
        .record_run_then(&run, |t| told.push((summary(t), committed())))
        .unwrap();
    let (gone, none) = (findings("B"), findings(""));
    let changes = Changes {
        time_ms: 2,
        appeared: &none,
        gone: &gone,
    };
    store
        .record_changes_then(&changes, |t| told.push((summary(t), committed())))
        .unwrap();
    assert_eq!(
        told,
        [
            ("new [A B] reopened [] resolved []".to_string(), 0),
            ("new [] reopened [] resolved [B]".to_string(), 2),
        ]
    );
    assert_eq!(committed(), 3);
}
