//! Delivery through the outbox to an HTTP sink that fails: down for a while, refusing
//! connections, rate limiting, rejecting; and a worker that dies before delivering.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Server, notification, wait_for};
use kubevigil_model::Severity;
use kubevigil_sinks::{
    Alertmanager, AlertmanagerConfig, Backoff, Filter, Limits, Outbox, Route, SinkStats, Worker,
    now_ms,
};
use tokio::sync::watch;

const SINK: &str = "am";
const WAIT: Duration = Duration::from_secs(20);

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

fn open(dir: &std::path::Path) -> Arc<Outbox> {
    let routes = vec![Route {
        sink: SINK.into(),
        filter: Filter::default(),
    }];
    Arc::new(Outbox::open(dir, routes, Limits::default()).unwrap())
}

fn stats(outbox: &Outbox) -> SinkStats {
    outbox.stats().unwrap()[SINK]
}

/// Starts a worker delivering to Alertmanager's API at `url`; stops when the sender drops.
fn start_worker(outbox: &Arc<Outbox>, url: &str, batch: usize) -> watch::Sender<bool> {
    let mut config = AlertmanagerConfig::new(url);
    config.max_batch = batch;
    config.timeout = Duration::from_secs(2);
    let sink = Alertmanager::new(config).unwrap();
    let worker = Worker::new(Arc::clone(outbox), SINK, sink, fast_backoff()).unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(worker.run(stopped));
    stop
}

