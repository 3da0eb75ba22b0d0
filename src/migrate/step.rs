//! Where a migrate or rollback run is, so that a run cut off by its deadline can say where it
//! stopped and what it had finished. The command opens a scope around the run; the engines say
//! where they are with [`enter`] and [`finished`], which do nothing outside a scope (a unit test,
//! a preflight check reusing an engine).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    now: String,
    finished: Vec<String>,
    /// When the run's deadline expires, when it has one.
    ends: Option<Instant>,
}

/// The shared record of one run's progress.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Mutex<State>>);

tokio::task_local! {
    static CURRENT: Progress;
}

impl Progress {
    /// Runs `work` with this position as the one [`enter`] and [`finished`] update.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.clone(), work).await
    }

    /// The step the run was in last ("waiting for the lock", "applying 003_x: statement 2 …").
    pub fn now(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).now.clone()
    }

    /// What the run completed, in order (versions applied or reverted).
    pub fn finished(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
            .clone()
    }
}

/// Records the step the run enters now.
pub fn enter(step: impl Into<String>) {
    let step = step.into();
    let _ = CURRENT.try_with(|p| p.0.lock().unwrap_or_else(|e| e.into_inner()).now = step);
}

/// Records that `what` completed (committed, or recorded statement by statement).
pub fn finished(what: impl Into<String>) {
    let what = what.into();
    let _ = CURRENT.try_with(|p| {
        p.0.lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
            .push(what)
    });
}

/// The time left before the run's deadline (`None`: no deadline, or outside a run): a step
/// that must clean up after itself (a throwaway database) fits its work into it.
pub fn remaining() -> Option<Duration> {
    CURRENT
        .try_with(|p| p.0.lock().unwrap_or_else(|e| e.into_inner()).ends)
        .ok()
        .flatten()
        .map(|ends| ends.saturating_duration_since(Instant::now()))
}

/// A run cut off by its deadline: where it was and what it had finished.
#[derive(Debug)]
pub struct Stopped {
    pub after: Duration,
    pub step: String,
    pub finished: Vec<String>,
}

/// Runs the database part of `migrate` or `rollback` within the run's deadline, keeping track of
/// its step. On expiry the work is dropped, which closes its connection: the server rolls back
/// the transaction in flight and frees the session lock, and a running `pg_dump` is killed
/// (`kill_on_drop`). What committed before stays, and the history says so truthfully.
pub async fn within_deadline<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = T>,
) -> Result<T, Stopped> {
    let progress = Progress::default();
    progress.0.lock().unwrap_or_else(|e| e.into_inner()).ends =
        deadline.map(|limit| Instant::now() + limit);
    let scoped = progress.scope(work);
    match deadline {
        None => Ok(scoped.await),
        Some(limit) => tokio::time::timeout(limit, scoped)
            .await
            .map_err(|_| Stopped {
                after: limit,
                step: progress.now(),
                finished: progress.finished(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_are_seen_inside_the_scope_only() {
        enter("outside");
        let progress = Progress::default();
        progress
            .scope(async {
                enter("connecting");
                finished("001");
                tokio::task::yield_now().await;
                enter("waiting for the lock");
            })
            .await;
        assert_eq!(progress.now(), "waiting for the lock");
        assert_eq!(progress.finished(), vec!["001".to_string()]);
    }
}
