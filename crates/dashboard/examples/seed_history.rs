//! Writes a history for the dashboard benchmark (`bench/dashboard.sh`): `N` findings over 50
//! namespaces and every built-in check, recorded by a week of daily evaluations in which a tenth
//! of them resolve and come back, and 1,000 alerts.
//!
//! Usage: `seed_history STATE_DIR N`

use std::borrow::Cow;
use std::sync::Arc;

use kubevigil_model::{Finding, Location, ObjectRef};
use kubevigil_store::{HistoryStore, Run, Scope, SqliteStore};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (
        args.next(),
        args.next().and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed_history STATE_DIR N");
        std::process::exit(2);
    };
    let checks = kubevigil_checks::catalog();
    let findings: Vec<Finding> = (0..n)
        .map(|i| {
            let meta = checks[i % checks.len()];
            Finding {
                check_id: Cow::Borrowed(meta.id),
                severity: meta.severity,
                title: Cow::Borrowed(meta.title),
                message: format!("workload app-{} breaks {}", i / 5, meta.id),
                object: Arc::new(ObjectRef {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    namespace: Some(format!("ns-{}", i % 50)),
                    name: format!("app-{}", i / 5),
                }),
                location: Location::field_only("spec.template.spec.containers[0]".into()),
                remediation: Cow::Borrowed(""),
                references: Cow::Borrowed(&[]),
                fingerprint: format!("{i:032x}"),
            }
        })
        .collect();
    let mut store = SqliteStore::open_dir(std::path::Path::new(&dir)).expect("state directory");
    let now = kubevigil_store::now_ms();
    let day = 86_400_000;
    let all = Scope::everything();
    for d in (0..7).rev() {
        // On odd days a tenth of the findings are fixed; they come back the next day.
        let found: Vec<Finding> = findings
            .iter()
            .enumerate()
            .filter(|(i, _)| d % 2 == 0 || i % 10 != 0)
            .map(|(_, f)| f.clone())
            .collect();
        store
            .record_run(&Run {
                time_ms: now - d * day,
                scope: &all,
                complete: true,
                findings: &found,
            })
            .expect("recording a run");
    }
    for a in 0..1000i64 {
        let alert = kubevigil_detect::DetectionAlert {
            rule: format!("rule-{}", a % 20),
            title: format!("Rule {}", a % 20),
            dedup_key: format!("{a:064x}"),
            first_seen: Some(now - a * 60_000),
            last_seen: Some(now - a * 60_000),
            count: (a % 7 + 1) as u64,
            events: vec![serde_json::json!({
                "verb": "get",
                "user": {"username": format!("user-{}", a % 30)},
                "objectRef": {"resource": "secrets", "namespace": format!("ns-{}", a % 50), "name": "db"}
            }).into()],
            ..Default::default()
        };
        store.record_alert(&alert, now).expect("recording an alert");
    }
}
