//! Prod in another account: the shop lives in account B, the pipeline and the shifter in the
//! hub; the shifter assumes the role service/target-account.yaml makes in B (`role_arn`, with
//! `external_id`) for every call on the environment.

use gantry_tests::accounts::{
    expired_calls, hook_function_in_b, invocations, CrossAccount, TargetRole, ACCOUNT_B,
};
use gantry_tests::iam::refusals;
use gantry_tests::shifter::{invoke, run_to_end, NEW_IMAGE};
use gantry_tests::traffic::{failure_message, outcome};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn canary(bake_seconds: u64) -> Value {
    json!({"type": "canary", "percent": 10, "bake_seconds": bake_seconds})
}

#[tokio::test]
async fn a_canary_in_another_account_shifts_that_accounts_listener() {
    let x = CrossAccount::new(TargetRole::default()).await;
    let shop = &x.shop;
    let first = x.start_job(&x.user_parameters(NEW_IMAGE, canary(1))).await;
    let views = run_to_end(&x.shifter, &first).await;

    assert_eq!(
        outcome(&views),
        format!(
            "Succeeded: green ({}) is live on {}:2; blue ({}) scaled to zero",
            shop.green_service, shop.name, shop.blue_service
        )
    );
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    assert_eq!(shop.weights(false).await, (0, 100));
    let (green_td, green_desired) = shop.service(&shop.green_service).await;
    assert_eq!(green_desired, 2);
    assert!(
        green_td.contains(&format!(":{ACCOUNT_B}:")),
        "the new revision is registered in account B: {green_td}"
    );
    assert_eq!(
        shop.image(&green_td, gantry_tests::traffic::CONTAINER)
            .await,
        NEW_IMAGE
    );
}

#[tokio::test]
async fn a_hook_function_in_the_other_account_is_invoked_through_the_role() {
    let hook = hook_function_in_b("ecs_smoke_hook.py").await;
    let x = CrossAccount::new(TargetRole {
        hook_function_arns: vec![hook.clone()],
        ..TargetRole::default()
    })
    .await;
    let mut params = x.user_parameters(NEW_IMAGE, canary(1));
    params["lifecycle_hooks"] = json!([{"hook_target_arn": hook,
        "lifecycle_stages": ["POST_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"], "hook_details": {}}]);
    let first = x.start_job(&params).await;
    let views = run_to_end(&x.shifter, &first).await;

    assert!(
        outcome(&views).starts_with("Succeeded:"),
        "{}",
        outcome(&views)
    );
    let stages: Vec<String> = invocations(&hook)
        .await
        .iter()
        .filter_map(|i| {
            let payload = &i["payload"];
            let payload: Value = match payload {
                Value::String(s) => serde_json::from_str(s).ok()?,
                other => other.clone(),
            };
            payload["lifecycleStage"].as_str().map(String::from)
        })
        .collect();
    assert_eq!(stages, ["POST_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"]);
    assert_eq!(x.shop.weights(false).await, (0, 100));
}

