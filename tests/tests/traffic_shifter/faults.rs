//! Faults mid-deployment: a stopped execution, a process that dies after a shift or before a
//! service update, a listener that cannot be set back or read for a while, a hand edit of the
//! listener.

use super::*;

#[tokio::test]
async fn a_stopped_pipeline_execution_rolls_the_deployment_back() {
    let (rig, first, running) = canary_at_ten(60).await;
    let shop = &rig.shop;
    // CodePipeline gives up on the job (the execution was stopped, or the job timed out).
    let mut current = id(&first).to_string();
    loop {
        while let Some(next) = job(&current).await["next_job"]["job_id"].as_str() {
            current = next.to_string();
        }
        let failed = aws_sdk_codepipeline::Client::new(&shop.sdk)
            .put_job_failure_result()
            .job_id(&current)
            .failure_details(
                aws_sdk_codepipeline::types::FailureDetails::builder()
                    .r#type(aws_sdk_codepipeline::types::FailureType::JobFailed)
                    .message("Stopped by the user")
                    .build()
                    .unwrap(),
            )
            .send()
            .await;
        match failed {
            Ok(_) => break,
            // The job handed over between the read and the failure: fail its continuation.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_invalid_job_state_exception()) => {}
            Err(e) => panic!("stop the job: {e:?}"),
        }
    }
    running.await.unwrap();
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "traffic is not left split"
    );
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

/// What a test makes happen right after the shifter changes the weights (given them).
type AfterShift =
    Box<dyn Fn(Vec<(String, u32)>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The real load balancer, with something happening right after each weight change it makes
/// (the process dying, a person editing the listener by hand).
struct ThenAfterShift<L>(L, AfterShift);

impl<L: LoadBalancer + Sync> LoadBalancer for ThenAfterShift<L> {
    async fn forward(&self, control: &TrafficControl) -> Result<Vec<ForwardTarget>, ShiftError> {
        self.0.forward(control).await
    }

    async fn set_weights(
        &self,
        control: &TrafficControl,
        weights: &[(String, u32)],
    ) -> Result<(), ShiftError> {
        self.0.set_weights(control, weights).await?;
        (self.1)(weights.to_vec()).await;
        Ok(())
    }

    async fn target_health(&self, arn: &str) -> Result<TargetHealth, ShiftError> {
        self.0.target_health(arn).await
    }
}

#[tokio::test]
async fn an_invocation_that_died_after_a_shift_is_resumed_without_shifting_twice() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let crashing = Arc::new(with_stand_ins(
        s,
        s.cluster.clone(),
        // The process "dies" right after the first weight change.
        ThenAfterShift(
            s.balancer.clone(),
            Box::new(|_| Box::pin(async { panic!("the invocation died right after shifting") })),
        ),
        s.hooks.clone(),
        s.slice,
    ));
    let first = start(&rig, canary(1)).await;
    let event = first["event"].clone();
    let died = tokio::spawn(async move { invoke(&*crashing, &event).await }).await;
    assert!(died.unwrap_err().is_panic());
    assert_eq!(shop.green_shares(false).await, vec![10]);
    assert_eq!(job(id(&first)).await["status"], "InProgress");

    // Lambda retries the same event (a minute later): the dead invocation's lease has run out.
    tokio::time::sleep(s.slice + gantry_core::traffic::steps::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "10% was not set twice"
    );
    assert_eq!(shop.service(&shop.blue_service).await.1, 0);
}

