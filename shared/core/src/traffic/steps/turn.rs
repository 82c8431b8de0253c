//! Exactly one invocation drives a deployment at a time. Each invocation takes the deployment
//! with its hand-over number and a lease (its time slice); a later number always wins, the
//! same number (a second delivery of the same event) waits for the holder and only takes
//! over when the holder's lease ran out without it giving the job a result (it died).
//! A first invocation takes number 0 of its job's deployment before it writes anything (the
//! record may not exist yet): of two copies of one event, the loser registers nothing.

use crate::clock::now_epoch_millis as now_ms;
use crate::traffic::ports::{DeploymentStore, ShiftError, Turn};
use std::time::{Duration, Instant};

/// Time after the slice an invocation may still need to roll back and report.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// `Ok(true)`: this invocation drives until `end`. `Ok(false)`: another one has (or had) the
/// deployment: do nothing. `Err`: the store could not say, or the holder's lease outlasts
/// this invocation: not taken (Lambda retries the event later).
pub async fn wait_for_turn<S: DeploymentStore>(
    store: &S,
    id: &str,
    seq: u32,
    end: Instant,
) -> Result<bool, ShiftError> {
    loop {
        let now = now_ms();
        let left = end.saturating_duration_since(crate::clock::instant_now()) + LEASE_MARGIN;
        let until = now + left.as_millis() as i64;
        match store.take(id, seq, now, until).await? {
            Turn::Taken => return Ok(true),
            Turn::Overtaken => return Ok(false),
            Turn::Held { until_ms } => {
                let wait = Duration::from_millis((until_ms - now).max(0) as u64 + 200);
                if crate::clock::instant_now() + wait >= end {
                    return Err(ShiftError::Aws {
                        operation: "taking the deployment".into(),
                        reason: format!(
                            "another invocation with hand-over {seq} holds it for {} s more",
                            wait.as_secs()
                        ),
                    });
                }
                tracing::info!(deployment = %id, seq, wait_ms = wait.as_millis() as u64, "a twin invocation holds the deployment: waiting for it");
                crate::clock::sleep(wait).await;
            }
        }
    }
}
