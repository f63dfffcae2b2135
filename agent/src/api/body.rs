//! Reading the body of an authenticated request: bounded in size and in time.
//!
//! The size limit is the largest body the conductor can legitimately send: `deploy.write_image`
//! with an inline config drive. Ironic accepts a config drive of at most
//! `[api]max_json_body_size_provision` = 64 MiB (`ironic/conf/api.py`, enforced by
//! `ironic/api/middleware/json_depth.py` on the provision-state request that carries it), and
//! the conductor puts it into the step up to three times: `args.configdrive`,
//! `args.image_info.configdrive` (`ironic/drivers/modules/agent.py: AgentDeploy.write_image`)
//! and the node's `instance_info.configdrive`
//! (`ironic/drivers/modules/agent_client.py: execute_deploy_step` sends
//! `node.as_dict(secure=True, mask_configdrive=False)`). Hence 3 × 64 MiB plus 1 MiB for the
//! rest of the request. Unauthenticated bodies are never read at all (`auth.rs`).
//!
//! In time: the body must keep arriving (no pause longer than [`BODY_IDLE_TIMEOUT`]) and be
//! complete within [`BODY_TOTAL_TIMEOUT`].

use super::fault::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use std::time::Duration;
use tokio::time::Instant;

/// Ironic's `[api]max_json_body_size_provision` default: the largest config drive it accepts.
pub const IRONIC_MAX_CONFIGDRIVE: usize = 64 * 1024 * 1024;

/// The largest request body the agent reads (see the module docs).
pub const MAX_BODY: usize = 3 * IRONIC_MAX_CONFIGDRIVE + 1024 * 1024;

/// The longest pause allowed while a body arrives.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest a whole body may take (193 MiB at 5 Mbit/s).
pub const BODY_TOTAL_TIMEOUT: Duration = Duration::from_secs(600);

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        413,
        format!("413 Request Entity Too Large: the request body exceeds {limit} bytes"),
    )
    .closing()
}

/// Reads the whole body, or answers 413 (too large; at once when `Content-Length` says so),
/// 408 (too slow) or 400 (the client went away mid-body).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let capacity = declared
        .map_or(0, |n| usize::try_from(n).unwrap_or(0))
        .min(1 << 20);
    let mut buf = Vec::with_capacity(capacity);
    let mut body = body;
    let deadline = Instant::now() + BODY_TOTAL_TIMEOUT;
    loop {
        let wait = BODY_IDLE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => {
                return Err(ApiError::new(
                    408,
                    "408 Request Timeout: the request body did not arrive in time",
                )
                .closing())
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(e))) => {
                return Err(ApiError::new(
                    400,
                    format!("400 Bad Request: could not read the request body: {e}"),
                )
                .closing())
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_are_enforced() {
        let h = HeaderMap::new();
        let ok = read_body(&h, Body::from("hello"), 5).await.unwrap();
        assert_eq!(&ok[..], b"hello");
        let e = read_body(&h, Body::from("hello!"), 5).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 413);
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, "6".parse().unwrap());
        let e = read_body(&h, Body::empty(), 5).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 413);
        assert!(e.close);
        assert_eq!(MAX_BODY, 193 * 1024 * 1024);
    }
}
