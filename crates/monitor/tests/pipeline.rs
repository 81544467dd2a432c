//! The event pipeline end to end, in process: EventList bodies → spool → detection → history
//! store. An alert comes out while the pipeline runs; after a crash that lost the spool's last
//! commit, the events are processed again and the store keeps the alert from being raised twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use kubevigil_detect::rules::{RuleOptions, load_rules};
use kubevigil_detect::{DetectionAlert, Detector, Mode};
use kubevigil_monitor::detection::SpoolSource;
use kubevigil_monitor::intake::read_event_list;
use kubevigil_monitor::spool::Spool;
use kubevigil_store::SqliteStore;
use kubevigil_store::{AlertSeen, HistoryStore};

fn exec_event(id: u32, pod: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"exec-{id}","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/{pod}/exec?command=sh&stdin=true&tty=true","verb":"create","user":{{"username":"mallory@example.com","groups":["system:authenticated"]}},"sourceIPs":["203.0.113.9"],"userAgent":"kubectl/v1.31.0","objectRef":{{"resource":"pods","subresource":"exec","namespace":"shop","name":"{pod}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":101}},"requestReceivedTimestamp":"2026-11-30T10:00:0{id}.000000Z","stageTimestamp":"2026-11-30T10:00:0{id}.010000Z"}}"#
    )
}

fn list_event(id: u32) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"list-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods","verb":"list","user":{{"username":"system:serviceaccount:shop:api","groups":["system:serviceaccounts"]}},"sourceIPs":["10.0.0.7"],"objectRef":{{"resource":"pods","namespace":"shop","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"stageTimestamp":"2026-11-30T10:00:00.000000Z"}}"#
    )
}

fn body(events: &[String]) -> Vec<u8> {
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        events.join(",")
    )
    .into_bytes()
}

fn spool_body(spool: &Spool, body: &[u8]) {
    let batch = read_event_list(body).unwrap();
    assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
    let lines: Vec<&[u8]> = batch.events.iter().map(Vec::as_slice).collect();
    spool.append(&lines).unwrap();
}

/// Runs detection over the spool on a thread until `stop`; alerts the store did not know go to
/// the channel. Returns the number of events read.
fn start(
    spool: &Spool,
    state: &std::path::Path,
    stop: Arc<AtomicBool>,
    alerts: mpsc::Sender<DetectionAlert>,
) -> std::thread::JoinHandle<u64> {
    let config = kubevigil_checks::Config::default();
    let (loaded, problems) = load_rules(&RuleOptions {
        rule_paths: &[],
        builtin: true,
        disable: &[],
        cluster_networks: &[],
        ioc_files: &[],
        config: &config.detect,
        events: Default::default(),
    })
    .unwrap();
    assert!(problems.is_empty());
    let mut source = SpoolSource::new(spool, stop);
    let mut store = SqliteStore::open_dir(state).unwrap();
    std::thread::spawn(move || {
        let mut detector = Detector::new(Arc::new(loaded.set))
            .with_tuning(loaded.tuning)
            .with_mode(Mode::Stream);
        let summary = detector
            .run(
                &mut source,
                |alert| -> Result<(), String> {
                    match store.record_alert(alert, 0).map_err(|e| e.to_string())? {
                        AlertSeen::Known => {}
                        AlertSeen::New | AlertSeen::Repeat => {
                            let _ = alerts.send(alert.clone());
                        }
                    }
                    Ok(())
                },
                |e| panic!("{e}"),
            )
            .unwrap();
        summary.events
    })
}

/// The names of the alerts received: the first within 10 s, then until none comes for 300 ms.
fn received(rx: &mpsc::Receiver<DetectionAlert>) -> Vec<String> {
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("an alert");
    let mut names = vec![first.name().to_string()];
    while let Ok(a) = rx.recv_timeout(Duration::from_millis(300)) {
        names.push(a.name().to_string());
    }
    names
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn spooled_events_raise_alerts_once_even_when_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("spool");
    let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
    // Routine traffic, then an interactive shell in a pod.
    spool_body(&spool, &body(&(0..50).map(list_event).collect::<Vec<_>>()));
    spool_body(&spool, &body(&[exec_event(1, "web-0")]));
    // The disk as a crash would leave it if it came after detection but before the commit.
    let crashed = dir.path().join("spool-at-crash");
    copy_dir(&spool_dir, &crashed);

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let running = start(&spool, dir.path(), stop.clone(), tx);
    let names = received(&rx);
    assert!(names.contains(&"k8s_pod_exec".to_string()), "{names:?}");
    stop.store(true, Ordering::SeqCst);
    assert_eq!(running.join().unwrap(), 51);
    // Processed and committed: nothing left to read after a clean restart.
    drop(spool);
    let spool = Spool::open(&spool_dir, 1 << 30).unwrap();
    let (tx, _rx) = mpsc::channel();
    let stopped = Arc::new(AtomicBool::new(true));
    assert_eq!(start(&spool, dir.path(), stopped, tx).join().unwrap(), 0);

    // After the crash, the events are processed again; the store knew every alert.
    let spool = Spool::open(&crashed, 1 << 30).unwrap();
    let (tx, rx) = mpsc::channel();
    let stopped = Arc::new(AtomicBool::new(true));
    let replayed = start(&spool, dir.path(), stopped, tx).join().unwrap();
    assert_eq!(replayed, 51, "every spooled event processed again");
    assert!(rx.try_recv().is_err(), "the store knew the alerts");

    // A new exec after the restart is alerted, while the pipeline runs.
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let running = start(&spool, dir.path(), stop.clone(), tx);
    spool_body(&spool, &body(&[exec_event(2, "db-0")]));
    let again = received(&rx);
    assert!(again.contains(&"k8s_pod_exec".to_string()), "{again:?}");
    stop.store(true, Ordering::SeqCst);
    assert_eq!(running.join().unwrap(), 1);
}
