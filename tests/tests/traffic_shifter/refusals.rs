//! What is refused at the start, before anything moves, naming the problem: bad parameters,
//! mismatched target groups, a role scoped elsewhere, an AWS refusal, stickiness, a plan that
//! outlasts CodePipeline's limit; and the sample events' parameters are valid.

use super::*;

/// A job with `params`, run to its end: it must fail at once with `expected` in its message,
/// and nothing may have moved.
async fn refused(rig: &Rig, params: Value, expected: &str) {
    let shop = &rig.shop;
    let shares_before = shop.green_shares(false).await;
    let green_before = shop.service(&shop.green_service).await;
    let views = run_with(rig, &params).await;
    assert_eq!(views.len(), 1, "refused in the first invocation");
    let r = last_result(&views);
    assert_eq!(
        r["body"]["failureDetails"]["type"], "ConfigurationError",
        "{r}"
    );
    let message = failure_message(&views);
    assert!(
        message.contains(expected),
        "{message:?} should say {expected:?}"
    );
    assert_eq!(
        shop.green_shares(false).await,
        shares_before,
        "no weight moved"
    );
    assert_eq!(
        shop.service(&shop.green_service).await,
        green_before,
        "green untouched"
    );
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue untouched"
    );
}

/// `refused`, for the parameters of a 1-second canary of NEW_IMAGE: what the shop is set up
/// with is what is wrong.
async fn refused_as_set_up(rig: &Rig, expected: &str) {
    let shop = &rig.shop;
    refused(rig, shop.user_parameters(NEW_IMAGE, canary(1)), expected).await;
}

#[tokio::test]
async fn bad_user_parameters_fail_at_once_naming_the_problem() {
    let rig = rig().await;
    let shop = &rig.shop;
    let good = shop.user_parameters(NEW_IMAGE, canary(1));

    let mut p = good.clone();
    p.as_object_mut().unwrap().remove("listener_arn");
    refused(&rig, p, "UserParameters: listener_arn is missing").await;

    let mut p = good.clone();
    p["strategy"] = json!({"type": "canary", "percent": 10});
    refused(&rig, p, "UserParameters: strategy.bake_seconds is missing").await;

    let mut p = good.clone();
    p["alarms"] = json!(["no-such-alarm"]);
    refused(
        &rig,
        p,
        "alarms: CloudWatch has no alarm named no-such-alarm",
    )
    .await;

    shop.set_alarm(&shop.alarms[1], "ALARM").await;
    refused(
        &rig,
        good.clone(),
        &format!("alarms: {} is in ALARM already", shop.alarms[1]),
    )
    .await;
    shop.set_alarm(&shop.alarms[1], "OK").await;

    // A mistyped service: it does not exist, so it carries no gantry:hub tag, and IAM refuses
    // DescribeServices before ECS could say it is missing (the hub's roles act only on tagged
    // resources). The job fails at once all the same, nothing moved, and says which call.
    let mut p = good.clone();
    p["green"]["service"] = json!("no-such-service");
    let shares_before = shop.green_shares(false).await;
    let views = run_with(&rig, &p).await;
    assert_eq!(views.len(), 1, "refused in the first invocation");
    let message = failure_message(&views);
    assert!(
        message.contains("ECS DescribeServices failed: access denied"),
        "{message:?}"
    );
    assert_eq!(
        shop.green_shares(false).await,
        shares_before,
        "no weight moved"
    );

    let mut p = good.clone();
    p["container"] = json!("api");
    refused(&rig, p, "container api is not in task definition").await;

    let mut p = good;
    p["image"] = json!("shop:#{BuildVariables.IMAGE_TAG}");
    refused(
        &rig,
        p,
        "UserParameters: image still holds an unresolved pipeline variable",
    )
    .await;
}

