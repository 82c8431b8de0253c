//! Each function under test runs as an IAM user holding exactly its role's policies from
//! template.yaml, resolved for the test's own stack (its pipeline, table, secret, topic, ECS and
//! ELB names). The emulator resolves the template (tests/template/resolve.py) and makes the user
//! (`POST /_gantry/iam/functions`); when it enforces IAM (`--enforce-iam`, as `make test` and the
//! harness start it), a call the role does not allow is refused as AWS would refuse it.

use serde_json::{json, Map, Value};

/// The hub the tests' functions belong to: template.yaml's default `HubName`. The hub's roles act
/// only on resources tagged `gantry:hub` with it, so every pipeline, ECS service, listener, rule
/// and hook function the tests create carries that tag (as a service's stack would tag them).
pub const HUB: &str = "gantry";
/// The tag key the hub's roles are conditioned on (`aws:ResourceTag/gantry:hub`).
pub const HUB_TAG: &str = "gantry:hub";

/// The stack a function's role is resolved for: the template parameters a user would give
/// `sam deploy`, and what CloudFormation would name the stack's own resources.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// Template parameters (`ServiceName`, `DevCluster`, …); the rest take resolve.py's sample
    /// answers. Several sets stand for several stacks (a world routing to several pipelines).
    pub parameters: Vec<Value>,
    pub table: String,
    pub secret_arn: String,
    pub topic_arn: Option<String>,
    /// The webhook's retry queue: (URL, ARN).
    pub retry_queue: Option<(String, String)>,
}

impl Stack {
    /// A stack delivering `pipeline` (the `ServiceName` names the pipeline).
    pub fn for_pipeline(pipeline: &str, table: &str, secret_arn: &str) -> Stack {
        Stack {
            parameters: vec![json!({"ServiceName": pipeline})],
            table: table.to_string(),
            secret_arn: secret_arn.to_string(),
            topic_arn: None,
            retry_queue: None,
        }
    }
}

/// An IAM user's access key, made for one function of one stack.
#[derive(Debug, Clone)]
pub struct FunctionKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The policies the user holds (the role's, resolved).
    pub policies: Value,
    /// The user's ARN: what stands in for the function's role where a policy names it (the
    /// trust policy of a target account's role).
    pub arn: String,
}

/// Makes `function`'s user for `stack`, holding its role's policies from template.yaml.
pub async fn function_key(function: &str, stack: &Stack) -> FunctionKey {
    make_user(function, stack, None).await
}

/// Makes `function`'s user for `stack`, holding its role's policies after `edit` (a permission
/// removed, a condition narrowed): what a test shows the emulator refuses.
pub async fn function_key_edited(
    function: &str,
    stack: &Stack,
    edit: impl FnOnce(&mut Value),
) -> FunctionKey {
    let mut policies = make_user(function, stack, None).await.policies;
    edit(&mut policies);
    make_user(function, stack, Some(policies)).await
}

/// The statements of every policy in `policies` (the `policies` of a `FunctionKey`).
fn statements(policies: &mut Value) -> impl Iterator<Item = &mut Vec<Value>> {
    policies
        .as_array_mut()
        .into_iter()
        .flatten()
        .filter_map(|p| p["PolicyDocument"]["Statement"].as_array_mut())
}

/// Removes the statement `sid` from `policies`.
pub fn remove_statement(policies: &mut Value, sid: &str) {
    for list in statements(policies) {
        list.retain(|s| s["Sid"] != sid);
    }
}

/// Sets the `dynamodb:LeadingKeys` patterns of the statement `sid`.
pub fn set_leading_keys(policies: &mut Value, sid: &str, patterns: &[&str]) {
    for list in statements(policies) {
        for s in list.iter_mut().filter(|s| s["Sid"] == sid) {
            s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = json!(patterns);
        }
    }
}

async fn make_user(function: &str, stack: &Stack, policies: Option<Value>) -> FunctionKey {
    let mut names = Map::new();
    names.insert("StateTable".into(), json!(stack.table));
    names.insert("GantrySecret".into(), json!(stack.secret_arn));
    if let Some(topic) = &stack.topic_arn {
        names.insert("Topic".into(), json!(topic));
    }
    if let Some((url, arn)) = &stack.retry_queue {
        names.insert("WebhookRetryQueue".into(), json!({"Ref": url, "Arn": arn}));
    }
    let parameters = match stack.parameters.as_slice() {
        [one] => one.clone(),
        many => Value::Array(many.to_vec()),
    };
    let made = crate::http::post(
        &format!("{}/_gantry/iam/functions", crate::emulator_url()),
        &json!({"function": function, "parameters": parameters, "names": names,
                "policies": policies}),
    )
    .await;
    let text = |k: &str| made[k].as_str().unwrap_or_default().to_string();
    FunctionKey {
        access_key_id: text("access_key_id"),
        secret_access_key: text("secret_access_key"),
        policies: made["policies"].clone(),
        arn: text("arn"),
    }
}

/// Every request the emulator refused (`GET /_gantry/iam/denied`): principal, action, resource.
pub async fn refusals() -> Vec<Value> {
    crate::http::get(&format!("{}/_gantry/iam/denied", crate::emulator_url()))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}
