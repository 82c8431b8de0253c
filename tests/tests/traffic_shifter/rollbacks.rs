//! What rolls a deployment back while it runs: an alarm, unhealthy or draining new targets, a
//! new side that never gets healthy, the Roll back button; Promote now; and what one check's
//! alarm read costs.

use super::*;

#[tokio::test]
async fn an_alarm_at_step_two_rolls_everything_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (green_td_before, _) = shop.service(&shop.green_service).await;
    let strategy = json!({"type": "linear", "step_percent": 25, "interval_seconds": 3});
    let first = start(&rig, strategy).await;
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(50).await;
    let alarmed = Instant::now();
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();

    assert!(
        alarmed.elapsed() < Duration::from_secs(3),
        "back within about one check interval"
    );
    assert_eq!(
        failure_message(&views),
        format!(
            "rolled back at 50% green: alarm {} went to ALARM",
            shop.alarms[0]
        )
    );
    assert_eq!(status(&views), "Failed");
    assert_eq!(shop.green_shares(false).await, vec![25, 50, 0]);
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.green_service).await,
        (green_td_before, 0),
        "green is back to what it ran, at zero"
    );
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue never stopped"
    );
}

#[tokio::test]
async fn unhealthy_green_targets_roll_back() {
    let (rig, _, running) = canary_at_ten(5).await;
    let shop = &rig.shop;
    shop.set_target_health(true, "unhealthy").await;
    let views = running.await.unwrap();
    assert_eq!(
        failure_message(&views),
        format!(
            "rolled back at 10% green: target group {}-green has 2 unhealthy targets (Target.FailedHealthChecks)",
            shop.name
        )
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn green_that_never_gets_healthy_is_given_up_before_any_traffic() {
    let rig = rig().await;
    let shop = &rig.shop;
    shop.set_target_health(true, "unhealthy").await;
    let mut params = shop.user_parameters(NEW_IMAGE, canary(1));
    params["ready_timeout_seconds"] = json!(2);
    let views = run_with(&rig, &params).await;
    let message = failure_message(&views);
    assert!(
        message.starts_with("rolled back at 0% green: the new version was not ready after"),
        "{message}"
    );
    let detail = format!(
        "0/2 targets healthy in {}-green, 2 unhealthy (Target.FailedHealthChecks)",
        shop.name
    );
    assert!(message.ends_with(&detail), "{message}");
    assert!(
        shop.green_shares(false).await.is_empty(),
        "no traffic ever moved"
    );
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn the_roll_back_button_rolls_back() {
    let (rig, first, running) = canary_at_ten(60).await;
    let shop = &rig.shop;
    let deployment = id(&first).to_string();
    click(&rig, &deployment, "rollback").await;
    let views = running.await.unwrap();
    assert_eq!(
        failure_message(&views),
        "rolled back at 10% green: rollback requested by <@U0RELEASE>"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    let r = record(&rig, &deployment).await;
    assert_eq!(r["status"].as_s().unwrap(), "rolled_back");
}

#[tokio::test]
async fn promote_now_skips_the_remaining_bake() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(600)).await;
    let deployment = id(&first).to_string();
    let started = Instant::now();
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(10).await;
    click(&rig, &deployment, "promote").await;
    let views = running.await.unwrap();
    assert_eq!(status(&views), "Succeeded");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the 10-minute bake was skipped"
    );
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    let r = record(&rig, &deployment).await;
    assert!(!r.contains_key("command"), "the command was consumed");
    assert_eq!(r["status"].as_s().unwrap(), "succeeded");
    assert_eq!(r["pipeline"].as_s().unwrap(), &shop.pipeline);
    assert_eq!(r["stage"].as_s().unwrap(), "Deploy");
    assert_eq!(
        r["execution_id"].as_s().unwrap(),
        &shop.execution_of(&deployment).await
    );
}

#[tokio::test]
async fn draining_green_targets_count_as_unhealthy_and_roll_back() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    shop.set_target_health(true, "draining").await;
    let views = running.await.unwrap();
    let message = failure_message(&views);
    assert!(message.starts_with("rolled back at 10% green"), "{message}");
    assert!(
        message.contains("Target.DeregistrationInProgress"),
        "{message}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
}

/// Counts the requests a client sends (each attempt reaches the transport once).
#[derive(Debug)]
struct CountCalls(Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_cloudwatch::config::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        _: &aws_sdk_cloudwatch::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_cloudwatch::config::RuntimeComponents,
        _: &mut aws_sdk_cloudwatch::config::ConfigBag,
    ) -> Result<(), aws_sdk_cloudwatch::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// One check's alarm read costs one DescribeAlarms call per 100 alarms (AWS's limit on the names a
/// call takes and the records a page holds), so a deployment watching 100 alarms makes one call,
/// and 250 alarms make three, each alarm's state read.
#[tokio::test]
async fn a_check_reads_a_hundred_alarms_with_one_describe_alarms_call() {
    use gantry_adapters::cloudwatch::CloudWatchAlarms;
    use gantry_core::traffic::{AlarmState, AlarmWatch};
    let sdk = sdk().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let prefix = unique("many-alarms");
    let names: Vec<String> = (0..250).map(|i| format!("{prefix}-{i:03}")).collect();
    for name in &names {
        gantry_tests::traffic::create_alarm(&cloudwatch, name).await;
    }
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = aws_sdk_cloudwatch::config::Builder::from(&sdk)
        .interceptor(CountCalls(calls.clone()))
        .build();
    let watch = CloudWatchAlarms {
        client: aws_sdk_cloudwatch::Client::from_conf(counted),
    };
    let count = || calls.swap(0, std::sync::atomic::Ordering::SeqCst);

    let hundred = watch.states(&names[..100]).await.expect("states");
    assert_eq!(count(), 1, "DescribeAlarms calls for 100 alarms");
    assert_eq!(hundred.len(), 100);
    assert!(hundred.iter().all(|r| r.state != AlarmState::Missing));

    let all = watch.states(&names).await.expect("states");
    assert_eq!(count(), 3, "DescribeAlarms calls for 250 alarms");
    assert_eq!(all.len(), 250);
    assert!(all.iter().all(|r| r.state != AlarmState::Missing));
}

// ---------------------------------------------------------------- the sweep of orphaned deployments

/// A new version whose tasks never start (ECS's circuit breaker fails its deployment, as the
/// emulator does a while after UpdateService) is given no traffic: the job fails saying why,
/// and green goes back to what it ran, at zero.
#[tokio::test]
async fn a_deployment_whose_new_tasks_fail_to_start_rolls_back_before_any_traffic_saying_so() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (green_before, _) = shop.service(&shop.green_service).await;
    let broken = format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:{}",
        unique("broken")
    );
    tasks_fail_to_start(&broken).await;
    let views = run_with(&rig, &shop.user_parameters(&broken, canary(1))).await;

    let message = failure_message(&views);
    assert!(message.contains("tasks failed to start"), "{message}");
    assert_eq!(status(&views), "Failed");
    assert!(
        shop.green_shares(false)
            .await
            .iter()
            .all(|share| *share == 0),
        "green never took traffic"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.green_service).await,
        (green_before, 0),
        "green is back to what it ran, at zero"
    );
}
