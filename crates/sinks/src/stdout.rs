//! Stdout: one JSON object per line and notification, for `kubevigil monitor | jq` and log
//! collectors.
//!
//! JSON escapes every control character in strings, so a hostile name cannot break a line.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::notification::Notification;
use crate::worker::{DeliveryError, Sink};

/// Writes notifications as JSON lines to a writer (standard output by default).
pub struct Stdout<W = tokio::io::Stdout> {
    out: Mutex<W>,
}

impl Stdout {
    pub fn new() -> Stdout {
        Stdout::to(tokio::io::stdout())
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Stdout<W> {
    pub fn to(out: W) -> Stdout<W> {
        Stdout {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Sink for Stdout<W> {
    fn max_batch(&self) -> usize {
        256
    }

    async fn deliver(&self, batch: &[Notification]) -> Result<(), DeliveryError> {
        let mut lines = Vec::new();
        for n in batch {
            serde_json::to_writer(&mut lines, n).map_err(|e| DeliveryError::Reject {
                reason: format!("cannot encode: {e}"),
            })?;
            lines.push(b'\n');
        }
        let mut out = self.out.lock().await;
        // A failed write (a full disk behind a redirect) is retried: the notifications stay
        // queued, as for any other sink that is down.
        let written = async {
            out.write_all(&lines).await?;
            out.flush().await
        };
        written.await.map_err(|e| DeliveryError::Retry {
            reason: format!("write: {e}"),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Context, Notification};
    use kubevigil_model::{ObjectRef, Severity};
    use kubevigil_store::{FindingRecord, Transition};

    #[tokio::test]
    async fn one_json_line_per_notification_whatever_the_names_hold() {
        let record = FindingRecord {
            fingerprint: "f".into(),
            check_id: "c".into(),
            severity: Severity::Low,
            title: "t".into(),
            message: "m".into(),
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("ns".into()),
                name: "evil\n{\"forged\":true}\r\u{1b}[2J".into(),
            },
            field_path: String::new(),
            first_seen: 1,
            last_seen: 1,
            resolved_at: None,
            reopened_at: None,
        };
        let a = Notification::finding(&Context::default(), &record, Transition::New, 1);
        let b = Notification::finding(&Context::default(), &record, Transition::Resolved, 2);
        let sink = Stdout::to(Vec::new());
        sink.deliver(&[a.clone(), b.clone()]).await.unwrap();
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(!out.contains('\u{1b}') && !out.contains('\r'));
        let back: Notification = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, a);
        let back: Notification = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(back, b);
    }
}
