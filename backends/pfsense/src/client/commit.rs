//! One apply for many writes: the client's pending changes and the
//! coalesced `POST /api/v2/firewall/apply`.
//!
//! pfSense-pkg-RESTAPI writes rules and aliases to the configuration only;
//! nothing is live until the filter is reloaded. Rule writes mark nothing
//! pending on the box (`FirewallRule` has no `subsystem`), so `GET
//! /api/v2/firewall/apply` may say `applied: true` while they are not live,
//! and the alias flag an apply leaves set means nothing either: the client
//! keeps its own account.
//!
//! Every write made through the client bumps a generation counter. A
//! resource opens a [`Session`] before its writes and ends with
//! [`Committer::commit`], which returns once an apply that started after its
//! last write has finished. Commits coalesce:
//!
//! - while another session is still writing, a commit waits for it (the
//!   last writer out applies for everyone);
//! - the last one waits a short settle time ([`SETTLE`]) for sessions that
//!   are about to start (Terraform starts independent resources together);
//! - one apply covers every write made before it started; the commits it
//!   covers share its result, success or pfSense's error message.
//!
//! Limit: a resource Terraform starts only after another one finished (it
//! depends on it, e.g. a ruleset that names an alias) cannot join that one's
//! apply; such a run applies once per dependency level that changed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// How long the last commit waits for more sessions before applying.
pub const SETTLE: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct State {
    /// Generation of the last write.
    written: u64,
    /// Every write up to this generation is live.
    applied: u64,
    /// Sessions still writing.
    active: usize,
    /// The last failed apply: it covered writes up to this generation.
    failed: Option<(u64, String)>,
    /// Applies sent by this process.
    applies: u64,
}

/// The pending-change account of one client (one provider process).
#[derive(Debug)]
pub struct Committer {
    state: Mutex<State>,
    /// Bumped on every change of `state`, for waiters.
    tick: watch::Sender<u64>,
    /// One apply at a time.
    applying: tokio::sync::Mutex<()>,
    settle: Duration,
}

impl Default for Committer {
    fn default() -> Self {
        Self::new(SETTLE)
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The session wrote nothing (and no apply was asked for).
    Nothing,
    /// An apply that covers the session's writes succeeded (this commit's,
    /// or one it shared).
    Applied,
}

impl Committer {
    /// An empty account whose last commit waits `settle` for more sessions
    /// ([`SETTLE`] by default).
    pub fn new(settle: Duration) -> Self {
        let (tick, _) = watch::channel(0);
        Self {
            state: Mutex::new(State::default()),
            tick,
            applying: tokio::sync::Mutex::new(()),
            settle,
        }
    }

    fn changed(&self) {
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// Start a session (a resource's writes).
    pub fn session(self: &Arc<Self>) -> Session {
        lock(&self.state).active += 1;
        self.changed();
        Session {
            committer: Arc::clone(self),
            last: 0,
            open: true,
        }
    }

    /// Count a write (made, or possibly made: a lost answer counts).
    pub(crate) fn wrote(&self) -> u64 {
        let g = {
            let mut s = lock(&self.state);
            s.written += 1;
            s.written
        };
        self.changed();
        g
    }

    /// Applies sent so far by this process.
    pub fn applies(&self) -> u64 {
        lock(&self.state).applies
    }

    /// End `session` and make its writes live: wait for the other sessions
    /// and a settle time, then apply once for all (or share an apply that
    /// covers them). `force`: apply even if the session wrote nothing (a
    /// change an earlier run left unapplied).
    pub async fn commit<F, Fut>(
        &self,
        mut session: Session,
        force: bool,
        apply: F,
    ) -> Result<Committed, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut target = session.last;
        session.close();
        if target == 0 {
            if !force {
                return Ok(Committed::Nothing);
            }
            target = self.wrote();
        }
        let mut rx = self.tick.subscribe();
        loop {
            let (active, written) = {
                let s = lock(&self.state);
                if s.applied >= target {
                    return Ok(Committed::Applied);
                }
                if let Some((upto, msg)) = &s.failed
                    && *upto >= target
                {
                    return Err(msg.clone());
                }
                (s.active, s.written)
            };
            if active > 0 {
                // Another resource is still writing: its commit (or ours,
                // whichever is last) applies for both.
                let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
                continue;
            }
            tokio::time::sleep(self.settle).await;
            {
                let s = lock(&self.state);
                if s.active > 0 || s.written != written {
                    continue;
                }
            }
            let _guard = self.applying.lock().await;
            let upto = {
                let s = lock(&self.state);
                if s.applied >= target {
                    return Ok(Committed::Applied);
                }
                if let Some((upto, msg)) = &s.failed
                    && *upto >= target
                {
                    return Err(msg.clone());
                }
                if s.active > 0 {
                    continue;
                }
                s.written
            };
            lock(&self.state).applies += 1;
            let result = apply().await;
            {
                let mut s = lock(&self.state);
                match &result {
                    Ok(()) => {
                        s.applied = s.applied.max(upto);
                        if s.failed.as_ref().is_some_and(|(u, _)| *u <= upto) {
                            s.failed = None;
                        }
                    }
                    Err(msg) => s.failed = Some((upto, msg.clone())),
                }
            }
            self.changed();
            return result.map(|()| Committed::Applied);
        }
    }
}

/// One resource's writes. Dropping it without [`Committer::commit`] (an
/// error on the way) ends it; its writes stay pending for a later apply.
#[derive(Debug)]
pub struct Session {
    committer: Arc<Committer>,
    last: u64,
    open: bool,
}

impl Session {
    /// Record a write of this session.
    pub(crate) fn wrote(&mut self) {
        self.last = self.committer.wrote();
    }

