//! Reading a request body that a rule needs (the `remote` authorizer), bounded in size and
//! time: the proxy never holds more than the limit, and a client that trickles its body is
//! cut off.
use crate::pipeline::{ErrorKind, PipelineError};
use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use std::time::Duration;

use super::BoxError;

/// How much of a request body the proxy reads for a rule that needs it, and how long it
/// waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The most bytes read (more is 413 Payload Too Large). Default 1 MiB.
    pub max_bytes: usize,
    /// The longest wait for the whole body (longer is 408 Request Timeout). Default 10 s.
    pub timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

fn too_large() -> PipelineError {
    PipelineError::new(
        ErrorKind::PayloadTooLarge,
        "The request body is larger than this proxy accepts",
    )
}

/// Read `body` whole within `limits`: a declared length over the limit is refused before a
/// byte is read.
pub(crate) async fn read_bounded<B>(body: B, limits: BodyLimits) -> Result<Bytes, PipelineError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if body.size_hint().lower() > limits.max_bytes as u64 {
        return Err(too_large());
    }
    match tokio::time::timeout(
        limits.timeout,
        Limited::new(body, limits.max_bytes).collect(),
    )
    .await
    {
        Err(_) => Err(PipelineError::new(
            ErrorKind::RequestTimeout,
            "The request body did not arrive in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(PipelineError::new(
            ErrorKind::BadRequest,
            "The request body could not be read",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn limits(max_bytes: usize) -> BodyLimits {
        BodyLimits {
            max_bytes,
            timeout: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let body = Full::new(Bytes::from_static(b"hello"));
        assert_eq!(read_bounded(body, limits(5)).await.unwrap(), "hello");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_with_413() {
        let body = Full::new(Bytes::from(vec![0u8; 11]));
        let e = read_bounded(body, limits(10)).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_streamed_body_growing_past_the_limit_is_refused_with_413() {
        let chunks = (0..100).map(|_| {
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from_static(
                b"0123456789",
            )))
        });
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let e = read_bounded(body, limits(64)).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_body_that_never_finishes_is_cut_off_with_408() {
        let stalled = futures_util::stream::pending::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >();
        let body = StreamBody::new(stalled);
        let e = read_bounded(body, limits(64)).await.unwrap_err();
        assert_eq!(e.status(), http::StatusCode::REQUEST_TIMEOUT);
    }
}
