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
                if Instant::now() + wait >= end && attempt > 0 {
                    return Err(e);
                }
                tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "failed: trying again");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

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
