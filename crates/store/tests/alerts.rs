//! Alerts by dedup key: new, repeats counted once, replays known.

use kubevigil_detect::DetectionAlert;
use kubevigil_store::{AlertSeen, HistoryQuery, HistoryStore, SqliteStore, StoreError};
use serde_json::json;

fn alert(first: i64, last: i64, count: u64, update: bool) -> DetectionAlert {
    DetectionAlert {
        rule: "k8s-secret-read".into(),
        title: "Secret read".into(),
        dedup_key: "ab".repeat(32),
        first_seen: Some(first),
        last_seen: Some(last),
        count,
        update,
        events: vec![
            json!({
                "user": {"username": "mallory"},
                "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"}
            })
            .into(),
        ],
        ..Default::default()
    }
}

fn held(store: &SqliteStore) -> Held {
    let mut out = Vec::new();
    store
        .alert_history(&HistoryQuery::default(), &mut |a| {
            out.push((a.count, a.first_seen, a.last_seen));
            Ok(())
        })
        .unwrap();
    assert_eq!(out.len(), 1, "one record per dedup key");
    out[0]
}

/// The count, first and last times held.
type Held = (u64, i64, i64);

/// Each step: the alert recorded, what the store says, and what it holds then.
#[test]
fn counts_and_knows_alerts_by_dedup_key() {
    let steps: &[(&str, DetectionAlert, AlertSeen, Held)] = &[
        (
            "first occurrence",
            alert(100, 100, 1, false),
            AlertSeen::New,
            (1, 100, 100),
        ),
        (
            "the same alert again (a replay)",
            alert(100, 100, 1, false),
            AlertSeen::Known,
            (1, 100, 100),
        ),
        // A stream's update carries the period's running count: 5 in all, not 6.
        (
            "its period's update",
            alert(100, 190, 5, true),
            AlertSeen::Repeat,
            (5, 100, 190),
        ),
        (
            "the update replayed",
            alert(100, 190, 5, true),
            AlertSeen::Known,
            (5, 100, 190),
        ),
        (
            "the first occurrence replayed",
            alert(100, 100, 1, false),
            AlertSeen::Known,
            (5, 100, 190),
        ),
        (
            "the next period",
            alert(500, 520, 3, false),
            AlertSeen::Repeat,
            (8, 100, 520),
        ),
        (
            "the next period's update",
            alert(500, 560, 4, true),
            AlertSeen::Repeat,
            (9, 100, 560),
        ),
        // An update of a period the store never saw (it began before a restart without a store).
        (
            "an unknown period's update",
            alert(900, 950, 2, true),
            AlertSeen::Repeat,
            (11, 100, 950),
        ),
    ];
    let mut store = SqliteStore::open_in_memory().unwrap();
    for (name, a, seen, expect) in steps {
        assert_eq!(store.record_alert(a, 0).unwrap(), *seen, "{name}");
        assert_eq!(held(&store), *expect, "{name}");
    }
    let mut namespace = None;
    store
        .alert_history(
            &HistoryQuery {
                since_ms: 0,
                namespace: Some("shop".into()),
            },
            &mut |a| {
                namespace = a.namespace.clone();
                assert_eq!(a.subject, "mallory");
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(namespace.as_deref(), Some("shop"));
}

#[test]
fn an_alert_without_times_is_recorded_at_now_and_one_without_key_refused() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut a = alert(0, 0, 1, false);
    a.first_seen = None;
    a.last_seen = None;
    assert_eq!(store.record_alert(&a, 42).unwrap(), AlertSeen::New);
    assert_eq!(held(&store), (1, 42, 42));
    a.dedup_key.clear();
    assert!(matches!(
        store.record_alert(&a, 42),
        Err(StoreError::NoDedupKey(_))
    ));
}

#[test]
fn alerts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = SqliteStore::open_dir(dir.path()).unwrap();
        assert_eq!(
            store.record_alert(&alert(100, 150, 2, false), 0).unwrap(),
            AlertSeen::New
        );
    }
    let mut store = SqliteStore::open_dir(dir.path()).unwrap();
    assert_eq!(
        store.record_alert(&alert(100, 150, 2, false), 0).unwrap(),
        AlertSeen::Known
    );
    assert_eq!(held(&store), (2, 100, 150));
}

/// An alert is committed only once it was told: telling it fails, the store does not know it
/// (it is told again when its events are read again); a known alert is not told.
#[test]
fn an_alert_is_known_only_once_told() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let a = alert(100, 150, 2, false);
    let failed = store.record_alert_then(&a, 0, |seen| {
        assert_eq!(seen, AlertSeen::New);
        Err(std::io::Error::other("output closed"))
    });
    assert!(matches!(failed, Err(StoreError::Io(_))), "{failed:?}");
    let (mut seen, mut told) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        seen.push(
            store
                .record_alert_then(&a, 0, |s| {
                    told.push(s);
                    Ok(())
                })
                .unwrap(),
        );
    }
    assert_eq!(seen, [AlertSeen::New, AlertSeen::Known]);
    assert_eq!(told, [AlertSeen::New]);
    assert_eq!(held(&store), (2, 100, 150));
}

/// Telling an alert (an output that may block) holds no lock on the history: another writer
/// (the posture loop, another source's detection) records meanwhile without waiting.
#[test]
fn an_alert_is_told_without_holding_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open_dir(dir.path()).unwrap();
    let mut other = SqliteStore::open_dir(dir.path()).unwrap();
    let mut b = alert(5, 5, 1, false);
    b.dedup_key = "cd".repeat(32);
    let seen = store
        .record_alert_then(&alert(1, 2, 1, false), 0, |_| {
            let started = std::time::Instant::now();
            assert_eq!(other.record_alert(&b, 0).unwrap(), AlertSeen::New);
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, AlertSeen::New);
}

/// What the alert's first event did is kept as verb and object; a non-resource request's query
/// string (where a client may have put a token) is not.
#[test]
fn the_action_keeps_no_query_string() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let mut a = alert(10, 10, 1, false);
    a.events = vec![
        json!({
            "verb": "get", "requestURI": "/metrics?access_token=s3cr3t-t0ken"
        })
        .into(),
    ];
    store.record_alert(&a, 10).unwrap();
    let mut actions = Vec::new();
    store
        .alert_history(&HistoryQuery::default(), &mut |r| {
            actions.push(r.action);
            Ok(())
        })
        .unwrap();
    assert_eq!(actions, ["get /metrics"]);
}
