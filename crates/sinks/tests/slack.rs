//! Slack's incoming webhook, played by a local server: one Block Kit message per
//! notification, hostile names unable to ping a channel or forge a link.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, notification, wait_for};
use kubevigil_model::Severity;
use kubevigil_sinks::{Backoff, Filter, Limits, Outbox, Route, Slack, SlackConfig, Worker, now_ms};
use serde_json::{Value, json};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_one_escaped_block_kit_message_per_notification() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(
        Outbox::open(
            dir.path(),
            vec![Route {
                sink: "slack".into(),
                filter: Filter::default(),
            }],
            Limits::default(),
        )
        .unwrap(),
    );
    let server = Server::start(|_| (200, vec![], "ok".into())).await;
    let sink = Slack::new(SlackConfig::new(&format!(
        "{}/services/T0/B0/token",
        server.url()
    )))
    .unwrap();
    let worker = Worker::new(Arc::clone(&outbox), "slack", sink, Backoff::default()).unwrap();
    let (_stop, stopped) = watch::channel(false);

    let mut hostile = notification(0, Severity::Critical);
    hostile.labels.insert(
        "name".into(),
        "<!channel> <https://evil.example|docs> & \u{1b}[2J".into(),
    );
    hostile.annotations.insert(
        "runbook_url".into(),
        "https://example.org/rules/pss-privileged".into(),
    );
    outbox.enqueue(&hostile, now_ms()).unwrap();
    outbox
        .enqueue(&notification(1, Severity::Low), now_ms())
        .unwrap();
    tokio::spawn(worker.run(stopped));
    wait_for("delivered", Duration::from_secs(20), || {
        outbox.stats().unwrap()["slack"].delivered == 2
    })
    .await;

    let received = server.received();
    assert_eq!(received.len(), 2, "one request per notification");
    assert_eq!(received[0].path, "/services/T0/B0/token");
    let message: Value = serde_json::from_str(&received[0].body).unwrap();
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "header", "text": {"type": "plain_text",
            "text": "[FIRING] [CRITICAL] Privileged container"}})
    );
    let fields = blocks[1]["fields"].as_array().unwrap();
    assert_eq!(fields[0]["text"], "*Severity*\ncritical");
    assert_eq!(fields[1]["text"], "*Rule*\npss-privileged");
    assert_eq!(
        fields[2]["text"],
        "*Object*\nteam-a/Pod/&lt;!channel&gt; &lt;https://evil.example|docs&gt; &amp; \\e[2J"
    );
    assert_eq!(blocks[2]["text"]["text"], "pod-0 runs privileged");
    let context = blocks[3]["elements"].as_array().unwrap();
    assert_eq!(
        context[1]["text"],
        "<https://example.org/rules/pss-privileged|Runbook>"
    );
    // Nowhere a raw `<!` (a mention) or escape character.
    assert!(!received[0].body.contains("<!channel>"));
    assert!(!received[0].body.contains('\u{1b}'));
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] [CRITICAL] Privileged container team-a/Pod/&lt;!channel&gt;")
    );
}