#[tokio::test]
async fn an_alarm_in_the_other_account_rolls_the_canary_back() {
    let x = CrossAccount::new(TargetRole::default()).await;
    let shop = &x.shop;
    let first = x.start_job(&x.user_parameters(NEW_IMAGE, canary(30))).await;
    let shifter = std::sync::Arc::new(x.shifter);
    let running = {
        let (shifter, event) = (shifter.clone(), first.clone());
        tokio::spawn(async move { run_to_end(&shifter, &event).await })
    };
    shop.until_green_at(10).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();

    assert_eq!(
        failure_message(&views),
        format!(
            "rolled back at 10% green: alarm {} went to ALARM",
            shop.alarms[0]
        )
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn a_refused_role_fails_the_job_naming_it_and_nothing_moves() {
    // The role trusts the shifter only with another external id.
    let x = CrossAccount::new(TargetRole {
        external_id: "someone-elses-id",
        ..TargetRole::default()
    })
    .await;
    let shop = &x.shop;
    let first = x.start_job(&x.user_parameters(NEW_IMAGE, canary(1))).await;
    let views = run_to_end(&x.shifter, &first).await;

    let message = failure_message(&views);
    assert!(
        message.contains(&format!("could not assume role_arn {}", x.role_arn)),
        "{message}"
    );
    assert!(message.contains("trust policy"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert!(
        !message.contains("not authorized to perform"),
        "no AWS error text: {message}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(shop.green_shares(false).await, Vec::<i64>::new());
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn credentials_that_expire_mid_deployment_are_renewed() {
    // STS gives this role's sessions 4 seconds; the deployment runs about ten.
    let x = CrossAccount::new(TargetRole {
        lifetime_seconds: Some(4),
        ..TargetRole::default()
    })
    .await;
    let shop = &x.shop;
    let first = x
        .start_job(&x.user_parameters(
            NEW_IMAGE,
            json!({"type": "linear", "step_percent": 34, "interval_seconds": 4}),
        ))
        .await;
    let started = Instant::now();
    let views = run_to_end(&x.shifter, &first).await;

    assert!(outcome(&views).starts_with("Succeeded:"), "{views:?}");
    assert!(
        started.elapsed().as_secs() > 8,
        "the deployment outlived two sessions"
    );
    assert_eq!(shop.weights(false).await, (0, 100));
    let session = format!(":{ACCOUNT_B}:assumed-role/gantry-target-{}/", shop.pipeline);
    let expired: Vec<Value> = expired_calls()
        .await
        .into_iter()
        .filter(|c| c["principal"].as_str().unwrap_or("").contains(&session))
        .collect();
    assert_eq!(
        expired,
        Vec::<Value>::new(),
        "no call used expired credentials"
    );
}

#[tokio::test]
async fn the_target_roles_policy_is_what_the_shifter_may_do_in_the_other_account() {
    // The role's policy names another listener: the shop's may be read, not moved.
    let x = CrossAccount::new(TargetRole {
        listener_arn: Some(format!(
            "arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT_B}:listener/app/other/0123456789abcdef/0123456789abcdef"
        )),
        ..TargetRole::default()
    })
    .await;
    let shop = &x.shop;
    let first = x.start_job(&x.user_parameters(NEW_IMAGE, canary(1))).await;
    let views = run_to_end(&x.shifter, &first).await;

    assert_eq!(
        failure_message(&views),
        "rolled back at 0% green: ELB ModifyListener failed: access denied (AccessDenied; details in the function's logs)"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    let session = format!(
        "arn:aws:sts::{ACCOUNT_B}:assumed-role/gantry-target-{}/",
        shop.pipeline
    );
    let refused: Vec<Value> = refusals()
        .await
        .into_iter()
        .filter(|r| r["principal"].as_str().unwrap_or("").starts_with(&session))
        .collect();
    assert_eq!(
        refused
            .iter()
            .map(|r| (
                r["action"].as_str().unwrap_or(""),
                r["resource"].as_str().unwrap_or("")
            ))
            .collect::<Vec<_>>(),
        vec![(
            "elasticloadbalancing:ModifyListener",
            shop.listener.as_str()
        )],
        "only the move of the listener the role does not name was refused"
    );
    let _ = &x.shifter_arn;
}

#[tokio::test]
async fn the_sweep_rolls_an_orphan_back_in_the_other_account() {
    let x = CrossAccount::with_env(
        TargetRole::default(),
        &[("GANTRY_ORPHAN_AFTER_SECONDS", "2")],
    )
    .await;
    let shop = &x.shop;
    let first = x
        .start_job(&x.user_parameters(NEW_IMAGE, canary(600)))
        .await;
    // The first invocation moves 10% to green and hands over; its continuation never comes.
    invoke(&x.shifter, &first["event"]).await;
    assert_eq!(shop.weights(false).await, (90, 10));
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let mut context = lambda_runtime::Context::default();
    context.deadline = gantry_core::clock::now_epoch_millis() as u64 + 60_000;
    let scheduled = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-12-07T12:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let answer = traffic_shifter::handle_any(
        &x.shifter,
        lambda_runtime::LambdaEvent::new(scheduled, context),
    )
    .await
    .expect("the sweep ran");
    assert_eq!(answer["rolled_back"], json!([first["job_id"]]), "{answer}");
    assert_eq!(shop.weights(false).await, (100, 0), "back on blue, in B");
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}