#[tokio::test]
async fn a_rollback_retries_the_listener_until_traffic_is_back_on_the_live_side() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    // The ELB API has a blip (4 failures: more than the SDK's own 3 tries) just as the alarm
    // fires.
    shop.fail_listener_calls("ModifyListener", 4).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();
    let message = failure_message(&views);
    assert!(message.starts_with("rolled back at 10% green"), "{message}");
    assert!(!message.contains("INCOMPLETE"), "{message}");
    assert_eq!(shop.weights(false).await, (100, 0), "weights end on blue");
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn a_blip_reading_the_listener_mid_canary_holds_the_weights_and_does_not_roll_back() {
    let (rig, _, running) = canary_at_ten(3).await;
    let shop = &rig.shop;
    // The ELB API fails 6 reads in a row: twice the SDK's own 3 tries, so two checks see
    // nothing at all.
    shop.fail_listener_calls("DescribeListeners", 6).await;
    let views = running.await.unwrap();
    assert_eq!(status(&views), "Succeeded", "{views:?}");
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "no weight moved back while blind"
    );
}

#[tokio::test]
async fn a_rollback_that_cannot_finish_fails_the_invocation_and_its_retry_finishes_it() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 30).await;
    // ELB is down for longer than the invocation's time: every try fails.
    shop.fail_listener_calls("ModifyListener", 1000).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let r = traffic_shifter::handle(&*rig.shifter, lambda_event(&second["event"])).await;
    assert!(
        r.is_err(),
        "the invocation fails, so Lambda retries it: {r:?}"
    );
    let deployment = id(&first);
    assert_eq!(
        record(&rig, deployment).await["status"].as_s().unwrap(),
        "rolling_back"
    );
    assert_eq!(job(id(&second)).await["status"], "InProgress");
    // ELB is back; Lambda retries the event once the lease has run out.
    shop.fail_listener_calls("ModifyListener", 0).await;
    tokio::time::sleep(rig.shifter.slice + gantry_core::traffic::steps::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &second).await;
    assert!(failure_message(&views).starts_with("rolled back at 10% green"));
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        record(&rig, deployment).await["status"].as_s().unwrap(),
        "rolled_back"
    );
}

#[tokio::test]
async fn a_rollback_first_restores_the_live_sides_tasks_if_they_were_scaled_in() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    // Auto scaling scales blue in while green takes traffic.
    shop.set_desired_count(&shop.blue_service, 1).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();
    assert!(failure_message(&views).starts_with("rolled back at 10% green"));
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue back to 2 tasks"
    );
}

/// A person who edits the listener by hand (50/50) right after the shifter's first weight
/// change (one neither all blue nor all green).
fn edited_by_hand(shop: &Shop) -> AfterShift {
    let shop = shop.clone();
    Box::new(move |weights| {
        let shop = shop.clone();
        Box::pin(async move {
            if weights.iter().any(|(_, w)| *w != 0 && *w != 100) {
                shop.forward_listener_to(&[
                    (&shop.blue_target_group, 50),
                    (&shop.green_target_group, 50),
                ])
                .await;
            }
        })
    })
}

#[tokio::test]
async fn a_listener_edited_by_hand_mid_shift_is_noticed_at_once_and_rolled_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    // A long slice and check interval: only the read-back can notice the edit quickly.
    let shifter = with_stand_ins(
        s,
        s.cluster.clone(),
        ThenAfterShift(s.balancer.clone(), edited_by_hand(shop)),
        s.hooks.clone(),
        Duration::from_secs(100),
    );
    let mut params = shop.user_parameters(NEW_IMAGE, canary(60));
    params["check_interval_seconds"] = json!(60);
    let first = shop.start_job(&params, json!([])).await;
    let views = run_job(&first, |event| {
        let shifter = &shifter;
        async move {
            invoke(shifter, &event).await;
        }
    })
    .await;
    let message = failure_message(&views);
    assert!(
        message.contains(
            "the listener's weights were changed outside this deployment (blue 50, green 50)"
        ),
        "{message}"
    );
    // Timed from the edit: before it, green's tasks take their time to start (ECS's rollout),
    // which the shifter checks on its (long) check interval.
    let changes = shop.weight_changes(&shop.listener).await;
    let edited = changes
        .iter()
        .find(|(_, green)| *green == 50)
        .expect("the edit")
        .0;
    let back = changes.last().expect("the rollback").0;
    assert!(
        back - edited < 40.0,
        "noticed at once, not at the next check a minute later: {changes:?}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
}

