//! The shifter's progress in Slack: posted in the execution's thread, updated, never posted
//! twice.

use super::*;

#[tokio::test]
async fn a_progress_post_slack_took_despite_internal_error_is_updated_not_posted_again() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    let execution = shop.execution_of(&deployment).await;
    // The notifier's parent message, which opened the execution's thread.
    let parent = gantry_adapters::slack::SlackClient::new(
        &slack.api_url(),
        gantry_core::secrets::SecretString::new("xoxb-gantry"),
    )
    .post_message(&json!({"channel": "C0DEPLOYS", "text": "shop: execution started"}))
    .await
    .expect("parent");
    open_execution_thread(shop, &rig.table, &execution, &parent.ts).await;
    // Slack stores the first progress post, then answers internal_error.
    slack
        .fault(
            "chat.postMessage",
            json!([{"error": "internal_error", "after_effect": true}]),
        )
        .await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");

    let messages: Vec<_> = slack
        .messages()
        .await
        .into_iter()
        .filter(|m| m["thread_ts"] == parent.ts.as_str())
        .collect();
    assert_eq!(
        messages.len(),
        1,
        "found and updated, not posted twice: {messages:#?}"
    );
    assert_eq!(
        slack.calls(Some("chat.postMessage")).await.len(),
        2,
        "the parent and one post"
    );
    assert!(messages[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Blue/green deployment succeeded"));
    assert_eq!(
        record(&rig, &deployment).await["slack_ts"].as_s().unwrap(),
        messages[0]["ts"].as_str().unwrap()
    );
}

#[tokio::test]
async fn progress_is_posted_in_the_executions_slack_thread() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    // The notifier has opened the execution's thread.
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");

    let messages = slack.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "one progress message, updated in place: {messages:#?}"
    );
    let m = &messages[0];
    assert_eq!(
        (m["channel"].as_str(), m["thread_ts"].as_str()),
        (Some("C0DEPLOYS"), Some("1767225600.000100"))
    );
    let first_version = &m["history"][0];
    let buttons: Vec<String> = buttons(first_version)
        .into_iter()
        .map(|(action_id, _)| action_id)
        .collect();
    assert_eq!(
        buttons,
        vec![
            "gantry.deploy.promote",
            "gantry.deploy.rollback",
            "gantry.deploy.pause",
            "gantry.deploy.extend"
        ]
    );
    let texts = gantry_tests::strings_at(&m["history"], "text");
    assert!(
        texts.iter().any(|t| t.contains("10% of traffic on green")),
        "{texts:#?}"
    );
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .starts_with("Blue/green deployment succeeded"),
        "{}",
        m["text"]
    );
    assert!(
        !m["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "no buttons once done"
    );
    assert_eq!(
        record(&rig, &deployment).await["slack_ts"].as_s().unwrap(),
        m["ts"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_succeeded_deployments_message_offers_to_roll_back_to_the_stages_previous_commit() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    // What the notifier's status projection says the stage ran before this execution.
    let stage = "Deploy";
    let previous = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    aws_sdk_dynamodb::Client::new(&shop.sdk)
        .put_item()
        .table_name(&rig.table)
        .item("pk", AttributeValue::S("STATUS".into()))
        .item(
            "sk",
            AttributeValue::S(format!("{}#{stage}#live", shop.pipeline)),
        )
        .item("kind", AttributeValue::S("status_row".into()))
        .item("at", AttributeValue::N("1767225000".into()))
        // As the notifier writes it: every record expires (the table's TTL).
        .item("expires_at", AttributeValue::N("1801785000".into()))
        .item(
            "run",
            AttributeValue::S(
                json!({"pipeline": shop.pipeline, "stage": stage, "execution_id": "e-previous",
                       "state": "succeeded", "at": 1767225000, "commit": previous})
                .to_string(),
            ),
        )
        .send()
        .await
        .expect("status row");
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");
    let messages = slack.messages().await;
    let m = &messages[0];
    assert_eq!(
        buttons(m),
        vec![(
            "gantry.operate.roll_back_to".to_string(),
            format!("{}|{stage}|{execution}", shop.pipeline)
        )],
        "{m:#}"
    );
    assert!(m.to_string().contains("Roll back to 6113728"), "{m:#}");
}

/// A hub's service sets its Slack verbosity in its registry document, not in `GANTRY_NOTIFY`:
/// at `failures`, a deployment that succeeds posts nothing in its thread; back at `stages`, the
/// next one is posted. The shifter as `main` runs it, reading the registry's index on its role.
#[tokio::test]
async fn the_verbosity_a_services_registry_document_gives_is_honoured() {
    use gantry_adapters::dynamodb::{DynamoServiceIndex, StateTable};
    use gantry_core::registry::{IndexedService, ServiceIndexWriter};

    let slack = SlackNs::new();
    let setup = Setup::new("shop", &json!({"slack_bot_token": "xoxb-gantry"}))
        .await
        .with_slack_progress(slack.api_url());
    let index = DynamoServiceIndex {
        table: StateTable {
            client: aws_sdk_dynamodb::Client::new(&setup.sdk),
            name: setup.table.clone(),
        },
    };
    // As the notifier's sync writes it from the service's parameter.
    let registered = |verbosity: &str, version: i64| IndexedService {
        pipeline: setup.shop.pipeline.clone(),
        document: json!({"notify": {"channel": "C0SHOP", "verbosity": verbosity}}).to_string(),
        version,
        modified_ms: version * 1000,
        written_ms: gantry_core::clock::now_epoch_millis(),
    };
    index
        .put(&registered("failures", 1))
        .await
        .expect("indexed");

    let config = gantry_core::config::TrafficShifterConfig::from_env(&setup.env).expect("config");
    let (own, secrets) = gantry_tests::aws::function_start("traffic-shifter", &setup.stack).await;
    let mut live = {
        let clients = traffic_shifter::Clients::new(&own, &config);
        traffic_shifter::build_live(config, &secrets, clients)
    };
    live.shifter.get_mut().slice = gantry_tests::shifter::TEST_SLICE;
    // Each event reads the index again (the default is 20 s).
    live.registry.max_age_seconds = 0;
    let deploy = |image: &'static str| {
        let live = &live;
        let shop = &setup.shop;
        let table = &setup.table;
        async move {
            let first = shop
                .start_job(&shop.user_parameters(image, canary(2)), json!([]))
                .await;
            let execution = shop.execution_of(id(&first)).await;
            open_execution_thread(shop, table, &execution, "1767225600.000100").await;
            let views = run_job(&first, |event| async move {
                // Two minutes left to run, as `invoke` gives.
                let mut context = lambda_runtime::Context::default();
                context.deadline = gantry_core::clock::now_epoch_millis() as u64 + 120_000;
                live.handle_any(lambda_runtime::LambdaEvent::new(event, context))
                    .await
                    .expect("the job got a result");
            })
            .await;
            assert_eq!(status(&views), "Succeeded");
        }
    };

    deploy(NEW_IMAGE).await;
    assert_eq!(
        slack.messages().await,
        Vec::<Value>::new(),
        "verbosity failures: a success is not posted"
    );

    index.put(&registered("stages", 2)).await.expect("indexed");
    deploy(FIRST_IMAGE).await;
    let messages = slack.messages().await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(messages[0]["text"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Blue/green deployment succeeded"));
}
