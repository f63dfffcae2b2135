//! Command results, kept in submission order for the life of the process (as IPA does: the
//! conductor reads the LAST one to know where a step stands).

use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

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

/// One command's result; async commands update it when they finish, and waiters are woken.
#[derive(Debug)]
pub struct CommandRecord {
    tx: watch::Sender<Snapshot>,
}

impl CommandRecord {
    pub fn new(snapshot: Snapshot) -> Arc<Self> {
        let (tx, _) = watch::channel(snapshot);
        Arc::new(CommandRecord { tx })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.tx.borrow().clone()
    }

    pub fn finish(&self, status: Status, result: Option<Value>, error: Option<Value>) {
        self.tx.send_modify(|s| {
            s.status = status;
            s.result = result;
            s.error = error;
        });
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

#[derive(Debug, Default)]
pub struct CommandStore {
    records: Mutex<Vec<Arc<CommandRecord>>>,
}

impl CommandStore {
    pub fn push(&self, r: Arc<CommandRecord>) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }

    pub fn last(&self) -> Option<Arc<CommandRecord>> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
    }

    pub fn get(&self, id: &str) -> Option<Arc<CommandRecord>> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|r| r.snapshot().id == id)
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
}
