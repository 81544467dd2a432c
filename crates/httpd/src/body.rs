//! Request bodies read within limits a hostile or broken client cannot get around: a body
//! declared (`Content-Length`) or found larger than the limit is refused, the bytes of the
//! bodies being read at once come out of one budget (a client sending many large bodies at
//! once gets 503 instead of the server's memory), and a body must arrive within a deadline (a
//! client trickling it does not hold its connection and its share of the budget for ever).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRefused {
    /// Declared or found larger than the limit (413).
    TooLarge,
    /// Its bytes do not fit in what is left of the budget (503, `Retry-After`).
    Overloaded,
    /// Not received within the deadline (408).
    TimedOut,
    /// The connection failed while it was read (400).
    Read(String),
}

impl std::fmt::Display for BodyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyRefused::TooLarge => f.write_str("request body too large"),
            BodyRefused::Overloaded => f.write_str("too many request bytes in flight"),
            BodyRefused::TimedOut => f.write_str("request body not received in time"),
            BodyRefused::Read(e) => write!(f, "reading request body: {e}"),
        }
    }
}

/// The limits of the bodies of one server.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    max_body_bytes: usize,
    max_in_flight_bytes: usize,
    deadline: Duration,
    budget: Arc<Semaphore>,
}

impl BodyLimits {
    /// Bodies of at most `max_body_bytes`, at most `max_in_flight_bytes` of them read at once,
    /// each received within `deadline`.
    pub fn new(max_body_bytes: usize, max_in_flight_bytes: usize, deadline: Duration) -> Self {
        let max_in_flight_bytes = max_in_flight_bytes.min(Semaphore::MAX_PERMITS);
        BodyLimits {
            max_body_bytes,
            max_in_flight_bytes,
            deadline,
            budget: Arc::new(Semaphore::new(max_in_flight_bytes)),
        }
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The budget: bytes the bodies being read may hold together.
    pub fn max_in_flight_bytes(&self) -> usize {
        self.max_in_flight_bytes
    }

    /// Bytes of the budget held now.
    pub fn in_flight_bytes(&self) -> usize {
        self.max_in_flight_bytes
            .saturating_sub(self.budget.available_permits())
    }

    /// `n` bytes of the budget, if that many are left; given back when the permit is dropped.
    pub fn reserve(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok()?;
        self.budget.clone().try_acquire_many_owned(n).ok()
    }

    /// The body's declared length (`Content-Length`), if it has one.
    pub fn declared(headers: &HeaderMap) -> Option<u64> {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
    }

    /// Whether a body of `declared` length is refused before a byte of it is read.
    pub fn declared_too_large(&self, declared: Option<u64>) -> bool {
        declared.is_some_and(|n| n > self.max_body_bytes as u64)
    }

    /// Reads the body whose headers are `headers`: its bytes, and their share of the budget
    /// (the declared length, or the most a body may have), to be held while the bytes are. A
    /// body refused before it is read is read and discarded in the background
    /// ([`BodyLimits::discard`]), so that the client reads the answer.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(Bytes, OwnedSemaphorePermit), BodyRefused> {
        let declared = Self::declared(headers);
        if self.declared_too_large(declared) {
            self.discard(body);
            return Err(BodyRefused::TooLarge);
        }
        let share = declared.map_or(self.max_body_bytes, |n| n as usize);
        let Some(permit) = self.reserve(share) else {
            self.discard(body);
            return Err(BodyRefused::Overloaded);
        };
        let bytes = self.read_reserved(body).await?;
        Ok((bytes, permit))
    }

    /// Reads a body whose bytes are already reserved: at most `max_body_bytes`, within the
    /// deadline.
    pub async fn read_reserved(&self, body: Body) -> Result<Bytes, BodyRefused> {
        match tokio::time::timeout(
            self.deadline,
            axum::body::to_bytes(body, self.max_body_bytes),
        )
        .await
        {
            Err(_) => Err(BodyRefused::TimedOut),
            Ok(Err(e)) => {
                let too_long = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                Err(if too_long {
                    BodyRefused::TooLarge
                } else {
                    BodyRefused::Read(e.to_string())
                })
            }
            Ok(Ok(b)) => Ok(b),
        }
    }

    /// Reads and discards a refused request's body in the background, at most `max_body_bytes`
    /// within the deadline. The answer goes out at once; closing a connection with unread data
    /// would reset it under the answer, and a drained HTTP/1.1 connection stays usable.
    pub fn discard(&self, mut body: Body) {
        let limit = self.max_body_bytes;
        tokio::spawn(tokio::time::timeout(self.deadline, async move {
            let mut read = 0;
            while let Some(Ok(frame)) = body.frame().await {
                read += frame.data_ref().map_or(0, |d| d.len());
                if read > limit {
                    break;
                }
            }
        }));
    }
}
