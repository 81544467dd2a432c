//! A real Alertmanager (Debian's `prometheus-alertmanager`), started on a free port, receives a
//! finding and a detection through the outbox, then the finding's resolution.
//!
//! Without the binary the test is skipped, except under CI (`CI` set), where it fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubevigil_detect::DetectionAlert;
use kubevigil_detect::rules::RuleDoc;
use kubevigil_model::{ObjectRef, Severity};
use kubevigil_sinks::testing::{binary_or_skip, free_port, get, start};
use kubevigil_sinks::{
    Alertmanager, AlertmanagerConfig, Backoff, Context, Filter, Limits, Notification, Outbox,
    Route, Worker, now_ms,
};
use kubevigil_store::{FindingRecord, Transition};
use serde_json::{Value, json};
use tokio::sync::watch;

fn alerts(port: u16) -> Vec<Value> {
    let (status, body) = get(port, "/api/v2/alerts").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn by_label<'a>(alerts: &'a [Value], name: &str, value: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["labels"][name] == value)
}

fn finding(now: i64) -> FindingRecord {
    FindingRecord {
        fingerprint: "0123456789abcdef0123456789abcdef".into(),
        check_id: "pss-privileged".into(),
        severity: Severity::High,
        title: "Privileged container".into(),
        message: "container \"app\" of Pod web\x1b[31m-0 runs privileged".into(),
        object: ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some("prod".into()),
            // A hostile name: a terminal escape.
            name: "web\x1b[31m-0".into(),
        },
        field_path: "spec.containers[app].securityContext.privileged".into(),
        first_seen: now - 60_000,
        last_seen: now,
        resolved_at: None,
        reopened_at: None,
    }
}

