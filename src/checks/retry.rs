//! Trying a probe until it passes: within a retry window (waiting for health), and as many
//! times in a row as `consecutive` asks. One loop for every kind that retries (HTTP requests,
//! commands).

use std::future::Future;
use std::time::{Duration, Instant};

/// Keep trying until the expectations hold.
#[derive(Clone, Debug)]
pub struct Retry {
    pub timeout: Duration,
    pub interval: Duration,
    pub backoff: f64,
}

/// How the tries went: the last attempt, how many were made, whether enough passed in a row.
pub struct Tries<A> {
    pub last: A,
    pub attempts: u32,
    pub passed: bool,
    pub elapsed: Duration,
}

impl<A> Tries<A> {
    /// ` (3 attempts over 2.1s)` when there was more than one, for a finding's message.
    pub fn summary(&self) -> String {
        if self.attempts > 1 {
            format!(
                " ({} attempts over {})",
                self.attempts,
                crate::units::format_duration(self.elapsed)
            )
        } else {
            String::new()
        }
    }
}

/// Runs `attempt` until `consecutive` attempts in a row pass, or the retry window closes.
///
/// Bounded: by the retry timeout, or without one by the passes needed (at most `consecutive`
/// attempts when every one passes, one when it fails). With a retry window the last attempt is
/// made at its end (not skipped because a whole interval no longer fits): a 1 s window tries at
/// 0 s and at 1 s.
pub async fn until_passes<A, F, Fut>(
    retry: Option<&Retry>,
    consecutive: u32,
    mut attempt: F,
    passed: impl Fn(&A) -> bool,
) -> Tries<A>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
{
    let started = Instant::now();
    let deadline = retry.map(|r| started + r.timeout);
    let mut interval = retry.map_or(Duration::ZERO, |r| r.interval);
    let (mut attempts, mut in_a_row) = (0u32, 0u32);
    let needed = consecutive.max(1);
    loop {
        attempts += 1;
        let last = attempt().await;
        let ok = passed(&last);
        in_a_row = if ok { in_a_row + 1 } else { 0 };
        let done = in_a_row >= needed;
        let out_of_time = match deadline {
            Some(d) => Instant::now() >= d,
            None => !ok || attempts >= needed,
        };
        if done || out_of_time {
            return Tries {
                last,
                attempts,
                passed: done,
                elapsed: started.elapsed(),
            };
        }
        let pause = match deadline {
            Some(d) => interval.min(d.saturating_duration_since(Instant::now())),
            None => interval,
        };
        tokio::time::sleep(pause).await;
        if let Some(r) = retry {
            interval = interval.mul_f64(r.backoff.clamp(1.0, 10.0)).min(r.timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn run<A>(f: impl Future<Output = A>) -> A {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn without_a_window_one_failure_ends_it() {
        let calls = Cell::new(0);
        let tries = run(until_passes(
            None,
            3,
            || async {
                calls.set(calls.get() + 1);
                calls.get() != 2
            },
            |ok| *ok,
        ));
        assert_eq!((tries.attempts, tries.passed), (2, false));
    }

    #[test]
    fn a_window_waits_for_passes_in_a_row() {
        let calls = Cell::new(0);
        let retry = Retry {
            timeout: Duration::from_secs(5),
            interval: Duration::from_millis(1),
            backoff: 1.0,
        };
        // Fails twice, then passes: two passes in a row are reached on the fourth attempt.
        let tries = run(until_passes(
            Some(&retry),
            2,
            || async {
                calls.set(calls.get() + 1);
                calls.get() >= 3
            },
            |ok| *ok,
        ));
        assert_eq!((tries.attempts, tries.passed), (4, true));
        assert_eq!(tries.summary().split(" over ").next(), Some(" (4 attempts"));
    }
}
