//! A team that hands the waits between checks back to CodePipeline
//! (`"wait_between_checks": "in_codepipeline"`, docs/performance.md#idle-billing): the deployment
//! still goes live, and no invocation sleeps through a check interval, which is what Lambda
//! would bill.

use gantry_tests::shifter::{invoke, Setup, NEW_IMAGE};
use gantry_tests::traffic::run_job;
use serde_json::json;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long after a hand-over this test's CodePipeline invokes the continuation: longer than a
/// check interval, as CodePipeline's continuation delay is longer than the template's 15 s.
const CONTINUATION_DELAY: Duration = Duration::from_secs(7);

#[tokio::test]
async fn a_canary_that_hands_its_waits_to_codepipeline_goes_live_without_sleeping_in_lambda() {
    let setup = Setup::new("shop", &json!({})).await;
    let mut shifter = setup.shifter().await;
    // A slice longer than the whole canary: sleeping in Lambda, one invocation would do it all.
    shifter.slice = Duration::from_secs(120);
    let shop = &setup.shop;
    let mut params = shop.user_parameters(
        NEW_IMAGE,
        json!({"type": "canary", "percent": 10, "bake_seconds": 12}),
    );
    params["check_interval_seconds"] = json!(6);
    params["scale_down_after_seconds"] = json!(0);
    params["wait_between_checks"] = json!("in_codepipeline");
    let first = shop.start_job(&params, json!([])).await;

    // How long each invocation ran.
    let took: Mutex<Vec<Duration>> = Mutex::default();
    let views = run_job(&first, |event| {
        let (shifter, took) = (&shifter, &took);
        async move {
            if !lock(took).is_empty() {
                tokio::time::sleep(CONTINUATION_DELAY).await;
            }
            let began = Instant::now();
            invoke(shifter, &event).await;
            lock(took).push(began.elapsed());
        }
    })
    .await;
    let took = lock(&took).clone();

    let last = views.last().expect("a job");
    assert_eq!(last["status"], "Succeeded", "{views:#?}");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    // The 12 s bake at 6 s checks spans several invocations, each handing the job back at its
    // first wait instead of sleeping through it.
    assert!(took.len() >= 3, "{} invocations: {took:?}", took.len());
    let longest = took.iter().max().copied().unwrap_or_default();
    assert!(
        longest < Duration::from_secs(3),
        "an invocation slept through a check interval: {took:?}"
    );
}
