//! GET requests with the API's error contract: failures are `metav1.Status`, and a request
//! is retried when the server says when to retry.
//!
//! Retries follow client-go (k8s.io/client-go/rest/request.go, `checkWait` and
//! `retryAfterSeconds`): a response is retried when its status is 429 or 5xx *and* it carries
//! `Retry-After` (seconds), after that many seconds, at most 10 times. kube-apiserver sets
//! `Retry-After` on 429 (max-in-flight and priority-and-fairness rejections) and on some 503s
//! and 504s, with the same value in the Status's `details.retryAfterSeconds`, which is read when
//! the header is missing. Other failures are not retried: they are reported.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::Connection;
use crate::chain;

/// client-go's `maxRetries` default.
const MAX_RETRIES: u32 = 10;
/// A response (the whole of a list page) that takes longer than this is a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest wait a `Retry-After` can ask for here.
const MAX_RETRY_AFTER: u64 = 60;

/// A request that failed, naming the context and the request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cluster context {context:?}: GET {url}: {message}")]
pub struct ApiError {
    pub context: String,
    /// The server's URL and the API path with its query.
    pub url: String,
    /// The HTTP status, when there was a response.
    pub code: Option<u16>,
    /// The Status's `reason` (`Forbidden`, `Expired`, `TooManyRequests`, ...), or `""`.
    pub reason: String,
    pub message: String,
}

impl ApiError {
    pub fn is_forbidden(&self) -> bool {
        self.code == Some(403)
    }

    /// `410 Gone`: a continue token or resourceVersion that is too old.
    pub fn is_gone(&self) -> bool {
        self.code == Some(410)
    }
}

/// `GET path` (path and query), accepting `accept`; the response body.
pub(crate) async fn get(conn: &Connection, path: &str, accept: &str) -> Result<Bytes, ApiError> {
    let url = format!("{}{path}", conn.server);
    let fail = |code: Option<u16>, reason: &str, message: String| ApiError {
        context: conn.context.clone(),
        url: url.clone(),
        code,
        reason: reason.to_string(),
        message,
    };
    let mut attempt = 0;
    loop {
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(kube::client::Body::empty())
            .map_err(|e| fail(None, "", format!("invalid request: {e}")))?;
        let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = conn.client.send(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect_bytes().await?;
            Ok::<_, kube::Error>((parts, body))
        })
        .await;
        let (parts, body) = match sent {
            Err(_) => {
                return Err(fail(
                    None,
                    "Timeout",
                    format!("no complete response within {}s", REQUEST_TIMEOUT.as_secs()),
                ));
            }
            Ok(Err(e)) => return Err(fail(None, "", transport_message(&e))),
            Ok(Ok(r)) => r,
        };
        if parts.status.is_success() {
            return Ok(body);
        }
        let code = parts.status.as_u16();
        let status: Option<Value> = serde_json::from_slice(&body)
            .ok()
            .filter(|v: &Value| v.get("kind").and_then(Value::as_str) == Some("Status"));
        let text = |key: &str| {
            status
                .as_ref()
                .and_then(|s| s.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let reason = text("reason");
        let mut message = text("message");
        if message.is_empty() {
            let body = String::from_utf8_lossy(&body);
            let body: String = body.chars().take(200).collect();
            message = format!("HTTP {code} {}", body.trim());
        }
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| {
                status
                    .as_ref()
                    .and_then(|s| s.pointer("/details/retryAfterSeconds"))
                    .and_then(Value::as_u64)
            });
        let retryable = code == 429 || (500..600).contains(&code);
        if let (true, Some(seconds)) = (retryable, retry_after)
            && attempt < MAX_RETRIES
        {
            attempt += 1;
            let seconds = seconds.min(MAX_RETRY_AFTER);
            tracing::warn!(
                context = %conn.context,
                url = %url,
                code,
                attempt,
                "the API server asked to retry after {seconds}s"
            );
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            continue;
        }
        let message = match code {
            401 => format!(
                "{code} Unauthorized: the API server refused the credentials (expired or revoked token or certificate?): {message}"
            ),
            _ if retryable && attempt > 0 => {
                format!("{code} {reason}: {message} (after {attempt} retries)")
            }
            _ => format!("{code} {reason}: {message}"),
        };
        return Err(fail(Some(code), &reason, message));
    }
}

/// A transport failure, with the cause kube-rs and hyper nest inside (refused connection,
/// TLS verification, DNS).
fn transport_message(e: &kube::Error) -> String {
    let text = chain(e);
    let hint = if text.contains("certificate") || text.contains("InvalidCertificate") {
        " (TLS: the server's certificate is not trusted by the kubeconfig's certificate-authority)"
    } else if text.contains("onnection refused") || text.contains("dns error") {
        " (is the API server reachable from here?)"
    } else {
        ""
    };
    format!("cannot reach the API server: {text}{hint}")
}
