//! Command results in submission order. The conductor reads the LAST one to know where a
//! step stands (`ironic/drivers/modules/agent_base.py: _get_completed_command` looks at
//! `commands[-1]`), so only the newest ones matter.
//!
//! Where we differ from IPA: IPA keeps every result for the life of the process. We keep the
//! newest [`HISTORY_LEN`] results, and fewer when their results together exceed
//! [`HISTORY_BYTES`]; a running command and the newest one are never dropped. A dropped id
//! answers like an id IPA never had (404, `RequestedObjectNotFoundError`).

use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// How many command results are kept.
pub const HISTORY_LEN: usize = 100;

/// How many bytes of results (serialized `command_result` + `command_error`) are kept. At
/// least one full `log.collect_system_logs` answer fits (see `syslogs.rs`).
pub const HISTORY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    /// IPA's spelling, which the conductor accepts.
    VersionMismatch,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::VersionMismatch => "CLEAN_VERSION_MISMATCH",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub command_name: String,
    pub status: Status,
    pub error: Option<Value>,
    pub result: Option<Value>,
}

impl Snapshot {
    /// Exactly IPA's serialization: these five keys in this order, nothing else.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "command_name": self.command_name,
            "command_status": self.status.as_str(),
            "command_error": self.error,
            "command_result": self.result,
        })
    }
}

/// One command's result; the task running the command updates it when it ends, and waiters
/// are woken.
#[derive(Debug)]
pub struct CommandRecord {
    id: String,
    tx: watch::Sender<Snapshot>,
    /// Serialized size of the result and error, known once finished.
    bytes: AtomicUsize,
}

impl CommandRecord {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let id = snapshot.id.clone();
        let (tx, _) = watch::channel(snapshot);
        Arc::new(CommandRecord {
            id,
            tx,
            bytes: AtomicUsize::new(0),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn snapshot(&self) -> Snapshot {
        self.tx.borrow().clone()
    }

    pub fn is_running(&self) -> bool {
        self.tx.borrow().status == Status::Running
    }

    pub fn finish(&self, status: Status, result: Option<Value>, error: Option<Value>) {
        let size = |v: &Option<Value>| v.as_ref().map_or(0, json_size);
        self.bytes
            .store(size(&result) + size(&error), Ordering::Relaxed);
        self.tx.send_modify(|s| {
            s.status = status;
            s.result = result;
            s.error = error;
        });
    }

    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits until the command is no longer RUNNING and returns its final state.
    pub async fn wait(&self) -> Snapshot {
        let mut rx = self.tx.subscribe();
        let done = rx.wait_for(|s| s.status != Status::Running).await;
        match done {
            Ok(s) => s.clone(),
            Err(_) => self.snapshot(),
        }
    }
}

/// The size of a JSON value once serialized, without building the string.
fn json_size(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

#[derive(Debug)]
pub struct CommandStore {
    records: Mutex<VecDeque<Arc<CommandRecord>>>,
    max_len: usize,
    max_bytes: usize,
}

impl Default for CommandStore {
    fn default() -> Self {
        CommandStore::with_limits(HISTORY_LEN, HISTORY_BYTES)
    }
}

impl CommandStore {
    pub fn with_limits(max_len: usize, max_bytes: usize) -> Self {
        CommandStore {
            records: Mutex::new(VecDeque::new()),
            max_len: max_len.max(1),
            max_bytes,
        }
    }

    /// Appends a record, then drops the oldest finished ones beyond the limits.
    pub fn push(&self, r: Arc<CommandRecord>) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.push_back(r);
        let mut bytes: usize = records.iter().map(|r| r.bytes()).sum();
        let mut i = 0;
        // The newest record (the one the conductor reads) is never dropped.
        while i + 1 < records.len() && (records.len() > self.max_len || bytes > self.max_bytes) {
            if records[i].is_running() {
                i += 1;
                continue;
            }
            if let Some(old) = records.remove(i) {
                bytes = bytes.saturating_sub(old.bytes());
                tracing::debug!(id = old.id(), "dropped an old command result");
            }
        }
    }

    pub fn last(&self) -> Option<Arc<CommandRecord>> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .back()
            .cloned()
    }

    pub fn get(&self, id: &str) -> Option<Arc<CommandRecord>> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|r| r.id() == id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Snapshot> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| r.snapshot())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serializes_in_ipa_order_and_waits() {
        let r = CommandRecord::new(Snapshot {
            id: "x".into(),
            command_name: "execute_clean_step".into(),
            status: Status::Running,
            error: None,
            result: None,
        });
        let keys: Vec<String> = r
            .snapshot()
            .to_json()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "command_name",
                "command_status",
                "command_error",
                "command_result"
            ]
        );
        let r2 = r.clone();
        let waiter = tokio::spawn(async move { r2.wait().await });
        r.finish(Status::Succeeded, Some(json!({"a": 1})), None);
        let s = waiter.await.unwrap();
        assert_eq!(s.to_json()["command_status"], "SUCCEEDED");
        assert_eq!(s.to_json()["command_result"], json!({"a": 1}));
    }

    fn record(id: &str) -> Arc<CommandRecord> {
        CommandRecord::new(Snapshot {
            id: id.into(),
            command_name: "x".into(),
            status: Status::Running,
            error: None,
            result: None,
        })
    }

    fn ids(store: &CommandStore) -> Vec<String> {
        store.all().into_iter().map(|s| s.id).collect()
    }

    #[test]
    fn history_keeps_the_newest_and_anything_running() {
        let store = CommandStore::with_limits(3, usize::MAX);
        let running = record("running");
        store.push(running.clone());
        for i in 0..5 {
            let r = record(&i.to_string());
            r.finish(Status::Succeeded, None, None);
            store.push(r);
        }
        assert_eq!(ids(&store), ["running", "3", "4"]);
        assert!(store.get("0").is_none());
        running.finish(Status::Succeeded, None, None);
        store.push(record("5"));
        assert_eq!(ids(&store), ["3", "4", "5"]);
    }

    #[test]
    fn history_is_bounded_in_bytes_but_keeps_the_last() {
        let store = CommandStore::with_limits(100, 1000);
        for i in 0..3 {
            let r = record(&i.to_string());
            r.finish(Status::Succeeded, Some(json!("x".repeat(600))), None);
            store.push(r);
        }
        assert_eq!(ids(&store), ["2"]);
        assert_eq!(json_size(&json!({"a": [1, "b"]})), r#"{"a":[1,"b"]}"#.len());
    }
}