fn detection(now: i64) -> DetectionAlert {
    DetectionAlert {
        rule: "k8s-secret-read-by-unusual-user".into(),
        title: "Secret read by an unusual user".into(),
        severity: Severity::Critical,
        doc: Arc::new(RuleDoc {
            name: "SecretReadByUnusualUser".into(),
            description: "A user read a secret it never read before.".into(),
            ..RuleDoc::default()
        }),
        first_seen: Some(now - 5_000),
        last_seen: Some(now - 5_000),
        count: 1,
        dedup_key: "fedcba9876543210".repeat(4),
        events: vec![
            json!({
                "user": {"username": "mallory"},
                "verb": "get",
                "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db-password"},
            })
            .into(),
        ],
        ..DetectionAlert::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_receives_and_resolves_alerts() {
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let am = start(&binary, dir.path(), free_port());

    let outbox = Arc::new(
        Outbox::open(
            &dir.path().join("state"),
            vec![Route {
                sink: "alertmanager".into(),
                filter: Filter::default(),
            }],
            Limits::default(),
        )
        .unwrap(),
    );
    let sink = Alertmanager::new(AlertmanagerConfig::new(&format!(
        "http://127.0.0.1:{}/",
        am.port
    )))
    .unwrap();
    let worker = Worker::new(
        Arc::clone(&outbox),
        "alertmanager",
        sink,
        Backoff::default(),
    )
    .unwrap();
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(worker.run(stopped));

    let ctx = Context {
        cluster: "staging".into(),
        runbook_base_url: Some("https://example.org/rules/".into()),
        dashboard_url: Some("https://kubevigil.example.org/".into()),
    };
    let now = now_ms();
    let open = finding(now);
    outbox
        .enqueue(
            &Notification::finding(&ctx, &open, Transition::New, now),
            now,
        )
        .unwrap();
    outbox
        .enqueue(&Notification::detection(&ctx, &detection(now), now), now)
        .unwrap();
    let delivered = |n| {
        let outbox = Arc::clone(&outbox);
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while outbox.stats().unwrap()["alertmanager"].delivered < n {
                assert!(
                    Instant::now() < deadline,
                    "not delivered: {:?}",
                    outbox.last_error("alertmanager")
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    delivered(2).await;

    let firing = alerts(am.port);
    let f = by_label(&firing, "fingerprint", &open.fingerprint).expect("finding alert");
    assert_eq!(
        f["labels"],
        json!({
            "alertname": "Privileged container",
            "severity": "high",
            "rule": "pss-privileged",
            "namespace": "prod",
            "kind": "Pod",
            "name": "web\\e[31m-0",
            "cluster": "staging",
            "fingerprint": open.fingerprint,
        })
    );
    assert_eq!(f["annotations"]["summary"], "Privileged container");
    assert_eq!(
        f["annotations"]["description"],
        "container \"app\" of Pod web\\e[31m-0 runs privileged"
    );
    assert_eq!(
        f["annotations"]["runbook_url"],
        "https://example.org/rules/pss-privileged"
    );
    // A link to the finding's own page on the dashboard.
    assert_eq!(
        f["generatorURL"],
        format!(
            "https://kubevigil.example.org/findings/{}",
            open.fingerprint
        )
    );
    assert_eq!(f["status"]["state"], "active");

    let d = by_label(&firing, "rule", "k8s-secret-read-by-unusual-user").expect("detection alert");
    assert_eq!(d["labels"]["alertname"], "SecretReadByUnusualUser");
    assert_eq!(d["labels"]["severity"], "critical");
    assert_eq!(d["labels"]["kind"], "secrets");
    assert_eq!(d["labels"]["name"], "db-password");
    assert_eq!(d["labels"]["dedup_key"], "fedcba9876543210");
    assert_eq!(
        d["annotations"]["description"],
        "A user read a secret it never read before. Who: mallory. Events: 1."
    );
    assert_eq!(
        d["generatorURL"],
        "https://kubevigil.example.org/alerts#rule-k8s-secret-read-by-unusual-user"
    );

    // The finding is fixed: its resolution ends the alert.
    let resolved_at = now_ms();
    let fixed = FindingRecord {
        resolved_at: Some(resolved_at),
        ..open.clone()
    };
    outbox
        .enqueue(
            &Notification::finding(&ctx, &fixed, Transition::Resolved, resolved_at),
            resolved_at,
        )
        .unwrap();
    delivered(3).await;
    // Alertmanager lists only alerts that have not ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now_listed = alerts(am.port);
        if by_label(&now_listed, "fingerprint", &open.fingerprint).is_none() {
            assert!(by_label(&now_listed, "rule", "k8s-secret-read-by-unusual-user").is_some());
            break;
        }
        assert!(Instant::now() < deadline, "still active: {now_listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox.stats().unwrap()["alertmanager"].failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_down_for_a_while_receives_everything_when_back() {
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Up, then killed: the sink is down when the notifications come.
    drop(start(&binary, dir.path(), port));

    let outbox = Arc::new(
        Outbox::open(
            &dir.path().join("state"),
            vec![Route {
                sink: "alertmanager".into(),
                filter: Filter::default(),
            }],
            Limits::default(),
        )
        .unwrap(),
    );
    let sink =
        Alertmanager::new(AlertmanagerConfig::new(&format!("http://127.0.0.1:{port}"))).unwrap();
    let backoff = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        max_retry_after: Duration::from_secs(5),
    };
    let worker = Worker::new(Arc::clone(&outbox), "alertmanager", sink, backoff).unwrap();
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(worker.run(stopped));
    let ctx = Context {
        cluster: "staging".into(),
        ..Context::default()
    };
    let now = now_ms();
    let fingerprints: Vec<String> = (0..25).map(|i| format!("{i:032x}")).collect();
    for fingerprint in &fingerprints {
        let record = FindingRecord {
            fingerprint: fingerprint.clone(),
            ..finding(now)
        };
        outbox
            .enqueue(
                &Notification::finding(&ctx, &record, Transition::New, now),
                now,
            )
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox.stats().unwrap()["alertmanager"].retried < 3 {
        assert!(Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(outbox.stats().unwrap()["alertmanager"].delivered, 0);

    // Back, on the same port and storage.
    let am = start(&binary, dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox.stats().unwrap()["alertmanager"].delivered < 25 {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            outbox.last_error("alertmanager")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed = alerts(am.port);
    for fingerprint in &fingerprints {
        let alert = by_label(&listed, "fingerprint", fingerprint).expect("alert listed");
        assert_eq!(alert["status"]["state"], "active");
    }
    let s = outbox.stats().unwrap()["alertmanager"];
    assert_eq!((s.failed, s.dropped, s.depth), (0, 0, 0));
}
