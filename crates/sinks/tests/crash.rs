//! SIGKILL mid-stream: a process enqueues and delivers notifications until it is killed; the
//! outbox reopened from the same directory delivers whatever was left, so every notification
//! whose enqueue returned arrives at least once.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Server, notification, wait_for};
use kubevigil_model::Severity;
use kubevigil_sinks::{
    Alertmanager, AlertmanagerConfig, Backoff, Filter, Limits, Outbox, Route, Worker, now_ms,
};
use tokio::sync::watch;

const SINK: &str = "am";
const CHILD_DIR: &str = "KUBEVIGIL_SINKS_CRASH_DIR";
const CHILD_URL: &str = "KUBEVIGIL_SINKS_CRASH_URL";
/// The request during which the child is killed.
const KILL_AT: usize = 8;

fn open(dir: &std::path::Path) -> Arc<Outbox> {
    let routes = vec![Route {
        sink: SINK.into(),
        filter: Filter::default(),
    }];
    Arc::new(Outbox::open(dir, routes, Limits::default()).unwrap())
}

fn worker(outbox: &Arc<Outbox>, url: &str) -> watch::Sender<bool> {
    let mut config = AlertmanagerConfig::new(url);
    config.max_batch = 7;
    let backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(1),
    };
    let worker = Worker::new(
        Arc::clone(outbox),
        SINK,
        Alertmanager::new(config).unwrap(),
        backoff,
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(worker.run(stopped));
    stop
}

/// The killed process: runs only when the parent test starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let (Some(dir), Some(url)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_URL).ok())
    else {
        return;
    };
    let outbox = open(std::path::Path::new(&dir));
    let _stop = worker(&outbox, &url);
    let mut stdout = std::io::stdout();
    for i in 0.. {
        outbox
            .enqueue(&notification(i, Severity::High), now_ms())
            .unwrap();
        // Reported only once the enqueue returned: from here on it must not be lost.
        writeln!(stdout, "queued {i}").unwrap();
        stdout.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_delivers_every_queued_notification() {
    let dir = tempfile::tempdir().unwrap();
    // The sink never answers request KILL_AT: the child is killed while it waits for the
    // answer, so that batch was sent but not acknowledged, and must be sent again.
    let in_flight = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&in_flight);
    let server = Server::start(move |n| {
        if n == KILL_AT {
            flag.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(1));
            return (503, vec![], String::new());
        }
        // Slower than the child enqueues: a backlog builds up.
        std::thread::sleep(Duration::from_millis(10));
        (200, vec![], String::new())
    })
    .await;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_URL, server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut queued = BTreeSet::new();
        for line in BufReader::new(stdout).lines() {
            if let Some(i) = line.unwrap().strip_prefix("queued ") {
                queued.insert(i.parse::<usize>().unwrap());
            }
        }
        queued
    });
    wait_for("the batch in flight", Duration::from_secs(20), || {
        in_flight.load(Ordering::SeqCst)
    })
    .await;
    // `kill` is SIGKILL: no destructor, no flush, no graceful stop.
    child.kill().unwrap();
    child.wait().unwrap();
    let queued = reader.join().unwrap();
    assert!(queued.len() > KILL_AT, "{} queued", queued.len());

    let outbox = open(dir.path());
    let left = outbox.stats().unwrap()[SINK].depth;
    assert!(
        left > 0,
        "nothing left to deliver after the kill: the test proves nothing"
    );
    let _stop = worker(&outbox, &server.url());
    wait_for("the queue drained", Duration::from_secs(20), || {
        outbox.stats().unwrap()[SINK].depth == 0
    })
    .await;
    // Delivered: what the sink accepted (every request but the one it never answered).
    let delivered: BTreeSet<String> = server
        .received()
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != KILL_AT)
        .flat_map(|(_, r)| {
            serde_json::from_str::<serde_json::Value>(&r.body)
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["labels"]["fingerprint"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<usize> = queued
        .iter()
        .copied()
        .filter(|i| !delivered.contains(&format!("fp{i:04}")))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
}
