//! Error answers. Every non-2xx response is IPA's (WSME's) `{"faultcode", "faultstring"}` with
//! a string faultstring, because the conductor reads it
//! (`ironic/drivers/modules/agent_client.py: AgentClient._command`).

use crate::errors::IpaError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An HTTP-level error: status and IPA/WSME body; `close` ends the connection after it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub faultstring: String,
    pub close: bool,
}

impl ApiError {
    pub fn new(status: u16, faultstring: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            faultstring: faultstring.into(),
            close: false,
        }
    }

    /// The connection is closed after this answer (an unread or partly read body).
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

impl From<IpaError> for ApiError {
    fn from(e: IpaError) -> Self {
        ApiError::new(e.class.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = fault(self.status, &self.faultstring);
        if self.close {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

pub fn fault(status: StatusCode, faultstring: &str) -> Response {
    let faultcode = if status.is_server_error() {
        "Server"
    } else {
        "Client"
    };
    (
        status,
        Json(json!({"faultcode": faultcode, "faultstring": faultstring})),
    )
        .into_response()
}

/// Framework-generated errors (405 with its Allow header, a bad path segment) come without an
/// IPA body; give them one, keeping their status and headers.
pub async fn json_errors(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status().as_u16() < 400 || is_json {
        return resp;
    }
    let status = resp.status();
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("Error");
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "The method is not allowed for the requested URL.".to_string()
        }
        _ => String::from_utf8_lossy(&text).trim().to_string(),
    };
    let new = fault(status, &format!("{} {reason}: {detail}", status.as_u16()));
    let (new_parts, new_body) = new.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        new_parts.headers[header::CONTENT_TYPE].clone(),
    );
    Response::from_parts(parts, new_body)
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        404,
        "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
    )
}
