//! AWS resources in the emulator, created through the real SDKs (the wire protocol Gantry uses).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use gantry_core::secrets::GantrySecrets;
use serde_json::{json, Value};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// An SDK configuration pointed at the emulator, with dummy credentials: what the tests use to
/// set up and inspect the world.
pub async fn sdk() -> SdkConfig {
    sdk_with_key("testing").await
}

/// What a function under test starts with, as at its cold start: its SDK configuration and the
/// Gantry secret read with it. The configuration carries the access key of an IAM user holding
/// exactly the function's role policies from template.yaml, resolved for `stack`; the emulator
/// (started with `--enforce-iam`) refuses whatever that role does not allow, and its call log
/// (`GET /_gantry/calls`) says what each function called (tests/template/check_calls.py).
pub async fn function_start(
    function: &str,
    stack: &crate::iam::Stack,
) -> (SdkConfig, GantrySecrets) {
    function_start_as(crate::iam::function_key(function, stack).await, stack).await
}

/// `function_start` with the access key of a given user (`iam::function_key_edited`).
pub async fn function_start_as(
    key: crate::iam::FunctionKey,
    stack: &crate::iam::Stack,
) -> (SdkConfig, GantrySecrets) {
    let sdk = sdk_with_credentials(&key.access_key_id, &key.secret_access_key).await;
    let secrets = gantry_adapters::secretsmanager::fetch_secrets(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &stack.secret_arn,
    )
    .await
    .expect("secret");
    (sdk, secrets)
}

async fn sdk_with_key(key: &str) -> SdkConfig {
    sdk_with_credentials(key, "testing").await
}

async fn sdk_with_credentials(key: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(crate::emulator_url())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            key,
            secret,
            None,
            None,
            "gantry-tests",
        ))
        .load()
        .await
}

/// A state table and a Gantry secret holding `secret`, both named for this test alone:
/// (table name, secret ARN).
pub async fn table_and_secret(sdk: &SdkConfig, secret: &Value) -> (String, String) {
    let table = crate::unique("gantry");
    create_table(sdk, &table).await;
    let secret_arn = create_secret(sdk, &crate::unique("gantry-secret"), secret).await;
    (table, secret_arn)
}

/// Creates the state table exactly as the SAM template does (pk/sk, TTL on `expires_at`).
pub async fn create_table(sdk: &SdkConfig, name: &str) {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key")
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// Creates the Gantry secret; returns its ARN.
pub async fn create_secret(sdk: &SdkConfig, name: &str, value: &Value) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create secret")
        .arn()
        .expect("arn")
        .to_string()
}

