//! The traffic shifter as its end-to-end tests drive it: a shop, a state table and the shifter
//! built as at its cold start (holding only its role's permissions), invoked as Lambda would
//! invoke it with each CodePipeline job event, and the records other functions write into the
//! state table for it (the notifier's execution thread, an operator's command).

use crate::aws::{function_start, sdk, table_and_secret};
use crate::iam::Stack;
use crate::traffic::{run_job, Shop, SHIFTER_FUNCTION};
use crate::unique;
use aws_config::SdkConfig;
use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::config::TrafficShifterConfig;
use gantry_core::traffic::{Cluster, HookFunctions, LoadBalancer, Shifter, ShifterPorts};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use traffic_shifter::{Production, TrafficShifter};

/// The image the tests deploy (blue and green run `traffic::FIRST_IMAGE` before).
pub const NEW_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:2";
/// The channel the shifter's Slack progress goes to.
pub const CHANNEL: &str = "C0DEPLOYS";
/// The notifier's parent message in `CHANNEL`, whose thread the progress goes to.
pub const THREAD_TS: &str = "1767225600.000100";
/// How long one invocation works before handing over: short, so that a deployment spans
/// several invocations and continuation tokens.
pub const TEST_SLICE: Duration = Duration::from_millis(2500);

/// What a rig is made of before its shifter starts; a test may still add to the shifter's
/// environment and to the stack its role is resolved from.
pub struct Setup {
    pub sdk: SdkConfig,
    pub shop: Shop,
    pub table: String,
    /// The shifter's environment variables.
    pub env: HashMap<String, String>,
    /// The stack whose template parameters the shifter's role is resolved from.
    pub stack: Stack,
}