/// The fingerprints of every alert the server received.
fn fingerprints(server: &Server) -> BTreeSet<String> {
    server
        .received()
        .iter()
        .flat_map(|r| {
            let alerts: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            alerts
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["labels"]["fingerprint"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn expected(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("fp{i:04}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_answering_503_for_a_while_receives_everything_once_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    // Down for the first 6 requests, then up.
    let server = Server::start(|n| {
        if n < 6 {
            (503, vec![], "down for maintenance".into())
        } else {
            (200, vec![], String::new())
        }
    })
    .await;
    let _stop = start_worker(&outbox, &server.url(), 4);
    for i in 0..20 {
        outbox
            .enqueue(&notification(i, Severity::High), now_ms())
            .unwrap();
    }
    wait_for("every notification delivered", WAIT, || {
        stats(&outbox).delivered == 20
    })
    .await;
    assert_eq!(fingerprints(&server), expected(20));
    let s = stats(&outbox);
    assert_eq!(s.depth, 0);
    assert_eq!(s.failed, 0);
    assert_eq!(s.dropped, 0);
    assert!(s.retried >= 6, "{s:?}");
    assert!(server.received().iter().all(|r| r.path == "/api/v2/alerts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_not_listening_receives_everything_once_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    // A free port nobody listens on (yet).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let _stop = start_worker(&outbox, &url, 8);
    for i in 0..10 {
        outbox
            .enqueue(&notification(i, Severity::High), now_ms())
            .unwrap();
    }
    wait_for("connection failures retried", WAIT, || {
        stats(&outbox).retried >= 10
    })
    .await;
    assert_eq!(stats(&outbox).delivered, 0);
    let error = outbox.last_error(SINK).unwrap().unwrap();
    assert!(error.contains("onnect"), "{error}");

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = Server::on(listener, |_| (200, vec![], String::new()));
    wait_for("every notification delivered", WAIT, || {
        stats(&outbox).delivered == 10
    })
    .await;
    assert_eq!(fingerprints(&server), expected(10));
    assert_eq!(stats(&outbox).depth, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_marked_failed_with_its_reason_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    let server = Server::start(|_| (400, vec![], "bad alert\x1b[2J: labels invalid".into())).await;
    // Queued before the worker starts: they go in one request first.
    for i in 0..3 {
        outbox
            .enqueue(&notification(i, Severity::High), now_ms())
            .unwrap();
    }
    let _stop = start_worker(&outbox, &server.url(), 8);
    wait_for("notifications failed", WAIT, || stats(&outbox).failed == 3).await;
    // Time for a retry (the backoff is at most 100 ms) to show if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = stats(&outbox);
    assert_eq!((s.failed, s.retried, s.delivered, s.depth), (3, 0, 0, 0));
    // The batch, then each notification alone (one bad one must not fail the others); then
    // never again.
    assert_eq!(
        server.received().len(),
        4,
        "rejected notifications sent again"
    );
    let failures = outbox.failures(SINK).unwrap();
    assert_eq!(failures.len(), 3);
    for f in &failures {
        assert_eq!(f.attempts, 1);
        // The sink's words, with their control characters escaped.
        assert!(
            f.reason
                .starts_with("HTTP 400 Bad Request: bad alert\\e[2J"),
            "{}",
            f.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    let server = Server::start(|n| {
        if n == 0 {
            (429, vec![("Retry-After".into(), "1".into())], String::new())
        } else {
            (200, vec![], String::new())
        }
    })
    .await;
    let _stop = start_worker(&outbox, &server.url(), 8);
    outbox
        .enqueue(&notification(0, Severity::High), now_ms())
        .unwrap();
    wait_for("delivered", WAIT, || stats(&outbox).delivered == 1).await;
    let received = server.received();
    assert_eq!(received.len(), 2);
    // The backoff alone would have retried within 100 ms.
    let waited = received[1].at - received[0].at;
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert_eq!(stats(&outbox).retried, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_queued_before_a_crash_are_delivered_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let outbox = open(dir.path());
        // The sink is down: the worker tries and fails, then dies with everything queued.
        let server = Server::start(|_| (503, vec![], String::new())).await;
        let stop = start_worker(&outbox, &server.url(), 4);
        for i in 0..12 {
            outbox
                .enqueue(&notification(i, Severity::High), now_ms())
                .unwrap();
        }
        wait_for("a failed attempt", WAIT, || stats(&outbox).retried > 0).await;
        drop(stop);
    }
    let outbox = open(dir.path());
    assert_eq!(stats(&outbox).depth, 12);
    let server = Server::start(|_| (200, vec![], String::new())).await;
    let _stop = start_worker(&outbox, &server.url(), 5);
    wait_for("every notification delivered", WAIT, || {
        stats(&outbox).delivered == 12
    })
    .await;
    assert_eq!(fingerprints(&server), expected(12));
    assert_eq!(stats(&outbox).depth, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rejected_notification_does_not_fail_the_rest_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    // The sink refuses any request that carries pod 1.
    let server = Server::start_by_body(|_, body| {
        if body.contains("fp0001") {
            (400, vec![], "invalid alert".into())
        } else {
            (200, vec![], String::new())
        }
    })
    .await;
    for i in 0..3 {
        outbox
            .enqueue(&notification(i, Severity::High), now_ms())
            .unwrap();
    }
    let _stop = start_worker(&outbox, &server.url(), 8);
    wait_for("every notification settled", WAIT, || {
        let s = stats(&outbox);
        s.delivered + s.failed == 3
    })
    .await;
    let s = stats(&outbox);
    assert_eq!((s.delivered, s.failed, s.retried, s.depth), (2, 1, 0, 0));
    let failures = outbox.failures(SINK).unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].notification_id, "finding/fp0001/new/1000");
    // The batch, then each alone, in order.
    assert_eq!(server.received().len(), 4);
    assert_eq!(
        fingerprints(&server),
        expected(3),
        "each notification was offered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_behind_a_proxy_gets_the_authorization_header() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path());
    let server = Server::start(|_| (200, vec![], String::new())).await;
    let mut config = AlertmanagerConfig::new(&server.url());
    config.authorization = Some("Bearer s3cr3t-token".into());
    assert!(!format!("{config:?}").contains("s3cr3t"));
    let worker = Worker::new(
        Arc::clone(&outbox),
        SINK,
        Alertmanager::new(config).unwrap(),
        fast_backoff(),
    )
    .unwrap();
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(worker.run(stopped));
    outbox
        .enqueue(&notification(0, Severity::High), now_ms())
        .unwrap();
    wait_for("delivered", WAIT, || stats(&outbox).delivered == 1).await;
    let request = &server.received()[0];
    assert!(
        request
            .headers
            .contains(&("authorization".into(), "Bearer s3cr3t-token".into()))
    );
}
