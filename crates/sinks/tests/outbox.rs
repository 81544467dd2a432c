//! The outbox alone: routing by filter, order, idempotent enqueue, bounds and counters.

mod common;

use common::notification;
use kubevigil_model::Severity;
use kubevigil_sinks::{Filter, Limits, Outbox, Overflow, Route, RuleFilter, Source};

fn route(sink: &str, filter: Filter) -> Route {
    Route {
        sink: sink.into(),
        filter,
    }
}

fn ids(outbox: &Outbox, sink: &str) -> Vec<String> {
    outbox
        .pending(sink, 1000)
        .unwrap()
        .into_iter()
        .map(|p| p.notification.id)
        .collect()
}

fn id(i: usize) -> String {
    format!("finding/fp{i:04}/new/1000")
}

#[test]
fn each_sink_gets_what_its_filter_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let high_only = Filter {
        min_severity: Severity::High,
        ..Filter::default()
    };
    let detections_only = Filter {
        findings: false,
        ..Filter::default()
    };
    let other_namespace = Filter {
        namespaces: vec!["team-b".into()],
        ..Filter::default()
    };
    let outbox = Outbox::open(
        dir.path(),
        vec![
            route("all", Filter::default()),
            route("high", high_only),
            route("detections", detections_only),
            route("team-b", other_namespace),
        ],
        Limits::default(),
    )
    .unwrap();
    let queued = outbox
        .enqueue(&notification(0, Severity::Medium), 1)
        .unwrap();
    assert_eq!(queued, ["all"]);
    let queued = outbox
        .enqueue(&notification(1, Severity::Critical), 2)
        .unwrap();
    assert_eq!(queued, ["all", "high"]);
    let mut detection = notification(2, Severity::Low);
    detection.source = Source::Detection;
    let queued = outbox.enqueue(&detection, 3).unwrap();
    assert_eq!(queued, ["all", "detections"]);
    assert_eq!(ids(&outbox, "high"), [id(1)]);
    assert_eq!(outbox.stats().unwrap()["all"].depth, 3);
    assert_eq!(outbox.stats().unwrap()["team-b"].depth, 0);
}

#[test]
fn a_sink_gets_its_queue_in_order_and_each_notification_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path(),
        vec![route("s", Filter::default())],
        Limits::default(),
    )
    .unwrap();
    for i in [3, 1, 2] {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    // The same notification again (a monitor re-enqueueing after a restart): queued once.
    let again = outbox.enqueue(&notification(1, Severity::High), 2).unwrap();
    assert!(again.is_empty());
    assert_eq!(ids(&outbox, "s"), [id(3), id(1), id(2)]);
    // Delivered notifications leave the queue; the rest keeps its order.
    let first = outbox.pending("s", 1).unwrap();
    outbox.delivered("s", &[first[0].seq]).unwrap();
    assert_eq!(ids(&outbox, "s"), [id(1), id(2)]);
    let s = outbox.stats().unwrap()["s"];
    assert_eq!((s.delivered, s.depth), (1, 2));
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 5,
        overflow: Overflow::DropOldest,
    };
    let outbox = Outbox::open(dir.path(), vec![route("s", Filter::default())], limits).unwrap();
    for i in 0..8 {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    assert_eq!(ids(&outbox, "s"), (3..8).map(id).collect::<Vec<_>>());
    let s = outbox.stats().unwrap()["s"];
    assert_eq!((s.dropped, s.depth), (3, 5));
}

#[test]
fn a_full_queue_can_refuse_the_newest_instead() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 5,
        overflow: Overflow::DropNewest,
    };
    let outbox = Outbox::open(dir.path(), vec![route("s", Filter::default())], limits).unwrap();
    for i in 0..8 {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    assert_eq!(ids(&outbox, "s"), (0..5).map(id).collect::<Vec<_>>());
    let s = outbox.stats().unwrap()["s"];
    assert_eq!((s.dropped, s.depth), (3, 5));
}

