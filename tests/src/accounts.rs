//! A second AWS account in the emulator: the shop (ECS, the ALB, alarms) in account B, the
//! pipeline, the state table and the traffic shifter in the hub account, and the role
//! service/target-account.yaml makes in B, which the shifter assumes (`role_arn`).
//!
//! moto keeps each account's resources apart and gives `AssumeRole` into another account's
//! role credentials of that account; the emulator's IAM enforcement answers them with the
//! role's own policies and checks its trust policy (tests/emulator/iam_enforce.py).

use crate::aws::{function_start_as, sdk, table_and_secret, REGION};
use crate::http;
use crate::shifter::TEST_SLICE;
use crate::traffic::{Shop, SHIFTER_FUNCTION};
use crate::{emulator_url, unique};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use gantry_core::config::TrafficShifterConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use traffic_shifter::TrafficShifter;

/// The target account.
pub const ACCOUNT_B: &str = "222222222222";
/// The external id the target role's trust policy requires.
pub const EXTERNAL_ID: &str = "shop-prod-7f3a";

/// An SDK configuration acting as `account`'s administrator (the role AWS Organizations
/// creates in a member account), to build and inspect that account's world.
pub async fn admin_of(account: &str) -> SdkConfig {
    let assumed = aws_sdk_sts::Client::new(&sdk().await)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("gantry-tests")
        .send()
        .await
        .expect("assume the account's admin role");
    let c = assumed.credentials.expect("credentials");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(emulator_url())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "gantry-tests",
        ))
        .load()
        .await
}

/// A shop in account B deployed from the hub.
pub struct CrossAccount {
    /// The shop, seen from account B (weights, services, alarms).
    pub shop: Shop,
    /// The same shop as the hub sees it: its pipeline and jobs.
    pub hub: Shop,
    pub shifter: TrafficShifter,
    /// The target role service/target-account.yaml made in B.
    pub role_arn: String,
    /// The principal the shifter acts as in the hub (stands in for its role).
    pub shifter_arn: String,
}

/// How the target role is made.
pub struct TargetRole {
    /// The external id its trust policy requires.
    pub external_id: &'static str,
    /// The listener its policy lets the shifter move (`None`: the shop's).
    pub listener_arn: Option<String>,
    /// The lifetime of the credentials STS gives for it (`None`: an hour).
    pub lifetime_seconds: Option<u32>,
    /// The hook functions its policy lets the shifter invoke (`HookFunctionArns`).
    pub hook_function_arns: Vec<String>,
}

impl Default for TargetRole {
    fn default() -> Self {
        TargetRole {
            external_id: EXTERNAL_ID,
            listener_arn: None,
            lifetime_seconds: None,
            hook_function_arns: Vec::new(),
        }
    }
}

impl CrossAccount {
    /// The shop in B (blue live with two tasks), the pipeline, table, secret and shifter in the
    /// hub, and the target role in B made as `role` says.
    pub async fn new(role: TargetRole) -> CrossAccount {
        CrossAccount::with_env(role, &[]).await
    }

    /// `new`, with `env` added to the shifter's environment.
    pub async fn with_env(role: TargetRole, env: &[(&str, &str)]) -> CrossAccount {
        let extra = env;
        let hub_sdk = sdk().await;
        let b = admin_of(ACCOUNT_B).await;
        let shop = Shop::create_in(&b, Some(ACCOUNT_B), &hub_sdk, &unique("xshop"), 2).await;
        let (table, secret_arn) = table_and_secret(&hub_sdk, &json!({})).await;
        let mut env = HashMap::from([
            ("GANTRY_SECRETS_ARN".to_string(), secret_arn.clone()),
            ("GANTRY_TABLE".to_string(), table.clone()),
            (
                "AWS_LAMBDA_FUNCTION_NAME".to_string(),
                SHIFTER_FUNCTION.to_string(),
            ),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let stack = shop.stack(&table, &secret_arn);
        let key = crate::iam::function_key("traffic-shifter", &stack).await;
        let shifter_arn = key.arn.clone();
        let made = http::post(
            &format!("{}/_gantry/iam/target-roles", emulator_url()),
            &json!({"account": ACCOUNT_B, "trusted": shifter_arn, "parameters": {
                "HubAccountId": crate::aws::ACCOUNT,
                "HubTrafficShifterRoleName": "gantry-shop-TrafficShifterRole-1A2B3C",
                "ExternalId": role.external_id,
                "ServiceName": shop.pipeline,
                "Cluster": shop.cluster,
                "BlueService": shop.blue_service,
                "GreenService": shop.green_service,
                "ListenerArn": role.listener_arn.clone().unwrap_or_else(|| shop.listener.clone()),
                "TaskRoleArns": format!("arn:aws:iam::{ACCOUNT_B}:role/shop-task"),
                "HookFunctionArns": role.hook_function_arns.join(","),
            }}),
        )
        .await;
        let role_arn = made["arn"].as_str().expect("the role's ARN").to_string();
        if let Some(seconds) = role.lifetime_seconds {
            http::post(
                &format!("{}/_gantry/sts/lifetime", emulator_url()),
                &json!({"role_arn": role_arn, "seconds": seconds}),
            )
            .await;
        }
        let config = TrafficShifterConfig::from_env(&env).expect("config");
        let (own, secrets) = function_start_as(key, &stack).await;
        let mut shifter = traffic_shifter::build(
            config.clone(),
            &secrets,
            traffic_shifter::Clients::new(&own, &config),
        );
        shifter.slice = TEST_SLICE;
        let mut hub = shop.clone();
        hub.sdk = hub_sdk;
        CrossAccount {
            shop,
            hub,
            shifter,
            role_arn,
            shifter_arn,
        }
    }

    /// `UserParameters` deploying `image` with `strategy` in account B, through the role.
    pub fn user_parameters(&self, image: &str, strategy: Value) -> Value {
        let mut p = self.shop.user_parameters(image, strategy);
        p["role_arn"] = json!(self.role_arn);
        p["external_id"] = json!(EXTERNAL_ID);
        p
    }

    /// Starts the hub's job with `params`; returns `{job_id, event}`.
    pub async fn start_job(&self, params: &Value) -> Value {
        self.hub.start_job(params, json!([])).await
    }
}

/// Registers a hook function in account B running tests/hooks/`script` when invoked; returns
/// its ARN.
pub async fn hook_function_in_b(script: &str) -> String {
    let arn = format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT_B}:function:{}",
        unique("xhook")
    );
    let program = format!("{}/hooks/{script}", env!("CARGO_MANIFEST_DIR"));
    http::post(
        &format!("{}/_gantry/lambda/functions", emulator_url()),
        &json!({"function": arn, "command": ["python3", program]}),
    )
    .await;
    arn
}

/// The invocations of `function` the emulator recorded.
pub async fn invocations(function: &str) -> Vec<Value> {
    let v = http::get(&format!(
        "{}/_gantry/lambda/invocations?function={function}",
        emulator_url()
    ))
    .await;
    v.as_array()
        .cloned()
        .or_else(|| v["invocations"].as_array().cloned())
        .unwrap_or_default()
}

/// The calls signed with expired credentials the emulator refused (`ExpiredToken`).
pub async fn expired_calls() -> Vec<Value> {
    http::get(&format!("{}/_gantry/sts/expired", emulator_url()))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}