    /// Whether this session wrote anything.
    pub fn has_writes(&self) -> bool {
        self.last > 0
    }

    fn close(&mut self) {
        if self.open {
            self.open = false;
            lock(&self.committer.state).active -= 1;
            self.committer.changed();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn counter() -> (
        Arc<AtomicU64>,
        impl Fn() -> std::future::Ready<Result<(), String>>,
    ) {
        let n = Arc::new(AtomicU64::new(0));
        let m = Arc::clone(&n);
        (n, move || {
            m.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(()))
        })
    }

    #[tokio::test]
    async fn nothing_written_is_no_apply() {
        let c = Arc::new(Committer::new(Duration::from_millis(5)));
        let (n, apply) = counter();
        let s = c.session();
        assert_eq!(c.commit(s, false, &apply).await, Ok(Committed::Nothing));
        assert_eq!(n.load(Ordering::SeqCst), 0);
        let s = c.session();
        assert_eq!(c.commit(s, true, &apply).await, Ok(Committed::Applied));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_sessions_share_one_apply() {
        let c = Arc::new(Committer::new(Duration::from_millis(20)));
        let (n, apply) = counter();
        let apply = Arc::new(apply);
        let mut tasks = Vec::new();
        for i in 0..5u64 {
            let c = Arc::clone(&c);
            let apply = Arc::clone(&apply);
            let mut s = c.session();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(3 * i)).await;
                s.wrote();
                c.commit(s, false, || apply()).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(Committed::Applied));
        }
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert_eq!(c.applies(), 1);
        // A later write needs a new apply.
        let mut s = c.session();
        s.wrote();
        c.commit(s, false, || apply()).await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_apply_fails_every_commit_it_covered() {
        let c = Arc::new(Committer::new(Duration::from_millis(10)));
        let fail = || std::future::ready(Err::<(), String>("filter reload refused".into()));
        let mut a = c.session();
        let mut b = c.session();
        a.wrote();
        b.wrote();
        let c2 = Arc::clone(&c);
        let t = tokio::spawn(async move { c2.commit(b, false, fail).await });
        let r = c.commit(a, false, fail).await;
        assert_eq!(r, Err("filter reload refused".to_string()));
        assert_eq!(t.await.unwrap(), Err("filter reload refused".to_string()));
        assert_eq!(c.applies(), 1);
        // The next write retries.
        let (n, ok) = counter();
        let mut s = c.session();
        s.wrote();
        assert_eq!(c.commit(s, false, ok).await, Ok(Committed::Applied));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_dropped_session_does_not_block_others() {
        let c = Arc::new(Committer::new(Duration::from_millis(5)));
        let (n, apply) = counter();
        let mut broken = c.session();
        broken.wrote();
        drop(broken);
        let mut s = c.session();
        s.wrote();
        assert_eq!(c.commit(s, false, apply).await, Ok(Committed::Applied));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }
}