#[test]
fn failed_notifications_leave_the_queue_and_keep_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path(),
        vec![route("s", Filter::default())],
        Limits::default(),
    )
    .unwrap();
    for i in 0..2 {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    let head = outbox.pending("s", 1).unwrap();
    outbox
        .retry_later("s", &[head[0].seq], 500, "HTTP 503")
        .unwrap();
    assert_eq!(outbox.last_error("s").unwrap().as_deref(), Some("HTTP 503"));
    let head = outbox.pending("s", 1).unwrap();
    assert_eq!((head[0].attempts, head[0].next_attempt_ms), (1, 500));
    outbox.failed("s", &[head[0].seq], "HTTP 400", 600).unwrap();
    assert_eq!(ids(&outbox, "s"), [id(1)]);
    let failures = outbox.failures("s").unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (
            failures[0].notification_id.as_str(),
            failures[0].reason.as_str()
        ),
        (id(0).as_str(), "HTTP 400")
    );
    assert_eq!(failures[0].attempts, 2);
    let s = outbox.stats().unwrap()["s"];
    assert_eq!((s.retried, s.failed, s.depth), (1, 1, 1));
}

#[test]
fn an_unreadable_entry_is_failed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path(),
        vec![route("s", Filter::default())],
        Limits::default(),
    )
    .unwrap();
    outbox.enqueue(&notification(0, Severity::High), 1).unwrap();
    outbox.enqueue(&notification(1, Severity::High), 1).unwrap();
    drop(outbox);
    let conn = rusqlite::Connection::open(dir.path().join("outbox.db")).unwrap();
    conn.execute("UPDATE outbox SET body = '{' WHERE seq = 1", [])
        .unwrap();
    drop(conn);
    let outbox = Outbox::open(
        dir.path(),
        vec![route("s", Filter::default())],
        Limits::default(),
    )
    .unwrap();
    assert_eq!(ids(&outbox, "s"), [id(1)]);
    let failures = outbox.failures("s").unwrap();
    assert!(failures[0].reason.starts_with("unreadable outbox entry"));
    assert_eq!(outbox.stats().unwrap()["s"].failed, 1);
}

#[test]
fn a_notification_dropped_while_in_flight_counts_as_dropped_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 1,
        overflow: Overflow::DropOldest,
    };
    let outbox = Outbox::open(dir.path(), vec![route("s", Filter::default())], limits).unwrap();
    outbox.enqueue(&notification(0, Severity::High), 1).unwrap();
    let in_flight = outbox.pending("s", 1).unwrap();
    // The queue overflows while the worker delivers: the oldest, in flight, is dropped.
    outbox.enqueue(&notification(1, Severity::High), 2).unwrap();
    outbox.delivered("s", &[in_flight[0].seq]).unwrap();
    outbox
        .failed("s", &[in_flight[0].seq], "HTTP 400", 3)
        .unwrap();
    let s = outbox.stats().unwrap()["s"];
    assert_eq!((s.dropped, s.delivered, s.failed, s.depth), (1, 0, 0, 1));
    assert_eq!(ids(&outbox, "s"), [id(1)]);
}

#[cfg(unix)]
#[test]
fn the_outbox_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let outbox = Outbox::open(
        &state,
        vec![route("s", Filter::default())],
        Limits::default(),
    )
    .unwrap();
    outbox.enqueue(&notification(0, Severity::High), 1).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for file in ["outbox.db", "outbox.db-wal"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
}

#[test]
fn many_notifications_queue_in_one_transaction_with_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 5,
        overflow: Overflow::DropOldest,
    };
    let high_only = Filter {
        min_severity: Severity::High,
        ..Filter::default()
    };
    let outbox = Outbox::open(
        dir.path(),
        vec![route("all", Filter::default()), route("high", high_only)],
        limits,
    )
    .unwrap();
    let mut batch: Vec<_> = (0..8)
        .map(|i| {
            let severity = if i % 2 == 0 {
                Severity::High
            } else {
                Severity::Low
            };
            notification(i, severity)
        })
        .collect();
    // A repeat within the batch is queued once.
    batch.push(notification(7, Severity::Low));
    let queued = outbox.enqueue_all(&batch, 1).unwrap();
    assert_eq!(queued.len(), 9);
    assert_eq!(queued[0], ["all", "high"]);
    assert_eq!(queued[1], ["all"]);
    assert!(queued[8].is_empty());
    assert_eq!(ids(&outbox, "all"), (3..8).map(id).collect::<Vec<_>>());
    assert_eq!(ids(&outbox, "high"), [0, 2, 4, 6].map(id));
    let stats = outbox.stats().unwrap();
    assert_eq!((stats["all"].dropped, stats["all"].depth), (3, 5));
    assert_eq!((stats["high"].dropped, stats["high"].depth), (0, 4));
}

