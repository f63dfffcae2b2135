//! The table of open API connections, and the cap on their number.
//!
//! Every accepted connection gets a slot. When the table is full, a new connection pushes out
//! the connection that matters least: one that has never carried an authenticated request and
//! is not serving one now, longest idle first; then authenticated but idle ones. A connection
//! serving an authenticated request is never pushed out. A burst of idle or unauthenticated
//! connections therefore cannot keep the conductor out: each of its connections finds a slot,
//! and once its request is authenticated it outranks every unauthenticated one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// At most this many connections are open at once (fewer when the open-file limit is low).
pub const MAX_CONNECTIONS: usize = 128;

/// File descriptors kept free for everything else: log files, the Ironic client, the pipes of
/// the tools the managers run.
pub const RESERVED_FDS: u64 = 64;

/// The cap for an open-file limit of `nofile`.
pub fn cap_for(nofile: u64) -> usize {
    let room = nofile.saturating_sub(RESERVED_FDS);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(4, MAX_CONNECTIONS)
}

/// One connection, as the serving loop and the API see it.
#[derive(Debug)]
pub struct Conn {
    pub id: u64,
    pub peer: SocketAddr,
    /// Milliseconds since the table's epoch of the last request start or end.
    last_active: AtomicU64,
    in_flight: AtomicUsize,
    authenticated: AtomicBool,
    shed: AtomicBool,
    shed_signal: Notify,
    epoch: Instant,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A request on this connection carried the right token.
    pub fn mark_authenticated(&self) {
        self.authenticated.store(true, Ordering::Relaxed);
    }

    /// Marks a request as being served until the guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.last_active.store(self.now_ms(), Ordering::Relaxed);
        RequestGuard(self.clone())
    }

    /// Resolves when the table chose this connection to make room for a new one.
    pub async fn shed(&self) {
        let notified = self.shed_signal.notified();
        if self.shed.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Lower sorts first when choosing whom to push out; `None` = never pushed out.
    fn shed_rank(&self) -> Option<(bool, bool, u64)> {
        let authenticated = self.authenticated.load(Ordering::Relaxed);
        let busy = self.in_flight.load(Ordering::Relaxed) > 0;
        if (authenticated && busy) || self.shed.load(Ordering::Relaxed) {
            return None;
        }
        Some((
            authenticated,
            busy,
            self.last_active.load(Ordering::Relaxed),
        ))
    }
}

pub struct RequestGuard(Arc<Conn>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.last_active.store(self.0.now_ms(), Ordering::Relaxed);
    }
}

pub struct ConnTable {
    cap: usize,
    epoch: Instant,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

/// Removes its connection from the table when the connection's task ends.
pub struct Slot {
    table: Arc<ConnTable>,
    pub conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.conn.id);
    }
}

impl ConnTable {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(ConnTable {
            cap: cap.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Gives a new connection a slot, pushing out another one when the table is full.
    /// `None` when every slot serves an authenticated request (the new one is closed).
    pub fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Slot> {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let open = conns
            .values()
            .filter(|c| !c.shed.load(Ordering::Relaxed))
            .count();
        if open >= self.cap {
            let victim = conns
                .values()
                .filter_map(|c| c.shed_rank().map(|rank| (rank, c)))
                .min_by_key(|(rank, c)| (*rank, c.id))
                .map(|(_, c)| c.clone())?;
            tracing::debug!(peer = %victim.peer, "connection limit reached: closing the least useful connection");
            victim.shed.store(true, Ordering::Release);
            victim.shed_signal.notify_waiters();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            peer,
            last_active: AtomicU64::new(
                u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            in_flight: AtomicUsize::new(0),
            authenticated: AtomicBool::new(false),
            shed: AtomicBool::new(false),
            shed_signal: Notify::new(),
            epoch: self.epoch,
        });
        conns.insert(id, conn.clone());
        Some(Slot {
            table: self.clone(),
            conn,
        })
    }

    /// Pushes out the least useful connection (used when accepting fails for lack of file
    /// descriptors).
    pub fn shed_one(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let victim = conns
            .values()
            .filter_map(|c| c.shed_rank().map(|rank| (rank, c)))
            .min_by_key(|(rank, c)| (*rank, c.id));
        match victim {
            Some((_, c)) => {
                c.shed.store(true, Ordering::Release);
                c.shed_signal.notify_waiters();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn caps_follow_the_open_file_limit() {
        assert_eq!(cap_for(1024), MAX_CONNECTIONS);
        assert_eq!(cap_for(100), 36);
        assert_eq!(cap_for(10), 4);
    }

    #[tokio::test]
    async fn a_full_table_pushes_out_unauthenticated_idle_connections_first() {
        let t = ConnTable::new(3);
        let conductor = t.admit(peer()).unwrap();
        conductor.conn.mark_authenticated();
        let busy = conductor.conn.request_started();
        let idle_authenticated = t.admit(peer()).unwrap();
        idle_authenticated.conn.mark_authenticated();
        let stranger = t.admit(peer()).unwrap();
        // Full: the stranger goes first, although it is the newest.
        let newcomer = t.admit(peer()).unwrap();
        stranger.conn.shed().await;
        assert!(stranger.conn.shed.load(Ordering::Relaxed));
        drop(stranger);
        // Next the newcomer (unauthenticated); with only authenticated ones left, the one
        // idle longest.
        let n2 = t.admit(peer()).unwrap();
        assert!(newcomer.conn.shed.load(Ordering::Relaxed));
        n2.conn.mark_authenticated();
        let _n3 = t.admit(peer()).unwrap();
        assert!(idle_authenticated.conn.shed.load(Ordering::Relaxed));
        assert!(!n2.conn.shed.load(Ordering::Relaxed));
        assert!(!conductor.conn.shed.load(Ordering::Relaxed));
        drop(busy);
    }

    #[test]
    fn busy_authenticated_connections_are_never_pushed_out() {
        let t = ConnTable::new(1);
        let c = t.admit(peer()).unwrap();
        c.conn.mark_authenticated();
        let _busy = c.conn.request_started();
        assert!(t.admit(peer()).is_none());
        assert!(!t.shed_one());
    }
}