#[tokio::test]
async fn target_groups_that_do_not_match_the_listener_are_refused() {
    let rig = rig().await;
    let shop = &rig.shop;
    let stray = shop.stray_target_group(&format!("{}-x", shop.name)).await;

    // The parameters name a green target group the listener does not forward to.
    let mut p = shop.user_parameters(NEW_IMAGE, canary(1));
    p["green"]["target_group_arn"] = json!(stray);
    refused(
        &rig,
        p,
        &format!(
            "forwards to {}, which is neither blue.target_group_arn nor green.target_group_arn",
            shop.green_target_group
        ),
    )
    .await;

    // The listener forwards to blue alone: green's target group is not on it.
    shop.forward_listener_to(&[(&shop.blue_target_group, 1)])
        .await;
    refused_as_set_up(
        &rig,
        &format!(
            "green.target_group_arn {} is not on listener",
            shop.green_target_group
        ),
    )
    .await;

    // The listener is part-way through a shift nobody finished.
    shop.forward_listener_to(&[
        (&shop.blue_target_group, 90),
        (&shop.green_target_group, 10),
    ])
    .await;
    refused_as_set_up(&rig, "is part-way through a shift (blue 90, green 10)").await;
}

#[tokio::test]
async fn the_sample_events_are_jobs_with_valid_parameters() {
    for file in [
        "traffic-shifter-job.json",
        "traffic-shifter-imagedefinitions-job.json",
    ] {
        let path = gantry_tests::root().join("events").join(file);
        let event: CodePipelineJobEvent =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let job = gantry_core::traffic::Job::from_event(&event).unwrap();
        gantry_core::traffic::setup::params::parse(&job.user_parameters)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[tokio::test]
async fn a_listener_not_tagged_for_the_hub_cannot_be_shifted_and_the_job_fails_with_traffic_unmoved(
) {
    // The listener the deployment's parameters name is not tagged gantry:hub (another team's,
    // or a removed service's): the role's ModifyListener grant, conditioned on that tag, does
    // not cover it, and IAM refuses the shift.
    let rig = rig().await;
    let shop = &rig.shop;
    shop.untag(&shop.listener).await;
    let shares_before = shop.green_shares(false).await;
    let params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    let r = last_result(&views);
    assert_eq!(r["operation"], "PutJobFailureResult", "{r}");
    assert_eq!(
        shop.green_shares(false).await,
        shares_before,
        "no weight moved"
    );
    let refusals = gantry_tests::iam::refusals().await;
    assert!(
        refusals
            .iter()
            .any(|x| x["action"] == "elasticloadbalancing:ModifyListener"
                && x["resource"] == shop.listener.as_str()),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn an_aws_refusal_fails_the_job_with_a_short_reason_and_no_aws_error_text() {
    // IAM refuses the shift (as above). AWS's answer names the role's ARN, the account and the
    // listener; the failure message (what CodePipeline shows, and the Slack thread quotes)
    // says only what failed and why in short.
    let rig = rig().await;
    rig.shop.untag(&rig.shop.listener).await;
    let params = rig
        .shop
        .user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    let message = failure_message(&views);
    assert!(
        message.contains("ELB ModifyListener failed: access denied"),
        "{message}"
    );
    for aws_text in ["arn:aws:iam", "123456789012", "is not authorized", "GANTRY"] {
        assert!(!message.contains(aws_text), "{aws_text:?} in {message}");
    }
}

#[tokio::test]
async fn stickiness_on_the_forward_action_is_refused_at_the_start() {
    let rig = rig().await;
    let shop = &rig.shop;
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    };
    let tuple = |arn: &str, w: i32| {
        TargetGroupTuple::builder()
            .target_group_arn(arn)
            .weight(w)
            .build()
    };
    aws_sdk_elasticloadbalancingv2::Client::new(&shop.sdk)
        .modify_listener()
        .listener_arn(&shop.listener)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(tuple(&shop.blue_target_group, 100))
                        .target_groups(tuple(&shop.green_target_group, 0))
                        .target_group_stickiness_config(
                            TargetGroupStickinessConfig::builder()
                                .enabled(true)
                                .duration_seconds(3600)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("sticky listener");
    refused_as_set_up(&rig, "has target group stickiness on").await;
}

#[tokio::test]
async fn a_plan_that_can_outlast_codepipelines_action_limit_is_refused_naming_it() {
    let rig = rig().await;
    let shop = &rig.shop;
    let mut p = shop.user_parameters(NEW_IMAGE, canary(60));
    p["scale_down_after_seconds"] = json!(86_400);
    refused(
        &rig,
        p,
        "over the 24 h CodePipeline gives a Lambda invoke action",
    )
    .await;
    let mut p = shop.user_parameters(NEW_IMAGE, canary(60));
    p["scale_down_after_seconds"] = json!(86_400);
    refused(&rig, p, "Quotas in AWS CodePipeline").await;
}
