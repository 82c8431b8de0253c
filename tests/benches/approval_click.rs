//! How long the approval function takes to answer a Slack click, against Slack's three-second
//! window: each click is a signed Function URL event through the Lambda handler, which reads
//! the record, resolves the approvers, claims the decision, calls `PutApprovalResult`, records
//! it and updates the message, all before answering. Also the time to post a request.
//!
//! ```sh
//! cargo bench -p gantry-tests --bench approval_click            # release profile
//! cargo bench -p gantry-tests --bench approval_click --profile dev
//! ```
//!
//! Runs against the local emulator (moto, Python) and the Slack stand-in, whose round trips are
//! slower than DynamoDB's and CodePipeline's in-region ones: the figures are an upper bound of
//! Gantry's own work plus local I/O, not a production measurement.

use gantry_core::approval::interaction::APPROVE;
use gantry_tests::approval::{
    action_event, approval_waits, click, start_execution, world, Clicked, Setup, JANE, MEMBER,
    STRANGER,
};
use serde_json::json;
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;

#[tokio::main]
async fn main() {
    let mut w = world(Setup::default()).await;
    let (mut open, mut approve, mut member, mut refused) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        // A fresh execution waiting at the approval, and its request posted.
        w.execution_id = start_execution(&w.sdk, &w.pipeline, "octocat").await;
        approval_waits(&w, json!({})).await;
        let started = Instant::now();
        let out = approval::handle(&w.app, action_event(&w, "STARTED"))
            .await
            .expect("request posted");
        open.push(started.elapsed());
        let id = out["approval"].as_str().expect("id").to_string();

        let timed = Instant::now();
        click(&w, Clicked::new(STRANGER, APPROVE, &id)).await;
        refused.push(timed.elapsed());

        let decider = if round % 2 == 0 { JANE } else { MEMBER };
        let timed = Instant::now();
        let (status, _) = click(&w, Clicked::new(decider, APPROVE, &id)).await;
        let took = timed.elapsed();
        assert_eq!(status, 200);
        if round % 2 == 0 {
            approve.push(took)
        } else {
            member.push(took)
        }
    }
    println!("approval function, {ROUNDS} rounds, local emulator and Slack stand-in");
    report("post a request (EventBridge STARTED)", &mut open);
    report("click Approve, listed user (decided)", &mut approve);
    report("click Approve, group member (decided)", &mut member);
    report("click Approve, not allowed (refused)", &mut refused);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {what:<40} p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms  (n={})",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}
