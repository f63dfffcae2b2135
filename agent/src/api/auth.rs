//! The token check, before anything else of a request is looked at: a request to a command
//! route without the right `agent_token` gets 401 before its body is read (the body is never
//! buffered; the connection is closed after the answer). Refusals are logged with the source
//! address and the route, at most one line per [`REFUSAL_LOG_INTERVAL`] with a count of the
//! ones in between, so a flood cannot fill the log.
//!
//! The query string is parsed with `url::form_urlencoded` (as browsers and werkzeug do: `+` is a
//! space, `%XX` decoded). As IPA (werkzeug's `request.args.get`), the FIRST value of a
//! repeated parameter counts.

use super::fault::ApiError;
use super::ApiState;
use crate::server::ConnInfo;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one log line about refused requests per this interval.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The query parameters that matter: `wait` (only a case-insensitive `true` waits) and
/// `agent_token`.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    pub wait: bool,
    pub token: Option<String>,
}

pub fn parse_query(raw: Option<&str>) -> Query {
    let mut wait = None;
    let mut token = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "wait" if wait.is_none() => wait = Some(v.eq_ignore_ascii_case("true")),
            "agent_token" if token.is_none() => token = Some(v.into_owned()),
            _ => {}
        }
    }
    Query {
        wait: wait.unwrap_or(false),
        token,
    }
}

/// Rate-limited logging of refused requests.
#[derive(Default)]
pub struct RefusalLog {
    state: Mutex<RefusalState>,
}

#[derive(Default)]
struct RefusalState {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    pub fn refused(&self, peer: &str, method: &str, route: &str) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if s.last_logged
            .is_some_and(|t| now < t + REFUSAL_LOG_INTERVAL)
        {
            s.unlogged += 1;
            return;
        }
        let more = std::mem::take(&mut s.unlogged);
        s.last_logged = Some(now);
        drop(s);
        if more > 0 {
            tracing::warn!(%peer, %method, %route, "refused a request without a valid agent token (401), and {more} more since the last such message");
        } else {
            tracing::warn!(%peer, %method, %route, "refused a request without a valid agent token (401)");
        }
    }
}

/// Middleware of the command routes: the token first.
pub async fn require_token(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let q = parse_query(req.uri().query());
    let conn = req.extensions().get::<ConnInfo>().cloned();
    if st.agent.token_matches(q.token.as_deref()) {
        if let Some(ConnInfo(c)) = &conn {
            c.mark_authenticated();
        }
        return next.run(req).await;
    }
    let peer = conn.map_or_else(|| "unknown".to_string(), |ConnInfo(c)| c.peer.to_string());
    st.refusals
        .refused(&peer, req.method().as_str(), req.uri().path());
    // The body stays unread; hyper drains only what already arrived, then closes.
    ApiError::new(401, "401 Unauthorized: Token invalid.")
        .closing()
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("wait=TRUE&agent_token=a%2Bb%3D"));
        assert!(q.wait);
        assert_eq!(q.token.as_deref(), Some("a+b="));
        assert!(!parse_query(Some("wait=1")).wait);
        assert!(parse_query(None).token.is_none());
        assert_eq!(
            parse_query(Some("agent_token=100%")).token.as_deref(),
            Some("100%")
        );
        assert_eq!(
            parse_query(Some("agent_token=a+b")).token.as_deref(),
            Some("a b")
        );
    }

    #[test]
    fn the_first_value_wins_as_in_ipa() {
        let q = parse_query(Some(
            "agent_token=first&agent_token=second&wait=true&wait=false",
        ));
        assert_eq!(q.token.as_deref(), Some("first"));
        assert!(q.wait);
        assert_eq!(
            parse_query(Some("agent_token=&agent_token=x"))
                .token
                .as_deref(),
            Some("")
        );
    }
}
