//! The HTTP client of the HTTP sinks (hyper, rustls with the system's roots), and how an answer
//! becomes delivered, retried or rejected.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kubevigil_model::escape_controls;

use crate::SinkError;
use crate::worker::DeliveryError;

/// How much of an error answer's body is read for its reason.
const ERROR_BODY_MAX: usize = 4096;
/// How much of it the reason quotes.
const REASON_BODY_MAX: usize = 200;

/// A client for one sink's endpoint.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests give up after `timeout` (then retried like a 5xx).
    pub fn new(timeout: Duration) -> Result<HttpClient, SinkError> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            Err(e) => {
                // A container without CA certificates can still post to http:// sinks.
                tracing::warn!(error = %e, "no system CA certificates: https sinks will fail");
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| SinkError::Tls(e.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpClient { client, timeout })
    }

    /// POSTs `body` as JSON with `headers`; `Ok` on a 2xx.
    pub async fn post_json(
        &self,
        uri: &Uri,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("kubevigil/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| DeliveryError::Reject {
                reason: format!("cannot build the request: {e}"),
            })?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            if parts.status.is_success() {
                return Ok((parts.status, parts.headers, Bytes::new()));
            }
            let body = Limited::new(body, ERROR_BODY_MAX)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((parts.status, parts.headers, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(DeliveryError::Retry {
                reason: format!("no answer within {:?}", self.timeout),
                retry_after: None,
            }),
            Ok(Err(e)) => Err(DeliveryError::Retry {
                reason: error_chain(&e),
                retry_after: None,
            }),
            Ok(Ok((status, headers, body))) => classify(status, &headers, &body),
        }
    }
}

/// What an HTTP answer means for the notifications it answered.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let mut reason = format!("HTTP {status}");
    let text = String::from_utf8_lossy(&body[..body.len().min(REASON_BODY_MAX)]);
    let text = text.trim();
    if !text.is_empty() {
        // The sink's words are untrusted: they end up in logs and in `failures`.
        reason.push_str(": ");
        reason.push_str(&escape_controls(text));
    }
    let retryable = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    if retryable {
        Err(DeliveryError::Retry {
            reason,
            retry_after: headers.get(RETRY_AFTER).and_then(parse_retry_after),
        })
    } else {
        Err(DeliveryError::Reject { reason })
    }
}

/// `Retry-After`: delay-seconds, or an HTTP-date (RFC 9110, section 10.2.3).
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let s = value.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(s).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// An error and its sources, `: `-separated (hyper's own message is only "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    escape_controls(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Result<(), DeliveryError> {
        let mut headers = HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        classify(StatusCode::from_u16(status).unwrap(), &headers, b"")
    }

    fn retry_after(r: Result<(), DeliveryError>) -> Option<Duration> {
        match r {
            Err(DeliveryError::Retry { retry_after, .. }) => retry_after,
            other => panic!("not retried: {other:?}"),
        }
    }

    #[test]
    fn which_answers_are_retried() {
        assert_eq!(answer(200, None), Ok(()));
        assert_eq!(answer(202, None), Ok(()));
        for status in [500, 502, 503, 504, 429, 408] {
            assert!(
                matches!(answer(status, None), Err(DeliveryError::Retry { .. })),
                "{status}"
            );
        }
        // A redirect is not followed: the configured URL is wrong, which retrying won't fix.
        for status in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(
                matches!(answer(status, None), Err(DeliveryError::Reject { .. })),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(
            retry_after(answer(429, Some("120"))),
            Some(Duration::from_secs(120))
        );
        let in_a_minute = std::time::SystemTime::now() + Duration::from_secs(60);
        let date = httpdate::fmt_http_date(in_a_minute);
        let d = retry_after(answer(503, Some(&date))).unwrap();
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(60),
            "{d:?}"
        );
        // A date past: now.
        let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
        assert_eq!(retry_after(answer(503, Some(&past))), Some(Duration::ZERO));
        assert_eq!(retry_after(answer(503, Some("soon"))), None);
    }
}
