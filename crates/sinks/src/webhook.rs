//! A generic JSON webhook: notifications POSTed as JSON, signed with HMAC-SHA256 so that the
//! receiver can tell they come from kubevigil.
//!
//! The body is `{"sentAt": RFC 3339, "notifications": [Notification, ...]}`; the header
//! `X-Kubevigil-Signature: sha256=<hex>` is the HMAC-SHA256 (RFC 2104) of the exact body bytes
//! under the shared secret. `sentAt` is inside the signed body, so a receiver can refuse old
//! replays. A receiver drops repeats by notification `id` (delivery is at least once).

use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{HeaderName, HeaderValue};
use kubevigil_model::time::format_rfc3339_ms;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::HttpClient;
use crate::notification::Notification;
use crate::worker::{DeliveryError, Sink};
use crate::{SinkError, now_ms, redacted_url_error};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-kubevigil-signature";

/// Where to post and the signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key shared with the receiver.
    pub secret: Vec<u8>,
    pub timeout: Duration,
    /// Notifications per request.
    pub max_batch: usize,
}

// By hand: the secret must never reach a log.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl WebhookConfig {
    pub fn new(url: &str, secret: &[u8]) -> WebhookConfig {
        WebhookConfig {
            url: url.to_string(),
            secret: secret.to_vec(),
            timeout: Duration::from_secs(10),
            max_batch: 64,
        }
    }
}

/// The signed JSON webhook sink.
pub struct Webhook {
    client: HttpClient,
    endpoint: Uri,
    config: WebhookConfig,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> Result<Webhook, SinkError> {
        let endpoint = config
            .url
            .parse::<Uri>()
            .map_err(|e| redacted_url_error(&e))?;
        Ok(Webhook {
            client: HttpClient::new(config.timeout)?,
            endpoint,
            config,
        })
    }
}

impl Sink for Webhook {
    fn max_batch(&self) -> usize {
        self.config.max_batch
    }

    async fn deliver(&self, batch: &[Notification]) -> Result<(), DeliveryError> {
        let body = json!({
            "sentAt": format_rfc3339_ms(now_ms()),
            "notifications": batch,
        })
        .to_string();
        let signature = signature_header(&self.config.secret, body.as_bytes());
        let header = HeaderValue::from_str(&signature).map_err(|e| DeliveryError::Reject {
            reason: format!("signature header: {e}"),
        })?;
        self.client
            .post_json(
                &self.endpoint,
                &[(HeaderName::from_static(SIGNATURE_HEADER), header)],
                Bytes::from(body),
            )
            .await
    }
}

/// `sha256=<hex HMAC-SHA256 of body>`.
pub fn signature_header(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        kubevigil_model::text::hex(&hmac_sha256(secret, body))
    )
}

/// HMAC-SHA256 (RFC 2104) on the workspace's `sha2`: the construction is a few lines, checked
/// against RFC 4231's test vectors below.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    use kubevigil_model::text::hex;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the block.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let config = WebhookConfig::new("http://x", b"s3cr3t-value");
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