#[tokio::test]
async fn an_execution_stopped_mid_bake_is_noticed_within_a_check_and_the_old_side_keeps_its_tasks()
{
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(60)).await;
    let execution = shop.execution_of(id(&first)).await;
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(10).await;
    let stopped = Instant::now();
    gantry_tests::http::post(
        &format!(
            "{}/_gantry/codepipeline/executions/{}/{execution}",
            gantry_tests::emulator_url(),
            shop.pipeline
        ),
        &json!({"status": "Stopping"}),
    )
    .await;
    let views = running.await.unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "noticed within about one check interval"
    );
    let message = failure_message(&views);
    assert!(
        message.contains("the pipeline execution was stopped (its status is Stopping)"),
        "{message}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue keeps its tasks"
    );
}

/// The real cluster, except that the process "dies" as it is about to update a service.
struct CrashBeforeServiceUpdate<C>(C);

impl<C: gantry_core::traffic::Cluster + Sync> gantry_core::traffic::Cluster
    for CrashBeforeServiceUpdate<C>
{
    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<gantry_core::traffic::ServiceStatus>, ShiftError> {
        self.0.service(cluster, name).await
    }

    async fn task_definition(
        &self,
        arn: &str,
    ) -> Result<gantry_core::traffic::TaskDefinitionInfo, ShiftError> {
        self.0.task_definition(arn).await
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[gantry_core::traffic::setup::images::ImageUpdate],
    ) -> Result<String, ShiftError> {
        self.0.register_with_images(arn, updates).await
    }

    async fn update_service(
        &self,
        _cluster: &str,
        _name: &str,
        _task_definition: Option<&str>,
        _desired: i32,
    ) -> Result<(), ShiftError> {
        panic!("the invocation died between recording the deployment and updating the service");
    }
}

#[tokio::test]
async fn a_crash_after_recording_the_deployment_resumes_it_instead_of_rolling_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let crashing = Arc::new(with_stand_ins(
        s,
        CrashBeforeServiceUpdate(s.cluster.clone()),
        s.balancer.clone(),
        s.hooks.clone(),
        s.slice,
    ));
    let first = start(&rig, canary(1)).await;
    let event = first["event"].clone();
    let died = tokio::spawn(async move { invoke(&*crashing, &event).await }).await;
    assert!(died.unwrap_err().is_panic());
    let deployment = id(&first);
    assert!(!record(&rig, deployment).await.is_empty(), "recorded");
    assert_eq!(
        shop.service(&shop.green_service).await.1,
        0,
        "green not updated"
    );

    // Lambda retries the same event, a minute later: by then the dead invocation's lease (its
    // slice and a margin) has run out.
    tokio::time::sleep(s.slice + gantry_core::traffic::steps::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
}

/// StopPipelineExecution with `abandon` while a continuation runs: CodePipeline abandons the
/// job, so it refuses the shifter's result for it (`InvalidJobStateException`); the shifter
/// notices the stop at its first check and rolls back all the same.
#[tokio::test]
async fn an_execution_stopped_with_abandon_is_rolled_back_though_codepipeline_refuses_the_result() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 60).await;
    let execution = shop.execution_of(id(&first)).await;
    aws_sdk_codepipeline::Client::new(&shop.sdk)
        .stop_pipeline_execution()
        .pipeline_name(&shop.pipeline)
        .pipeline_execution_id(&execution)
        .abandon(true)
        .reason("stopped by a person")
        .send()
        .await
        .expect("stop the execution");
    invoke(&*rig.shifter, &second["event"]).await;

    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "traffic is not left split"
    );
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
    let view = job(id(&second)).await;
    assert_eq!(view["status"], "Abandoned");
    let refused = view["results"]
        .as_array()
        .expect("results")
        .iter()
        .any(|r| {
            r["operation"] == "PutJobFailureResult" && r["error"] == "InvalidJobStateException"
        });
    assert!(refused, "the rollback was reported, and refused: {view}");
}