#[test]
fn a_repeat_into_a_full_queue_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 2,
        overflow: Overflow::DropOldest,
    };
    let outbox = Outbox::open(dir.path(), vec![route("s", Filter::default())], limits).unwrap();
    for i in [0, 1, 1, 0] {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    assert_eq!(ids(&outbox, "s"), [id(0), id(1)]);
    assert_eq!(outbox.stats().unwrap()["s"].dropped, 0);
}

#[test]
fn a_rule_filter_selects_by_the_rule_label() {
    let dir = tempfile::tempdir().unwrap();
    let pss = Filter {
        rules: RuleFilter::new(&["pss-*".into()]).unwrap(),
        ..Filter::default()
    };
    let exec = Filter {
        rules: RuleFilter::new(&["k8s-pod-exec".into(), "image-*".into()]).unwrap(),
        ..Filter::default()
    };
    let outbox = Outbox::open(
        dir.path(),
        vec![route("pss", pss), route("exec", exec)],
        Limits::default(),
    )
    .unwrap();
    // notification() is a pss-privileged finding.
    assert_eq!(
        outbox.enqueue(&notification(0, Severity::Low), 1).unwrap(),
        ["pss"]
    );
    let mut n = notification(1, Severity::Low);
    n.labels.insert("rule".into(), "k8s-pod-exec".into());
    assert_eq!(outbox.enqueue(&n, 2).unwrap(), ["exec"]);
    let mut n = notification(2, Severity::Low);
    n.labels.remove("rule");
    assert!(outbox.enqueue(&n, 3).unwrap().is_empty());
    assert!(RuleFilter::new(&["pss-[".into()]).is_err());
}

#[test]
fn refreshes_go_only_to_sinks_that_take_them_once_per_queue() {
    let dir = tempfile::tempdir().unwrap();
    let am = Filter {
        refreshes: true,
        ..Filter::default()
    };
    let am_high = Filter {
        refreshes: true,
        min_severity: Severity::High,
        ..Filter::default()
    };
    let outbox = Outbox::open(
        dir.path(),
        vec![
            route("alertmanager", am),
            route("am-high", am_high),
            route("slack", Filter::default()),
        ],
        Limits::default(),
    )
    .unwrap();
    let mut refresh = notification(0, Severity::Medium);
    refresh.id = "finding/fp0000/refresh/1000".into();
    refresh.change = None;
    refresh.refresh = true;
    // The sink's other filters still apply to a refresh.
    assert_eq!(outbox.enqueue(&refresh, 1).unwrap(), ["alertmanager"]);
    // While one waits in the queue, the next is not queued beside it.
    assert!(outbox.enqueue(&refresh, 2).unwrap().is_empty());
    // Refused for good once, it is queued again at the next refresh.
    let p = outbox.pending("alertmanager", 10).unwrap();
    outbox
        .failed("alertmanager", &[p[0].seq], "400", 3)
        .unwrap();
    assert_eq!(outbox.enqueue(&refresh, 4).unwrap(), ["alertmanager"]);
    assert_eq!(
        ids(&outbox, "alertmanager"),
        ["finding/fp0000/refresh/1000"]
    );
    assert!(ids(&outbox, "slack").is_empty());
    // An ordinary notification still goes everywhere it is accepted.
    assert_eq!(
        outbox.enqueue(&notification(1, Severity::High), 5).unwrap(),
        ["alertmanager", "am-high", "slack"]
    );
}

#[test]
fn a_refresh_into_a_full_queue_pushes_nothing_out() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_pending: 2,
        overflow: Overflow::DropOldest,
    };
    let am = Filter {
        refreshes: true,
        ..Filter::default()
    };
    let outbox = Outbox::open(dir.path(), vec![route("am", am)], limits).unwrap();
    for i in [0, 1] {
        outbox.enqueue(&notification(i, Severity::High), 1).unwrap();
    }
    let mut refresh = notification(2, Severity::High);
    refresh.id = "finding/fp0002/refresh/1000".into();
    refresh.refresh = true;
    assert!(outbox.enqueue(&refresh, 2).unwrap().is_empty());
    assert_eq!(ids(&outbox, "am"), [id(0), id(1)]);
    assert_eq!(outbox.stats().unwrap()["am"].dropped, 1);
    // An ordinary notification still drops the oldest.
    outbox.enqueue(&notification(3, Severity::High), 3).unwrap();
    assert_eq!(ids(&outbox, "am"), [id(1), id(3)]);
}
