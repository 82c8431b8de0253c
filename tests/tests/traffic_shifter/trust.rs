//! Jobs and tokens the shifter must not believe: forged jobs, jobs with other parameters,
//! tampered continuation tokens, jobs in no known execution.

use super::*;

#[tokio::test]
async fn a_tampered_continuation_token_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 30).await;
    let (blue_before, green_before) = (
        shop.service(&shop.blue_service).await,
        shop.service(&shop.green_service).await,
    );
    let data = &second["event"]["CodePipeline.job"]["data"];
    let mut token = continuation_token(data);
    token["was"]["td"] = json!("arn:aws:ecs:us-east-1:123456789012:task-definition/evil:1");
    // Someone who can invoke the function edits the token in the event: CodePipeline holds
    // another one for the job, so the invocation is not believed at all.
    let mut event = second["event"].clone();
    event["CodePipeline.job"]["data"]["continuationToken"] = json!(token.to_string());
    let answer = invoke(&*rig.shifter, &event).await;
    assert_answer(
        &answer,
        "refused",
        "differs from the one CodePipeline holds",
    );
    // Someone who can answer the job puts another rollback target into the token, so
    // CodePipeline hands it to the next job.
    let answered = job_with_token(shop, &first, data, &token).await;
    let answer = invoke(&*rig.shifter, &answered["event"]).await;
    assert_answer(
        &answer,
        "failed",
        "does not match the deployment Gantry recorded",
    );
    assert_eq!(shop.weights(false).await, (90, 10), "no weight moved");
    assert_eq!(shop.service(&shop.blue_service).await, blue_before);
    assert_eq!(
        shop.service(&shop.green_service).await,
        green_before,
        "green not touched"
    );
}

#[tokio::test]
async fn a_continuation_token_with_its_phase_moved_on_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 300).await;
    let data = &second["event"]["CodePipeline.job"]["data"];
    let mut token = continuation_token(data);
    // Someone who can answer the job backdates the canary step, so its bake is long over and
    // the next check would send everything to the new version, and CodePipeline hands that
    // token to the next job. The deployment's fixed part is untouched.
    token["ph"]["t"] = json!(0);
    let answered = job_with_token(shop, &first, data, &token).await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &answered["event"]).await;
    assert_answer(&answer, "failed", "not the token Gantry handed over");
    assert_eq!(world(shop).await, before, "nothing moved");
}

/// Everything an invocation could have moved: both services and the listener's weights.
async fn world(shop: &Shop) -> ((String, i32), (String, i32), (i32, i32)) {
    (
        shop.service(&shop.blue_service).await,
        shop.service(&shop.green_service).await,
        shop.weights(false).await,
    )
}

#[tokio::test]
async fn an_invocation_with_a_job_codepipeline_never_issued_moves_nothing_and_reports_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let real = start(&rig, all_at_once()).await;
    let before = world(shop).await;
    // Anyone allowed lambda:InvokeFunction sends a job event with a made-up id and their image.
    let mut forged = real["event"].clone();
    forged["CodePipeline.job"]["id"] = json!("6a3f2c1e-0000-4000-8000-000000000001");
    deploy_another_image(shop, &mut forged);
    let answer = invoke(&*rig.shifter, &forged).await;
    assert_answer(&answer, "refused", "CodePipeline has no job");
    assert_eq!(world(shop).await, before, "nothing moved");
    // The real job is untouched and still runs as CodePipeline asked.
    let real_job = job(id(&real)).await;
    assert_eq!(real_job["status"], "InProgress", "{real_job}");
    let views = run_to_end(&rig.shifter, &real).await;
    assert_eq!(status(&views), "Succeeded", "{views:?}");
    assert_eq!(shop.green_shares(false).await, vec![100]);
}

