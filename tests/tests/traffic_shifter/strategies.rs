//! Deployment strategies that go through: canary, linear, all at once, a listener rule's
//! weights, the image from an imagedefinitions artifact; the roles swap after each.

use super::*;

#[tokio::test]
async fn a_canary_goes_to_the_end_and_the_roles_swap() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (old_task_definition, _) = shop.service(&shop.green_service).await;
    let first = start(&rig, canary(2)).await;
    let views = run_to_end(&rig.shifter, &first).await;

    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "canary: 10%, bake, the rest"
    );
    assert_eq!(shop.weights(false).await, (0, 100));
    assert!(
        views.len() >= 2,
        "a deployment longer than a slice continues: {} invocations",
        views.len()
    );
    assert!(views[..views.len() - 1]
        .iter()
        .all(|v| v["status"] == "Continued"));
    assert_eq!(status(&views), "Succeeded");

    let (green_td, green_desired) = shop.service(&shop.green_service).await;
    assert_ne!(
        green_td, old_task_definition,
        "a new revision was registered"
    );
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
    assert_eq!(
        shop.image(&green_td, "log-router").await,
        "fluent-bit:3",
        "the rest is copied"
    );
    assert_eq!(green_desired, 2, "green runs what blue ran");
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        0,
        "blue is scaled down"
    );
    assert_eq!(
        shop.image(&shop.service(&shop.blue_service).await.0, CONTAINER)
            .await,
        FIRST_IMAGE
    );

    let done = last_result(&views);
    assert_eq!(done["operation"], "PutJobSuccessResult");
    assert!(done["body"].get("continuationToken").is_none());
    let summary = done["body"]["executionDetails"]["summary"]
        .as_str()
        .unwrap();
    assert!(
        summary.starts_with(&format!(
            "green ({}) is live on {}",
            shop.green_service, shop.name
        )),
        "{summary}"
    );
    // Every hand-over reported its progress, and the token stayed within CodePipeline's limit.
    let percents: Vec<i64> = views
        .iter()
        .filter_map(|v| v["results"][0]["body"]["executionDetails"]["percentComplete"].as_i64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(percents.last(), Some(&100));
    for v in &views[..views.len() - 1] {
        let token = v["results"][0]["body"]["continuationToken"]
            .as_str()
            .unwrap();
        assert!(token.len() <= 2048);
    }
}

#[tokio::test]
async fn a_second_deployment_goes_from_green_back_to_blue() {
    let rig = rig().await;
    let shop = &rig.shop;
    let params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    run_with(&rig, &params).await;
    assert_eq!(shop.weights(false).await, (0, 100));

    let third = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3";
    let params = shop.user_parameters(third, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.weights(false).await, (100, 0), "blue is live again");
    let (blue_td, blue_desired) = shop.service(&shop.blue_service).await;
    assert_eq!(shop.image(&blue_td, CONTAINER).await, third);
    assert_eq!(blue_desired, 2);
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

/// What the local demo shows: a canary that goes through, then one that an alarm rolls back.
#[tokio::test]
async fn the_demo_story_a_good_canary_then_a_bad_one() {
    let rig = rig().await;
    let shop = &rig.shop;
    let good = shop.user_parameters(NEW_IMAGE, canary(1));
    let views = run_with(&rig, &good).await;
    assert!(
        outcome(&views).starts_with("Succeeded: green"),
        "{}",
        outcome(&views)
    );

    let bad = shop.user_parameters(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3",
        canary(30),
    );
    let alarm = alarm_when_traffic_moves(shop, &shop.alarms[1]);
    let views = run_with(&rig, &bad).await;
    alarm.await.unwrap();
    assert_eq!(
        outcome(&views),
        format!(
            "Failed: rolled back at 10% blue: alarm {} went to ALARM",
            shop.alarms[1]
        )
    );
    assert_eq!(
        shop.weights(false).await,
        (0, 100),
        "green, the good version, stays live"
    );
    assert_eq!(shop.green_shares(false).await, vec![10, 100, 90, 100]);
}

#[tokio::test]
async fn linear_shifts_in_equal_steps() {
    let rig = rig().await;
    let shop = &rig.shop;
    let strategy = json!({"type": "linear", "step_percent": 40, "interval_seconds": 1});
    let views = run_to_end(&rig.shifter, &start(&rig, strategy).await).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![40, 80, 100]);
}

#[tokio::test]
async fn all_at_once_is_one_shift() {
    let rig = rig().await;
    let shop = &rig.shop;
    let params = shop.user_parameters(NEW_IMAGE, json!("CodeDeployDefault.ECSAllAtOnce"));
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![100]);
}

#[tokio::test]
async fn weights_on_a_listener_rule_are_shifted_there() {
    let rig = rig().await;
    let shop = &rig.shop;
    let mut params = shop.user_parameters(NEW_IMAGE, canary(1));
    params.as_object_mut().unwrap().remove("listener_arn");
    params["listener_rule_arn"] = json!(shop.rule);
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(true).await, vec![10, 100]);
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "the default action is left alone"
    );
}

#[tokio::test]
async fn the_image_can_come_from_an_imagedefinitions_artifact() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shop.sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("artifacts");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let definitions = format!(r#"[{{"name": "{CONTAINER}", "imageUri": "{NEW_IMAGE}"}}]"#);
    let zip = gantry_core::traffic::setup::images::zip_archive(&[(
        "imagedefinitions.json",
        definitions.as_bytes(),
    )]);
    s3.put_object()
        .bucket(&bucket)
        .key("shop/BuildOutpu/Xk2r9Qa")
        .body(zip.into())
        .send()
        .await
        .expect("artifact");
    let mut params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    params.as_object_mut().unwrap().remove("image");
    params.as_object_mut().unwrap().remove("container");
    let artifacts =
        json!([{"name": "BuildOutput", "bucket": bucket, "key": "shop/BuildOutpu/Xk2r9Qa"}]);
    let views = run_to_end(&rig.shifter, &shop.start_job(&params, artifacts).await).await;
    assert_eq!(status(&views), "Succeeded", "{}", views.last().unwrap());
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
}

/// Green takes no traffic before ECS says its deployment completed: the emulator's rollouts
/// take a while (IN_PROGRESS first), as ECS's do, and the shifter waits them out.
#[tokio::test]
async fn green_takes_no_traffic_before_its_ecs_deployment_has_completed() {
    let rig = rig().await;
    let shop = &rig.shop;
    let views = run_to_end(&rig.shifter, &start(&rig, all_at_once()).await).await;
    assert_eq!(status(&views), "Succeeded");

    let described = aws_sdk_ecs::Client::new(&shop.sdk)
        .describe_services()
        .cluster(&shop.cluster)
        .services(&shop.green_service)
        .send()
        .await
        .expect("describe services");
    let deployment = &described.services()[0].deployments()[0];
    let started = deployment.created_at().expect("created").as_secs_f64();
    let completed = deployment.updated_at().expect("updated").as_secs_f64();
    assert!(completed > started, "the rollout took time: {deployment:?}");
    let changes = shop.weight_changes(&shop.listener).await;
    let first_traffic = changes.first().expect("a weight change").0;
    assert!(
        first_traffic >= completed,
        "green took traffic at {first_traffic}, its deployment completed at {completed}"
    );
}
