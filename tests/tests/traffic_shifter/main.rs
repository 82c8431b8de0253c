//! The traffic shifter end to end: CodePipeline jobs (and their continuations) through the
//! Lambda adapter, against ECS, an ALB, CloudWatch alarms and DynamoDB in the emulator.
//!
//! One test binary (linking one is the slow part of building it), its tests by topic in the
//! modules below; the helpers they share are here and in `gantry_tests::rig`.

mod faults;
mod progress;
mod refusals;
mod repeats;
mod rollbacks;
mod strategies;
mod sweep;
mod trust;

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::traffic::{ForwardTarget, TargetHealth, TrafficControl};
use gantry_core::traffic::{LoadBalancer, ShiftError};
use gantry_tests::aws::sdk;
use gantry_tests::rig::{canary, canary_at_ten, click, rig, start, started, Rig};
use gantry_tests::shifter::{
    deployment_record, invoke, lambda_event, open_execution_thread, run_to_end, spawn_run,
    with_stand_ins, write_command, Command, Setup, NEW_IMAGE,
};
use gantry_tests::slack::{buttons, SlackNs};
use gantry_tests::traffic::{
    alarm_when_traffic_moves, failure_message, job, last_result, outcome, run_job,
    tasks_fail_to_start, Shop, CONTAINER, FIRST_IMAGE,
};
use gantry_tests::unique;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use traffic_shifter::TrafficShifter;

/// A rig whose shifter posts progress to `slack` (channel C0DEPLOYS), and the first job of a
/// 2-second canary of NEW_IMAGE: (rig, job event, deployment id).
async fn slack_rig_with_canary(slack: &SlackNs) -> (Rig, Value, String) {
    let setup = Setup::new("shop", &json!({"slack_bot_token": "xoxb-gantry"})).await;
    let rig = started(setup.with_slack_progress(slack.api_url())).await;
    let first = start(&rig, canary(2)).await;
    let deployment = id(&first).to_string();
    (rig, first, deployment)
}

/// A job with `params`, run to its end.
async fn run_with(rig: &Rig, params: &Value) -> Vec<Value> {
    run_to_end(&rig.shifter, &rig.shop.start_job(params, json!([])).await).await
}

/// Starts a 10% canary of NEW_IMAGE baking `bake_seconds` and invokes it until green has its
/// 10% (the first invocation, unless green's ECS rollout outlasted its slice), which then hands
/// over: (the first job, the continuation after that hand-over).
async fn canary_handed_over(rig: &Rig, bake_seconds: u64) -> (Value, Value) {
    let first = start(rig, canary(bake_seconds)).await;
    let mut current = first.clone();
    for _ in 0..10 {
        invoke(&*rig.shifter, &current["event"]).await;
        let next = next_job(&current).await;
        if rig.shop.weights(false).await != (100, 0) {
            assert_eq!(rig.shop.weights(false).await, (90, 10));
            return (first, next);
        }
        current = next;
    }
    panic!("green never got its 10%");
}

/// The continuation token a job's `data` holds, parsed.
fn continuation_token(data: &Value) -> Value {
    let token = data["continuationToken"]
        .as_str()
        .expect("a continuation token");
    serde_json::from_str(token).expect("the token is JSON")
}

/// A job's id (of `{job_id, event}` or of a view's `next_job`).
fn id(job: &Value) -> &str {
    job["job_id"].as_str().expect("job_id")
}

/// The continuation CodePipeline created when `of` handed over.
async fn next_job(of: &Value) -> Value {
    job(id(of)).await["next_job"].clone()
}

/// How the last job ended (`Succeeded`, `Failed`, …).
fn status(views: &[Value]) -> &Value {
    &views.last().expect("a job")["status"]
}

/// Of the results sent for a job, CodePipeline accepted exactly one (`why` says what that
/// shows).
async fn assert_one_result_accepted(job_id: &str, why: &str) {
    let results = job(job_id).await["results"].clone();
    let accepted = results
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["error"].is_null())
        .count();
    assert_eq!(accepted, 1, "{why}: {results}");
}

/// The invocation answered `outcome`, its message saying `says`.
fn assert_answer(answer: &Value, outcome: &str, says: &str) {
    assert_eq!(answer["outcome"], outcome, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .expect("a message")
            .contains(says),
        "{answer}"
    );
}

/// A job in `first`'s execution made by someone who can answer jobs: the parameters of the
/// job `data` describes, with `token` as its continuation token (CodePipeline hands it to the
/// next invocation). Returns `{job_id, event}`.
async fn job_with_token(shop: &Shop, first: &Value, data: &Value, token: &Value) -> Value {
    let execution = shop.execution_of(id(first)).await;
    gantry_tests::http::post(
        &format!("{}/_gantry/codepipeline/jobs", gantry_tests::emulator_url()),
        &json!({"pipeline": shop.pipeline, "stage": "Deploy", "action": "Deploy",
                "execution_id": execution,
                "user_parameters": data["actionConfiguration"]["configuration"]["UserParameters"],
                "continuation_token": token.to_string()}),
    )
    .await
}

/// Edits a job event's UserParameters to deploy another image (what an attacker would want).
fn deploy_another_image(shop: &Shop, event: &mut Value) {
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] =
        json!(shop
            .user_parameters("evil.example/shop:666", all_at_once())
            .to_string());
}

fn all_at_once() -> Value {
    json!("CodeDeployDefault.ECSAllAtOnce")
}

async fn record(rig: &Rig, deployment: &str) -> HashMap<String, AttributeValue> {
    deployment_record(&rig.shop, &rig.table, deployment)
        .await
        .expect("the deployment record")
}
