//! The IPA HTTP API (`ipa-protocol.md` section 1): the routes the conductor calls, exactly
//! its result objects, status codes and error bodies. Every non-2xx response is
//! `{"faultcode", "faultstring"}` with a string faultstring, because the conductor reads it.

use crate::agent::{Agent, AGENT_VERSION};
use crate::commands;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hwmgr::AgentError;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Clone)]
pub struct ApiState {
    pub agent: Arc<Agent>,
    /// "http" or "https", for the links in the root documents.
    pub scheme: &'static str,
}

/// An HTTP-level error: status and IPA/WSME body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub faultstring: String,
}

impl ApiError {
    fn new(status: u16, faultstring: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            faultstring: faultstring.into(),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        ApiError::new(e.kind.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        fault(self.status, &self.faultstring)
    }
}

fn fault(status: StatusCode, faultstring: &str) -> Response {
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

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(root_doc))
        .route("/v1", get(v1_doc))
        .route("/v1/", get(v1_doc))
        .route("/status", get(status))
        .route("/v1/status", get(status))
        .route("/commands", get(list_commands).post(run_command))
        .route("/commands/", get(list_commands).post(run_command))
        .route("/v1/commands", get(list_commands).post(run_command))
        .route("/v1/commands/", get(list_commands).post(run_command))
        .route("/commands/{id}", get(get_command))
        .route("/v1/commands/{id}", get(get_command))
        .fallback(not_found)
        .layer(axum::middleware::map_response(json_errors))
        .layer(DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(state)
}

/// Framework-generated errors (405 with its Allow header, a bad path segment, an oversized
/// body) come without an IPA body; give them one, keeping their status and headers.
async fn json_errors(resp: Response) -> Response {
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

async fn not_found() -> ApiError {
    ApiError::new(
        404,
        "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
    )
}

fn base_url(st: &ApiState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{}://{host}", st.scheme)
}

fn version_links(root: &str) -> Value {
    json!([
        {"href": format!("{root}/v1"), "rel": "self"},
        {"href": "https://docs.openstack.org/ironic-python-agent/", "rel": "describedby", "type": "text/html"}
    ])
}

async fn root_doc(State(st): State<ApiState>, headers: HeaderMap) -> Json<Value> {
    let root = base_url(&st, &headers);
    let v1 = json!({"id": "v1", "links": version_links(&root)});
    Json(json!({
        "name": "OpenStack Ironic Python Agent API",
        "description": "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
        "versions": [v1.clone()],
        "default_version": v1,
    }))
}

async fn v1_doc(State(st): State<ApiState>, headers: HeaderMap) -> Json<Value> {
    let root = base_url(&st, &headers);
    Json(json!({
        "commands": [{"href": format!("{root}/v1/commands"), "rel": "self"},
                     {"href": format!("{root}/commands"), "rel": "bookmark"}],
        "status": [{"href": format!("{root}/v1/status"), "rel": "self"},
                   {"href": format!("{root}/status"), "rel": "bookmark"}],
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.ironic-python-agent.v1+json"}],
        "id": "v1",
        "links": version_links(&root),
    }))
}

async fn status(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({"started_at": st.agent.started_at, "version": AGENT_VERSION}))
}

/// The query parameters that matter: `wait` (only a case-insensitive `true` waits) and
/// `agent_token`.
struct Query {
    wait: bool,
    token: Option<String>,
}

fn parse_query(raw: Option<String>) -> Query {
    let mut q = Query {
        wait: false,
        token: None,
    };
    for pair in raw.as_deref().unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "wait" => q.wait = v.eq_ignore_ascii_case("true"),
            "agent_token" => q.token = Some(v),
            _ => {}
        }
    }
    q
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match bytes[i] {
            b'%' if i + 2 < bytes.len() => hex(bytes[i + 1])
                .zip(hex(bytes[i + 2]))
                .map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (bytes[i], decoded) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn require_token(st: &ApiState, q: &Query) -> Result<(), ApiError> {
    if st.agent.token_matches(q.token.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::new(401, "401 Unauthorized: Token invalid."))
    }
}

async fn list_commands(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    require_token(&st, &parse_query(raw))?;
    let commands: Vec<Value> = st.agent.store.all().iter().map(|s| s.to_json()).collect();
    Ok(Json(json!({"commands": commands})))
}

async fn get_command(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q = parse_query(raw);
    require_token(&st, &q)?;
    let Some(rec) = st.agent.store.get(&id) else {
        return Err(ApiError::new(
            404,
            format!("Not found: Command Result with id {id} not found."),
        ));
    };
    let snap = if q.wait {
        rec.wait().await
    } else {
        rec.snapshot()
    };
    Ok(Json(snap.to_json()))
}

async fn run_command(
    State(st): State<ApiState>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let q = parse_query(raw);
    // The token is checked before the body is even parsed (bad token + bad body = 401).
    require_token(&st, &q)?;
    let parsed: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            400,
            format!("400 Bad Request: Failed to decode JSON object: {e}"),
        )
    })?;
    let (Some(Value::String(name)), Some(Value::Object(params))) =
        (parsed.get("name"), parsed.get("params"))
    else {
        return Err(ApiError::new(
            400,
            "400 Bad Request: Missing or invalid name or params",
        ));
    };
    let rec = commands::submit(&st.agent, name, params.clone()).await?;
    let snap = if q.wait {
        rec.wait().await
    } else {
        rec.snapshot()
    };
    Ok(Json(snap.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("wait=TRUE&agent_token=a%2Bb%3D".into()));
        assert!(q.wait);
        assert_eq!(q.token.as_deref(), Some("a+b="));
        assert!(!parse_query(Some("wait=1".into())).wait);
        assert!(parse_query(None).token.is_none());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