#[tokio::test]
async fn a_real_jobs_event_with_another_image_moves_nothing_and_the_job_goes_on() {
    let rig = rig().await;
    let shop = &rig.shop;
    let real = start(&rig, all_at_once()).await;
    let before = world(shop).await;
    // A real job's id (from a log), with another image: the approval would be skipped.
    let mut forged = real["event"].clone();
    deploy_another_image(shop, &mut forged);
    let answer = invoke(&*rig.shifter, &forged).await;
    assert_answer(
        &answer,
        "refused",
        "differ from the ones CodePipeline holds",
    );
    assert_eq!(world(shop).await, before, "nothing moved");
    let real_job = job(id(&real)).await;
    assert_eq!(
        real_job["status"], "InProgress",
        "the real job was not failed: {real_job}"
    );
    assert!(
        real_job["results"].as_array().unwrap().is_empty(),
        "{real_job}"
    );
}

#[tokio::test]
async fn a_job_whose_parameters_the_pipeline_does_not_declare_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let job_event = start(&rig, all_at_once()).await;
    // The pipeline now declares another deployment for the action (as if the job had been
    // made for parameters the pipeline never had).
    gantry_tests::aws::declare_lambda_action(
        &shop.sdk,
        &shop.pipeline,
        "Deploy",
        gantry_tests::traffic::SHIFTER_FUNCTION,
        &shop.user_parameters(FIRST_IMAGE, all_at_once()).to_string(),
    )
    .await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &job_event["event"]).await;
    assert_answer(&answer, "refused", "do not fit");
    assert_eq!(world(shop).await, before, "nothing moved");
}

/// Starts an execution and a job for NEW_IMAGE, all at once, whose GetJobDetails answer has no
/// `pipelineContext.pipelineExecutionId` (the API reference lists it as optional). With
/// `named`, the pipeline passes the execution in the parameters as the template does
/// (`"execution_id": "#{codepipeline.PipelineExecutionId}"`). Returns (`{job_id, event}`, the
/// execution).
async fn start_without_execution_in_job_details(rig: &Rig, named: bool) -> (Value, String) {
    let shop = &rig.shop;
    let mut declared = shop.user_parameters(NEW_IMAGE, all_at_once());
    if named {
        declared["execution_id"] = json!("#{codepipeline.PipelineExecutionId}");
    }
    gantry_tests::aws::declare_lambda_action(
        &shop.sdk,
        &shop.pipeline,
        "Deploy",
        gantry_tests::traffic::SHIFTER_FUNCTION,
        &declared.to_string(),
    )
    .await;
    let execution = aws_sdk_codepipeline::Client::new(&shop.sdk)
        .start_pipeline_execution()
        .name(&shop.pipeline)
        .send()
        .await
        .expect("start execution")
        .pipeline_execution_id
        .expect("execution id");
    let mut resolved = declared;
    if named {
        resolved["execution_id"] = json!(execution);
    }
    let first = gantry_tests::http::post(
        &format!("{}/_gantry/codepipeline/jobs", gantry_tests::emulator_url()),
        &json!({"pipeline": shop.pipeline, "stage": "Deploy", "action": "Deploy",
                "execution_id": execution, "omit_execution_id": true,
                "user_parameters": resolved.to_string()}),
    )
    .await;
    (first, execution)
}

#[tokio::test]
async fn job_details_without_an_execution_id_fall_back_on_the_parameters_execution_id() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, execution) = start_without_execution_in_job_details(&rig, true).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    assert_eq!(shop.green_shares(false).await, vec![100]);
    // The deployment is filed under the execution the parameters named.
    let r = record(&rig, id(&first)).await;
    assert_eq!(r["execution_id"].as_s().unwrap(), &execution);
}

#[tokio::test]
async fn a_job_in_no_known_execution_fails_at_once_saying_what_to_add() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, _) = start_without_execution_in_job_details(&rig, false).await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &first["event"]).await;
    assert_eq!(answer["outcome"], "failed", "{answer}");
    let views = vec![job(id(&first)).await];
    assert_eq!(status(&views), "Failed", "not left to time out");
    let message = failure_message(&views);
    assert!(
        message.contains(r##"add "execution_id": "#{codepipeline.PipelineExecutionId}""##),
        "{message}"
    );
    assert_eq!(world(shop).await, before, "nothing moved");
}
