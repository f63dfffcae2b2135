//! The IPA HTTP API (`ironic_python_agent/api/app.py`): the routes the conductor calls,
//! exactly its result objects, status codes and error bodies (`fault.rs`). Command routes
//! check the token before anything else (`auth.rs`); bodies are bounded (`body.rs`).

mod auth;
mod body;
mod fault;

use crate::agent::{Agent, AGENT_VERSION};
use crate::commands;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap};
use axum::routing::get;
use axum::{Json, Router};
use fault::ApiError;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Clone)]
pub struct ApiState {
    pub agent: Arc<Agent>,
    /// "http" or "https", for the links in the root documents.
    pub scheme: &'static str,
    refusals: Arc<auth::RefusalLog>,
}

impl ApiState {
    pub fn new(agent: Arc<Agent>, scheme: &'static str) -> Self {
        ApiState {
            agent,
            scheme,
            refusals: Arc::default(),
        }
    }
}

pub fn router(state: ApiState) -> Router {
    // The token check wraps the handlers of the command routes only (not the 405 of a wrong
    // method, as IPA's routing answers that before the view).
    let guard = || axum::middleware::from_fn_with_state(state.clone(), auth::require_token);
    let collection = get(list_commands).post(run_command).route_layer(guard());
    let one = get(get_command).route_layer(guard());
    Router::new()
        .route("/", get(root_doc))
        .route("/v1", get(v1_doc))
        .route("/v1/", get(v1_doc))
        .route("/status", get(status))
        .route("/v1/status", get(status))
        .route("/commands", collection.clone())
        .route("/commands/", collection.clone())
        .route("/v1/commands", collection.clone())
        .route("/v1/commands/", collection)
        .route("/commands/{id}", one.clone())
        .route("/v1/commands/{id}", one)
        .fallback(fault::not_found)
        .layer(axum::middleware::map_response(fault::json_errors))
        .with_state(state)
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

async fn list_commands(State(st): State<ApiState>) -> Json<Value> {
    st.agent.conductor_called();
    let commands: Vec<Value> = st.agent.store.all().iter().map(|s| s.to_json()).collect();
    Json(json!({"commands": commands}))
}

async fn get_command(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    st.agent.conductor_called();
    let q = auth::parse_query(raw.as_deref());
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

/// Reached only with a valid token (the route layer checked it before the body was read).
async fn run_command(State(st): State<ApiState>, req: Request) -> Result<Json<Value>, ApiError> {
    st.agent.conductor_called();
    let q = auth::parse_query(req.uri().query());
    let (parts, body) = req.into_parts();
    let body = body::read_body(&parts.headers, body, body::MAX_BODY).await?;
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
    // A synchronous command is answered when it ends, as IPA does; an async one at once
    // unless the client asked to wait. Either way the command's task records the result,
    // whether or not this request is still there to see it.
    let snap = if q.wait || !commands::is_async(name) {
        rec.wait().await
    } else {
        rec.snapshot()
    };
    Ok(Json(snap.to_json()))
}