/// Creates the IAM role CodePipeline assumes (moto checks its trust policy). IAM is a query
/// protocol service: one form POST, no SDK needed.
pub async fn create_pipeline_role(name: &str) -> String {
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let body: String = form_urlencoded_pairs(&[
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", name),
        ("AssumeRolePolicyDocument", &policy.to_string()),
    ]);
    let r = reqwest::Client::new()
        .post(crate::emulator_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .expect("create role");
    assert!(
        r.status().is_success(),
        "create role: {}",
        r.text().await.unwrap_or_default()
    );
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", k, urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The pipeline-level variables `template.yaml` declares (the webhook sets them; CodePipeline
/// refuses a variable the pipeline does not declare), each defaulting to `-`.
pub const PIPELINE_VARIABLES: [&str; 8] = [
    "COMMIT_ID",
    "BRANCH",
    "TAG",
    "REPOSITORY",
    "AUTHOR",
    "COMMIT_MESSAGE",
    "PUSHER",
    "COMMIT_AUTHORS",
];

/// `PIPELINE_VARIABLES` as a V2 pipeline declares them.
pub fn pipeline_variables() -> Vec<aws_sdk_codepipeline::types::PipelineVariableDeclaration> {
    PIPELINE_VARIABLES
        .iter()
        .map(|name| {
            aws_sdk_codepipeline::types::PipelineVariableDeclaration::builder()
                .name(*name)
                .default_value("-")
                .build()
                .expect("variable declaration")
        })
        .collect()
}

/// The type of an action AWS provides (`version` 1): CodeStar sources, manual approvals,
/// CodeBuild, Lambda invokes.
pub fn aws_action_type(
    category: aws_sdk_codepipeline::types::ActionCategory,
    provider: &str,
) -> aws_sdk_codepipeline::types::ActionTypeId {
    aws_sdk_codepipeline::types::ActionTypeId::builder()
        .category(category)
        .owner(aws_sdk_codepipeline::types::ActionOwner::Aws)
        .provider(provider)
        .version("1")
        .build()
        .expect("type id")
}

/// A stage holding one action.
pub fn one_action_stage(
    name: &str,
    action: aws_sdk_codepipeline::types::ActionDeclaration,
) -> aws_sdk_codepipeline::types::StageDeclaration {
    aws_sdk_codepipeline::types::StageDeclaration::builder()
        .name(name)
        .actions(action)
        .build()
        .expect("stage")
}

/// A V2 pipeline declaration like the SAM template's, with a new service role, up to its
/// `Source` stage (a CodeStar source action named `source_action`); the caller adds the rest.
pub async fn pipeline_from_source(
    name: &str,
    source_action: &str,
) -> aws_sdk_codepipeline::types::builders::PipelineDeclarationBuilder {
    use aws_sdk_codepipeline::types::*;
    let role = create_pipeline_role(&crate::unique("pipeline-role")).await;
    let source = ActionDeclaration::builder()
        .name(source_action)
        .action_type_id(aws_action_type(
            ActionCategory::Source,
            "CodeStarSourceConnection",
        ))
        .build()
        .expect("action");
    PipelineDeclaration::builder()
        .name(name)
        .role_arn(role)
        .pipeline_type(PipelineType::V2)
        .set_variables(Some(pipeline_variables()))
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location("gantry-artifacts")
                .build()
                .expect("store"),
        )
        .stages(one_action_stage("Source", source))
}

/// Creates the pipeline `declaration` declares.
pub async fn create_declared_pipeline(
    sdk: &SdkConfig,
    declaration: aws_sdk_codepipeline::types::builders::PipelineDeclarationBuilder,
) {
    aws_sdk_codepipeline::Client::new(sdk)
        .create_pipeline()
        .pipeline(declaration.build().expect("pipeline"))
        // What a service's stack tags its pipeline with: the hub's roles may act on it.
        .tags(
            aws_sdk_codepipeline::types::Tag::builder()
                .key(crate::iam::HUB_TAG)
                .value(crate::iam::HUB)
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create pipeline");
}

/// A pipeline like the SAM template's: a CodeStar source action named `source_action`, then
/// the given stages, each with one action (`Approval` stages get a manual approval).
pub async fn create_pipeline(sdk: &SdkConfig, name: &str, source_action: &str, stages: &[&str]) {
    use aws_sdk_codepipeline::types::*;
    let mut declaration = pipeline_from_source(name, source_action).await;
    for stage in stages {
        let (action, category, provider) = if stage.contains("Approv") {
            ("Approve", ActionCategory::Approval, "Manual")
        } else {
            (*stage, ActionCategory::Build, "CodeBuild")
        };
        let action = ActionDeclaration::builder()
            .name(action)
            .action_type_id(aws_action_type(category, provider))
            .build()
            .expect("action");
        declaration = declaration.stages(one_action_stage(stage, action));
    }
    create_declared_pipeline(sdk, declaration).await;
}

/// Declares `stage`'s one action as a Lambda invoke of `function` with `user_parameters` (as
/// the SAM template's pipeline declares the traffic shifter), keeping the action's name.
pub async fn declare_lambda_action(
    sdk: &SdkConfig,
    pipeline: &str,
    stage: &str,
    function: &str,
    user_parameters: &str,
) {
    use aws_sdk_codepipeline::types::*;
    edit_pipeline(sdk, pipeline, |declaration| {
        for s in declaration.stages.iter_mut().filter(|s| s.name == stage) {
            let actions = s.actions.iter().map(|a| {
                ActionDeclaration::builder()
                    .name(&a.name)
                    .action_type_id(aws_action_type(ActionCategory::Invoke, "Lambda"))
                    .configuration("FunctionName", function)
                    .configuration("UserParameters", user_parameters)
                    .build()
                    .expect("action")
            });
            *s = StageDeclaration::builder()
                .name(&s.name)
                .set_actions(Some(actions.collect()))
                .build()
                .expect("stage");
        }
    })
    .await;
}

/// Changes a pipeline's declaration with `edit`, as someone editing it in the console would.
pub async fn edit_pipeline(
    sdk: &SdkConfig,
    pipeline: &str,
    edit: impl FnOnce(&mut aws_sdk_codepipeline::types::PipelineDeclaration),
) {
    let client = aws_sdk_codepipeline::Client::new(sdk);
    let mut declaration = client
        .get_pipeline()
        .name(pipeline)
        .send()
        .await
        .expect("get pipeline")
        .pipeline
        .expect("pipeline");
    edit(&mut declaration);
    client
        .update_pipeline()
        .pipeline(declaration)
        .send()
        .await
        .expect("update pipeline");
}

/// Every `StartPipelineExecution` the emulator recorded for `pipeline`.
pub async fn recorded_starts(pipeline: &str) -> Vec<Value> {
    let v = crate::http::get(&format!(
        "{}/_gantry/codepipeline/starts?pipeline={pipeline}",
        crate::emulator_url()
    ))
    .await;
    v.get("starts")
        .or(Some(&v))
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default()
}

/// The messages waiting on `queue` (up to 10), as Lambda's SQS event source delivers them to a
/// function: what a test hands the webhook to drain its retry queue.
pub async fn queued_as_sqs_event(sdk: &SdkConfig, queue: &str) -> Value {
    let out = aws_sdk_sqs::Client::new(sdk)
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let records: Vec<Value> = out
        .messages()
        .iter()
        .map(|m| {
            json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                   "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                   "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:retry"), "awsRegion": REGION})
        })
        .collect();
    json!({ "Records": records })
}
