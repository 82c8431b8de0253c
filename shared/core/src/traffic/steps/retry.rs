//! Retrying a step that must not be given up lightly (setting the listener back during a
//! rollback): exponential backoff from 200 ms to 5 s, until a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// The waits between tries: 200 ms, doubling, at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(5)).min(5_000))
}

/// Tries `f` until it succeeds or the next wait would pass `end` (at least one try, and one
/// more right after a failure when time is short). Returns the last error.
pub async fn until<T, E, F, Fut>(end: Instant, mut f: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let wait = backoff(attempt);
                if crate::clock::instant_now() + wait >= end && attempt > 0 {
                    return Err(e);
                }
                tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "failed: trying again");
                crate::clock::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

/// What to do when a check could not read what it watches (an AWS or table outage, after the
/// SDK's own retries): nothing moves while the shifter is blind, and a blip is no reason to
/// roll back a healthy deployment; a deployment nobody can watch for long is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blind {
    /// Look again after `wait`.
    LookAgain { wait: Duration },
    /// Blind for longer than [`blind_limit_ms`]: roll back.
    GiveUp,
}

/// How long the shifter may stay blind: two check intervals, at least one minute, at most
/// five (alarms and the judge see nothing meanwhile).
pub fn blind_limit_ms(check_seconds: u64) -> i64 {
    (check_seconds.saturating_mul(2).clamp(60, 300) * 1000) as i64
}

/// The decision after the `attempt`-th failed look in a row, the first at `since_ms`.
pub fn after_failed_look(since_ms: i64, now_ms: i64, check_seconds: u64, attempt: u32) -> Blind {
    if now_ms - since_ms >= blind_limit_ms(check_seconds) {
        return Blind::GiveUp;
    }
    let wait = backoff(attempt + 2).min(Duration::from_secs(check_seconds.max(1)));
    Blind::LookAgain { wait }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_blind_check_looks_again_and_gives_up_only_after_the_limit() {
        assert_eq!(
            after_failed_look(0, 1_000, 15, 0),
            Blind::LookAgain {
                wait: Duration::from_millis(800)
            }
        );
        // The wait never exceeds the check interval.
        assert_eq!(
            after_failed_look(0, 1_000, 1, 5),
            Blind::LookAgain {
                wait: Duration::from_secs(1)
            }
        );
        assert_eq!(
            after_failed_look(0, 59_999, 15, 9),
            Blind::LookAgain {
                wait: Duration::from_secs(5)
            }
        );
        assert_eq!(after_failed_look(0, 60_000, 15, 9), Blind::GiveUp);
        // Slow checks may stay blind longer, never over five minutes.
        assert_eq!(blind_limit_ms(60), 120_000);
        assert_eq!(blind_limit_ms(3_600), 300_000);
        assert_eq!(blind_limit_ms(1), 60_000);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(4), Duration::from_millis(3200));
        assert_eq!(backoff(9), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_step_failing_twice_succeeds_on_the_third_try() {
        let tries = Cell::new(0);
        let r: Result<u32, String> = until(Instant::now() + Duration::from_secs(5), || {
            tries.set(tries.get() + 1);
            let n = tries.get();
            async move {
                if n < 3 {
                    Err("blip".to_string())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(3));
    }

    #[tokio::test]
    async fn it_gives_up_at_the_deadline_with_the_last_error() {
        let start = Instant::now();
        let r: Result<(), String> = until(start + Duration::from_millis(300), || async {
            Err("down".to_string())
        })
        .await;
        assert_eq!(r, Err("down".to_string()));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
