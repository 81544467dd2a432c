//! The signed webhook through the outbox: the receiver can check the signature of the exact
//! body it got, and read every notification back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, notification, wait_for};
use kubevigil_model::Severity;
use kubevigil_sinks::webhook::{Webhook, WebhookConfig, hmac_sha256, signature_header};
use kubevigil_sinks::{Backoff, Filter, Limits, Notification, Outbox, Route, Worker, now_ms};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_gets_signed_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(
        Outbox::open(
            dir.path(),
            vec![Route {
                sink: "hook".into(),
                filter: Filter {
                    min_severity: Severity::Medium,
                    ..Filter::default()
                },
            }],
            Limits::default(),
        )
        .unwrap(),
    );
    let server = Server::start(|_| (204, vec![], String::new())).await;
    let secret = b"shared-secret";
    let sink = Webhook::new(WebhookConfig::new(
        &format!("{}/hook", server.url()),
        secret,
    ))
    .unwrap();
    let worker = Worker::new(Arc::clone(&outbox), "hook", sink, Backoff::default()).unwrap();
    let (_stop, stopped) = watch::channel(false);
    let sent: Vec<Notification> = [Severity::High, Severity::Low, Severity::Critical]
        .into_iter()
        .enumerate()
        .map(|(i, s)| notification(i, s))
        .collect();
    for n in &sent {
        outbox.enqueue(n, now_ms()).unwrap();
    }
    tokio::spawn(worker.run(stopped));
    wait_for("delivered", Duration::from_secs(20), || {
        outbox.stats().unwrap()["hook"].delivered == 2
    })
    .await;

    let received = server.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.path, "/hook");
    let signature = request
        .headers
        .iter()
        .find(|(k, _)| k == "x-kubevigil-signature")
        .map(|(_, v)| v.clone())
        .expect("signature header");
    assert_eq!(signature, signature_header(secret, request.body.as_bytes()));
    // Another secret, another signature: the header does prove the secret.
    assert_ne!(
        signature,
        signature_header(b"other", request.body.as_bytes())
    );
    assert_eq!(signature.len(), "sha256=".len() + 64);
    assert_eq!(hmac_sha256(secret, request.body.as_bytes()).len(), 32);

    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert!(body["sentAt"].as_str().unwrap().ends_with('Z'));
    let got: Vec<Notification> = serde_json::from_value(body["notifications"].clone()).unwrap();
    // The low one is below the sink's minimum severity.
    assert_eq!(got, [sent[0].clone(), sent[2].clone()]);
    assert!(!request.body.contains("shared-secret"));
}