impl Setup {
    /// A shop named after `shop_prefix` (blue live with two tasks), a state table, a Gantry
    /// secret holding `secret`, and the shifter's environment naming them.
    pub async fn new(shop_prefix: &str, secret: &Value) -> Setup {
        let sdk = sdk().await;
        let shop = Shop::create(&sdk, &unique(shop_prefix), 2).await;
        let (table, secret_arn) = table_and_secret(&sdk, secret).await;
        let env = HashMap::from([
            ("GANTRY_SECRETS_ARN".into(), secret_arn.clone()),
            ("GANTRY_TABLE".into(), table.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME".into(), SHIFTER_FUNCTION.into()),
        ]);
        let stack = shop.stack(&table, &secret_arn);
        Setup {
            sdk,
            shop,
            table,
            env,
            stack,
        }
    }

    /// Slack progress on: posts go to `CHANNEL` through the Slack API at `slack_api_url` (the
    /// secret must hold `slack_bot_token`).
    pub fn with_slack_progress(mut self, slack_api_url: String) -> Setup {
        self.env.insert(
            "GANTRY_NOTIFY".into(),
            format!(r#"{{"default_channel": "{CHANNEL}"}}"#),
        );
        self.env.insert("SLACK_API_URL".into(), slack_api_url);
        self
    }

    /// The shifter as at its cold start, working in `TEST_SLICE` slices.
    pub async fn shifter(&self) -> TrafficShifter {
        let config = TrafficShifterConfig::from_env(&self.env).expect("config");
        let (own, secrets) = function_start("traffic-shifter", &self.stack).await;
        let mut shifter = {
            let clients = traffic_shifter::Clients::new(&own, &config);
            traffic_shifter::build(config, &secrets, clients)
        };
        shifter.slice = TEST_SLICE;
        shifter
    }
}

/// A job event as Lambda delivers it, with two minutes left to run.
pub fn lambda_event(event: &Value) -> LambdaEvent<CodePipelineJobEvent> {
    let mut context = Context::default();
    context.deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_millis() as u64
        + 120_000;
    LambdaEvent::new(
        serde_json::from_value(event.clone()).expect("job event"),
        context,
    )
}

/// One invocation of the function with `event`, as Lambda would make it.
pub async fn invoke<P: ShifterPorts>(shifter: &Shifter<P>, event: &Value) -> Value {
    traffic_shifter::handle(shifter, lambda_event(event))
        .await
        .expect("the job got a result")
}

/// Invokes the job, then every continuation CodePipeline creates, until the job ends.
pub async fn run_to_end(shifter: &TrafficShifter, first: &Value) -> Vec<Value> {
    run_job(first, |event| async move {
        invoke(shifter, &event).await;
    })
    .await
}

/// The same, in the background.
pub fn spawn_run(
    shifter: &Arc<TrafficShifter>,
    first: &Value,
) -> tokio::task::JoinHandle<Vec<Value>> {
    let shifter = shifter.clone();
    let first = first.clone();
    tokio::spawn(async move { run_to_end(&shifter, &first).await })
}

/// The production ports with the cluster, load balancer and hook functions replaced (by
/// stand-ins around the real ones that fail at a chosen moment).
pub struct StandIns<C, L, H>(PhantomData<(C, L, H)>);

impl<C, L, H> ShifterPorts for StandIns<C, L, H>
where
    C: Cluster + Sync,
    L: LoadBalancer + Sync,
    H: HookFunctions + Sync,
{
    type Cluster = C;
    type Balancer = L;
    type Hooks = H;
    type Alarms = <Production as ShifterPorts>::Alarms;
    type Jobs = <Production as ShifterPorts>::Jobs;
    type Artifacts = <Production as ShifterPorts>::Artifacts;
    type Store = <Production as ShifterPorts>::Store;
    type Chat = <Production as ShifterPorts>::Chat;
    type Scaling = <Production as ShifterPorts>::Scaling;
    type Accounts = <Production as ShifterPorts>::Accounts;
}

/// The shifter `s` with its cluster, load balancer and hook functions replaced by stand-ins,
/// working in `slice` slices, without Slack progress.
pub fn with_stand_ins<C, L, H>(
    s: &TrafficShifter,
    cluster: C,
    balancer: L,
    hooks: H,
    slice: Duration,
) -> Shifter<StandIns<C, L, H>>
where
    C: Cluster + Sync,
    L: LoadBalancer + Sync,
    H: HookFunctions + Sync,
{
    Shifter {
        cluster,
        balancer,
        alarms: s.alarms.clone(),
        jobs: s.jobs.clone(),
        artifacts: s.artifacts.clone(),
        store: s.store.clone(),
        slack: None,
        slice,
        analysis_settle_seconds: s.analysis_settle_seconds,
        function_name: s.function_name.clone(),
        orphan_after: s.orphan_after,
        hooks,
        scaling: s.scaling.clone(),
        accounts: s.accounts.clone(),
    }
}

/// The notifier's record of an execution's Slack thread (parent message `ts` in `CHANNEL`),
/// which the shifter's progress replies in.
pub async fn open_execution_thread(shop: &Shop, table: &str, execution: &str, ts: &str) {
    aws_sdk_dynamodb::Client::new(&shop.sdk)
        .put_item()
        .table_name(table)
        .item(
            "pk",
            AttributeValue::S(format!("EXECUTION#{}#{execution}", shop.pipeline)),
        )
        .item("sk", AttributeValue::S("EXECUTION".into()))
        .item("channel", AttributeValue::S(CHANNEL.into()))
        .item("ts", AttributeValue::S(ts.to_string()))
        // As the notifier writes it: every record expires (tests/emulator/check_expires_at.py).
        .item("expires_at", AttributeValue::N("4102444800".into()))
        .send()
        .await
        .expect("execution record");
}

/// An operator's command (`promote`, `rollback`, `pause`…) by U0RELEASE, as the approval
/// function writes it into the deployment record for an authorized click.
pub struct Command<'a> {
    pub command: &'a str,
    /// `command_at`, in epoch seconds.
    pub at: u64,
    /// `command_version`: the controls' version the clicked message showed, when the click
    /// carries one.
    pub version: Option<u32>,
    /// `command_minutes`: what an Extend bake click adds.
    pub minutes: Option<u32>,
}

impl Default for Command<'_> {
    fn default() -> Self {
        Command {
            command: "",
            at: 1_767_225_600,
            version: None,
            minutes: None,
        }
    }
}

fn deployment_key(deployment: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(format!("DEPLOYMENT#{deployment}")),
        ),
        ("sk".to_string(), AttributeValue::S("DEPLOYMENT".into())),
    ])
}

/// Writes `command` into the deployment record.
pub async fn write_command(shop: &Shop, table: &str, deployment: &str, command: &Command<'_>) {
    let mut expression = "SET command = :c, command_by = :u, command_at = :t".to_string();
    let mut values = HashMap::from([
        (":c".to_string(), AttributeValue::S(command.command.into())),
        (":u".to_string(), AttributeValue::S("U0RELEASE".into())),
        (":t".to_string(), AttributeValue::N(command.at.to_string())),
    ]);
    for (attribute, placeholder, value) in [
        ("command_version", ":v", command.version),
        ("command_minutes", ":m", command.minutes),
    ] {
        if let Some(value) = value {
            expression.push_str(&format!(", {attribute} = {placeholder}"));
            values.insert(placeholder.into(), AttributeValue::N(value.to_string()));
        }
    }
    aws_sdk_dynamodb::Client::new(&shop.sdk)
        .update_item()
        .table_name(table)
        .set_key(Some(deployment_key(deployment)))
        .update_expression(expression)
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .expect("write command");
}

/// The deployment record (strongly consistent), if there is one.
pub async fn deployment_record(
    shop: &Shop,
    table: &str,
    deployment: &str,
) -> Option<HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&shop.sdk)
        .get_item()
        .table_name(table)
        .set_key(Some(deployment_key(deployment)))
        .consistent_read(true)
        .send()
        .await
        .expect("read record")
        .item
}
