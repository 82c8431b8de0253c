//! A blue/green "shop" in the emulator, for the traffic shifter's tests and the local demo: an
//! ECS cluster with two services, an ALB listener forwarding to their two target groups
//! (blue 100, green 0), two CloudWatch alarms, and a pipeline whose `Deploy` stage runs the
//! shifter. Everything is created through the real SDKs (EC2, which Gantry does not use, through
//! its query API).

use crate::http;
use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, PathPatternConditionConfig, ProtocolEnum,
    RuleCondition, TargetDescription, TargetGroupTuple, TargetTypeEnum,
};
use serde_json::{json, Value};

/// The container whose image deployments change; the task definition also has a sidecar, so
/// parameters must name it.
pub const CONTAINER: &str = "web";
/// The traffic shifter's function name: the rigs run it as `AWS_LAMBDA_FUNCTION_NAME`, and
/// each test pipeline declares its Deploy action as an invoke of it.
pub const SHIFTER_FUNCTION: &str = "gantry-traffic-shifter";
/// The image blue and green run before any deployment.
pub const FIRST_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:1";

/// One shop: names and ARNs of everything created.
#[derive(Debug, Clone)]
pub struct Shop {
    pub sdk: SdkConfig,
    pub name: String,
    pub cluster: String,
    pub blue_service: String,
    pub green_service: String,
    pub blue_target_group: String,
    pub green_target_group: String,
    pub listener: String,
    /// A rule (`/api/*`) with its own blue/green forward action.
    pub rule: String,
    pub alarms: Vec<String>,
    /// The pipeline; its `Deploy` stage has one action, `Deploy`.
    pub pipeline: String,
    pub vpc: String,
}

/// An EC2 query API call through the emulator; returns the XML answer.
pub async fn ec2(params: &[(&str, &str)]) -> String {
    ec2_in(None, params).await
}

/// `ec2` in `account` (moto's `x-moto-account-id`; `None`: the default account).
pub async fn ec2_in(account: Option<&str>, params: &[(&str, &str)]) -> String {
    let mut form: Vec<(&str, &str)> = vec![("Version", "2016-11-15")];
    form.extend_from_slice(params);
    let mut request = reqwest::Client::new().post(crate::emulator_url());
    if let Some(account) = account {
        request = request.header("x-moto-account-id", account);
    }
    let r = request
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(&form)
        .send()
        .await
        .expect("ec2 call");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "EC2 {params:?}: {status} {text}");
    text
}

fn xml_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).expect(tag) + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

/// A forward action splitting traffic between target groups: (ARN, weight) each.
pub fn forward_action(groups: &[(&str, i32)]) -> Action {
    let mut config = ForwardActionConfig::builder();
    for (arn, weight) in groups {
        config = config.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(*arn)
                .weight(*weight)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(config.build())
        .build()
}

/// Creates an alarm named `name` on a load balancer's target 5xx count (any one in a minute).
pub async fn create_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await
        .expect("alarm");
}

/// The ARN of the one resource a create call answered with (`what` names it for the panic).
fn only_arn<T>(created: Option<Vec<T>>, arn: fn(T) -> Option<String>, what: &str) -> String {
    first(created)
        .and_then(arn)
        .unwrap_or_else(|| panic!("{what} arn"))
}

/// The first of the items an AWS call answered with, if any.
fn first<T>(items: Option<Vec<T>>) -> Option<T> {
    items.and_then(|i| i.into_iter().next())
}

/// An HTTP target group of IP targets on port 8080 in `vpc`; returns its ARN.
async fn create_target_group(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    name: &str,
    vpc: &str,
) -> String {
    let created = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("target group");
    only_arn(
        created.target_groups,
        |g| g.target_group_arn,
        "target group",
    )
}

/// An HTTP listener on `port` of load balancer `lb` with `action` as its default; returns its
/// ARN.
async fn create_listener(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    lb: &str,
    port: i32,
    action: Action,
) -> String {
    let created = elb
        .create_listener()
        .load_balancer_arn(lb)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .default_actions(action)
        .tags(hub_tag())
        .send()
        .await
        .expect("listener");
    only_arn(created.listeners, |l| l.listener_arn, "listener")
}

/// The tag the application's stack puts on what the hub may act on (`gantry:hub`).
fn hub_tag() -> aws_sdk_elasticloadbalancingv2::types::Tag {
    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
        .key(crate::iam::HUB_TAG)
        .value(crate::iam::HUB)
        .build()
}

impl Shop {
    /// Creates a shop named `name` whose live (blue) service runs `tasks` tasks.
    pub async fn create(sdk: &SdkConfig, name: &str, tasks: i32) -> Shop {
        Shop::create_in(sdk, None, sdk, name, tasks).await
    }

    /// `create`, with the environment in `sdk`'s account (`account`; `None`: the default one)
    /// and the pipeline in `hub`'s.
    pub async fn create_in(
        sdk: &SdkConfig,
        account: Option<&str>,
        hub: &SdkConfig,
        name: &str,
        tasks: i32,
    ) -> Shop {
        let ecs = aws_sdk_ecs::Client::new(sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
        let cluster = name.to_string();
        ecs.create_cluster()
            .cluster_name(&cluster)
            .send()
            .await
            .expect("cluster");
        let container = |n: &str, image: &str| {
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(n)
                .image(image)
                .memory(256)
                .essential(n == CONTAINER)
                .build()
        };
        let task_definition = ecs
            .register_task_definition()
            .family(name)
            .container_definitions(container(CONTAINER, FIRST_IMAGE))
            .container_definitions(container("log-router", "fluent-bit:3"))
            .cpu("256")
            .memory("512")
            .send()
            .await
            .expect("task definition")
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("task definition arn");
        let (blue_service, green_service) = (format!("{name}-blue"), format!("{name}-green"));
        for (service, desired) in [(&blue_service, tasks), (&green_service, 0)] {
            ecs.create_service()
                .cluster(&cluster)
                .service_name(service)
                .task_definition(&task_definition)
                .desired_count(desired)
                .tags(
                    aws_sdk_ecs::types::Tag::builder()
                        .key(crate::iam::HUB_TAG)
                        .value(crate::iam::HUB)
                        .build(),
                )
                .send()
                .await
                .expect("service");
        }

        let vpc = xml_value(
            &ec2_in(
                account,
                &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")],
            )
            .await,
            "vpcId",
        );
        let mut subnets = Vec::new();
        for (cidr, zone) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
            let xml = ec2_in(
                account,
                &[
                    ("Action", "CreateSubnet"),
                    ("VpcId", &vpc),
                    ("CidrBlock", cidr),
                    ("AvailabilityZone", zone),
                ],
            )
            .await;
            subnets.push(xml_value(&xml, "subnetId"));
        }
        let created = elb
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(subnets))
            .send()
            .await
            .expect("load balancer");
        let lb = only_arn(
            created.load_balancers,
            |l| l.load_balancer_arn,
            "load balancer",
        );
        let mut groups = Vec::new();
        for (side, base) in [("blue", 10), ("green", 20)] {
            let arn = create_target_group(&elb, &format!("{name}-{side}"), &vpc).await;
            // ECS would register one target per task; the emulator's ECS does not, so the
            // targets are registered once, enough for the largest desired count used.
            let mut register = elb.register_targets().target_group_arn(&arn);
            for i in 0..tasks.max(1) {
                register = register.targets(
                    TargetDescription::builder()
                        .id(format!("10.0.1.{}", base + i))
                        .port(8080)
                        .build(),
                );
            }
            register.send().await.expect("register targets");
            groups.push(arn);
        }
        let (blue_target_group, green_target_group) = (groups[0].clone(), groups[1].clone());
        let all_on_blue = forward_action(&[(&blue_target_group, 100), (&green_target_group, 0)]);
        let listener = create_listener(&elb, &lb, 80, all_on_blue).await;

        let alarms = vec![format!("{name}-5xx"), format!("{name}-p99")];
        let cloudwatch = aws_sdk_cloudwatch::Client::new(sdk);
        for alarm in &alarms {
            create_alarm(&cloudwatch, alarm).await;
        }
        let mut shop = Shop {
            sdk: sdk.clone(),
            name: name.to_string(),
            cluster,
            blue_service,
            green_service,
            blue_target_group,
            green_target_group,
            listener,
            // Added below, as any other rule.
            rule: String::new(),
            alarms,
            pipeline: name.to_string(),
            vpc,
        };
        let api_paths = RuleCondition::builder()
            .field("path-pattern")
            .path_pattern_config(
                PathPatternConditionConfig::builder()
                    .values("/api/*")
                    .build(),
            )
            .build();
        shop.rule = shop.add_rule(10, api_paths).await;
        for alarm in &shop.alarms {
            shop.set_alarm(alarm, "OK").await;
        }
        crate::aws::create_pipeline(hub, &shop.pipeline, "Source", &["Deploy"]).await;
        shop
    }

    /// The stack whose traffic shifter deploys this shop: the shop is its dev environment
    /// (qa and prod keep resolve.py's sample names).
    pub fn stack(&self, table: &str, secret_arn: &str) -> crate::iam::Stack {
        crate::iam::Stack {
            parameters: vec![json!({
                "ServiceName": self.pipeline,
                "DevCluster": self.cluster,
                "DevListenerArn": self.listener,
                "DevBlueService": self.blue_service,
                "DevBlueTargetGroupArn": self.blue_target_group,
                "DevGreenService": self.green_service,
                "DevGreenTargetGroupArn": self.green_target_group,
                "DevAlarmNames": self.alarms,
            })],
            ..crate::iam::Stack::for_pipeline(&self.pipeline, table, secret_arn)
        }
    }

    /// `UserParameters` for a deployment of `image` with `strategy`, watching both alarms, with
    /// test-sized timings (checks every second, old version kept one second).
    pub fn user_parameters(&self, image: &str, strategy: Value) -> Value {
        json!({
            "cluster": self.cluster,
            "listener_arn": self.listener,
            "blue": {"service": self.blue_service, "target_group_arn": self.blue_target_group},
            "green": {"service": self.green_service, "target_group_arn": self.green_target_group},
            "image": image,
            "container": CONTAINER,
            "strategy": strategy,
            "alarms": self.alarms,
            "check_interval_seconds": 1,
            "scale_down_after_seconds": 1,
            "ready_timeout_seconds": 30
        })
    }

    /// Starts a pipeline execution (the job's context) and creates the shifter's job in its
    /// `Deploy` stage; returns `{job_id, event}`.
    pub async fn start_job(&self, user_parameters: &Value, input_artifacts: Value) -> Value {
        // The shifter confirms a job against the pipeline's declaration of its action.
        crate::aws::declare_lambda_action(
            &self.sdk,
            &self.pipeline,
            "Deploy",
            SHIFTER_FUNCTION,
            &user_parameters.to_string(),
        )
        .await;
        let execution = aws_sdk_codepipeline::Client::new(&self.sdk)
            .start_pipeline_execution()
            .name(&self.pipeline)
            .send()
            .await
            .expect("start execution")
            .pipeline_execution_id
            .expect("execution id");
        http::post(
            &format!("{}/_gantry/codepipeline/jobs", crate::emulator_url()),
            &json!({"pipeline": self.pipeline, "stage": "Deploy", "action": "Deploy",
                    "execution_id": execution,
                    "user_parameters": user_parameters.to_string(),
                    "input_artifacts": input_artifacts}),
        )
        .await
    }

    /// The pipeline execution a job belongs to.
    pub async fn execution_of(&self, job_id: &str) -> String {
        aws_sdk_codepipeline::Client::new(&self.sdk)
            .get_job_details()
            .job_id(job_id)
            .send()
            .await
            .expect("job details")
            .job_details
            .and_then(|d| d.data)
            .and_then(|d| d.pipeline_context)
            .and_then(|c| c.pipeline_execution_id)
            .expect("execution id")
    }

    /// The listener as ELB describes it now.
    async fn described_listener(&self) -> Option<aws_sdk_elasticloadbalancingv2::types::Listener> {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        let arn = &self.listener;
        let described = elb.describe_listeners().listener_arns(arn).send().await;
        first(described.expect("listeners").listeners)
    }

    /// The listener's current (blue, green) weights; `rule` reads the rule's instead.
    pub async fn weights(&self, rule: bool) -> (i32, i32) {
        let actions = if rule {
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
            let described = elb.describe_rules().rule_arns(&self.rule).send().await;
            first(described.expect("rules").rules).and_then(|r| r.actions)
        } else {
            self.described_listener()
                .await
                .and_then(|l| l.default_actions)
        }
        .unwrap_or_default();
        let groups = actions
            .into_iter()
            .find_map(|a| a.forward_config.and_then(|f| f.target_groups))
            .unwrap_or_default();
        let weight = |arn: &str| {
            groups
                .iter()
                .find(|g| g.target_group_arn.as_deref() == Some(arn))
                .and_then(|g| g.weight)
                .unwrap_or(0)
        };
        (
            weight(&self.blue_target_group),
            weight(&self.green_target_group),
        )
    }

    /// Every weight change the emulator saw on the listener (or the rule), as green's share.
    pub async fn green_shares(&self, rule: bool) -> Vec<i64> {
        let arn = if rule { &self.rule } else { &self.listener };
        self.weight_changes(arn)
            .await
            .into_iter()
            .map(|(_, share)| share)
            .collect()
    }

    /// Every weight change the emulator saw on a listener or rule `arn`: (epoch seconds,
    /// green's share in percent).
    pub async fn weight_changes(&self, arn: &str) -> Vec<(f64, i64)> {
        let v = http::get(&format!(
            "{}/_gantry/elbv2/weight-changes?arn={arn}",
            crate::emulator_url()
        ))
        .await;
        v["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let w = &c["weights"];
                let (b, g) = (
                    w[&self.blue_target_group].as_i64().unwrap_or(0),
                    w[&self.green_target_group].as_i64().unwrap_or(0),
                );
                let share = if b + g == 0 { 0 } else { g * 100 / (b + g) };
                (c["at"].as_f64().unwrap_or(0.0), share)
            })
            .collect()
    }

    /// Waits (at most 30 seconds) until the listener sends `percent` to green.
    pub async fn until_green_at(&self, percent: i32) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.weights(false).await.1 != percent {
            assert!(
                std::time::Instant::now() < deadline,
                "green never reached {percent}%"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Sets a CloudWatch alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub async fn set_alarm(&self, alarm: &str, state: &str) {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
            .set_alarm_state()
            .alarm_name(alarm)
            .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
            .state_reason("set by the test")
            .send()
            .await
            .expect("set alarm state");
    }

    /// Makes every target of green's (or blue's) target group report `state`.
    pub async fn set_target_health(&self, green: bool, state: &str) {
        let arn = if green {
            &self.green_target_group
        } else {
            &self.blue_target_group
        };
        http::post(
            &format!("{}/_gantry/elbv2/target-health", crate::emulator_url()),
            &json!({"target_group_arn": arn, "state": state}),
        )
        .await;
    }

    /// The next `count` calls of `operation` (ModifyListener, DescribeListeners…) naming this
    /// shop's listener fail as during an AWS blip (503 ServiceUnavailable).
    pub async fn fail_listener_calls(&self, operation: &str, count: u32) {
        http::post(
            &format!("{}/_gantry/faults", crate::emulator_url()),
            &json!({"operation": operation, "count": count, "match": self.listener}),
        )
        .await;
    }

    /// A service's (task definition, desired count).
    pub async fn service(&self, name: &str) -> (String, i32) {
        let out = aws_sdk_ecs::Client::new(&self.sdk)
            .describe_services()
            .cluster(&self.cluster)
            .services(name)
            .send()
            .await
            .expect("describe services");
        let s = out.services().first().expect("service");
        (
            s.task_definition().unwrap_or_default().to_string(),
            s.desired_count(),
        )
    }

    /// The image of `container` in a task definition.
    pub async fn image(&self, task_definition: &str, container: &str) -> String {
        aws_sdk_ecs::Client::new(&self.sdk)
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .expect("describe task definition")
            .task_definition
            .expect("task definition")
            .container_definitions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.name.as_deref() == Some(container))
            .and_then(|c| c.image)
            .unwrap_or_default()
    }

    /// Points the listener's forward action at other target groups (to break the setup).
    pub async fn forward_listener_to(&self, groups: &[(&str, i32)]) {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
            .modify_listener()
            .listener_arn(&self.listener)
            .default_actions(forward_action(groups))
            .send()
            .await
            .expect("modify listener");
    }

    /// Creates a target group in the shop's VPC that no listener uses.
    pub async fn stray_target_group(&self, name: &str) -> String {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        create_target_group(&elb, name, &self.vpc).await
    }

    /// A second listener (port 8080) on the shop's load balancer, forwarding to the same two
    /// target groups, blue 100 / green 0: where a team's smoke tests (and only they) send
    /// requests. Returns its ARN.
    pub async fn add_test_listener(&self) -> String {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        let lb = self
            .described_listener()
            .await
            .and_then(|l| l.load_balancer_arn)
            .expect("load balancer");
        create_listener(&elb, &lb, 8080, self.all_on_blue()).await
    }

    /// A rule on the listener forwarding what matches `condition` to blue 100 / green 0.
    /// Returns its ARN.
    pub async fn add_rule(&self, priority: i32, condition: RuleCondition) -> String {
        let created = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
            .create_rule()
            .listener_arn(&self.listener)
            .priority(priority)
            .conditions(condition)
            .actions(self.all_on_blue())
            .tags(hub_tag())
            .send()
            .await
            .expect("rule");
        only_arn(created.rules, |r| r.rule_arn, "rule")
    }

    /// Removes the `gantry:hub` tag from a listener or rule: what the hub's roles may no longer
    /// touch (a resource of another team, or of a service removed from the hub).
    pub async fn untag(&self, arn: &str) {
        aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk)
            .remove_tags()
            .resource_arns(arn)
            .tag_keys(crate::iam::HUB_TAG)
            .send()
            .await
            .expect("remove tags");
    }

    /// A forward action sending everything to blue, green at weight 0 (as before a deployment).
    pub fn all_on_blue(&self) -> Action {
        forward_action(&[
            (&self.blue_target_group, 100),
            (&self.green_target_group, 0),
        ])
    }

    /// Sets a service's desired count (as auto scaling or an operator would).
    pub async fn set_desired_count(&self, service: &str, count: i32) {
        aws_sdk_ecs::Client::new(&self.sdk)
            .update_service()
            .cluster(&self.cluster)
            .service(service)
            .desired_count(count)
            .send()
            .await
            .expect("update service");
    }
}

/// From now on, ECS fails every deployment whose tasks run `image` (the tasks never start and
/// the deployment's circuit breaker fails it, a while after UpdateService). Give each test its
/// own image: one emulator serves the tests running at once.
pub async fn tasks_fail_to_start(image: &str) {
    http::post(
        &format!("{}/_gantry/ecs/failing-images", crate::emulator_url()),
        &json!({"image": image}),
    )
    .await;
}

/// A job's view in the emulator: `{job_id, status, results, event, next_job?}`.
pub async fn job(job_id: &str) -> Value {
    http::get(&format!(
        "{}/_gantry/codepipeline/jobs/{job_id}",
        crate::emulator_url()
    ))
    .await
}

/// Follows a job and every continuation CodePipeline creates for it until the job ends,
/// calling `invoke` with each `CodePipeline.job` event (a direct call of the handler, or the
/// real binary behind a Lambda runtime). Returns the emulator's view of each job, in order.
/// Panics when an invocation leaves its job without a result.
pub async fn run_job<F, Fut>(first: &Value, mut invoke: F) -> Vec<Value>
where
    F: FnMut(Value) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut views = Vec::new();
    let mut event = first["event"].clone();
    let mut job_id = first["job_id"].as_str().expect("job_id").to_string();
    for _ in 0..1000 {
        invoke(event.clone()).await;
        let view = job(&job_id).await;
        let next = view.get("next_job").cloned();
        let status = view["status"].as_str().unwrap_or_default().to_string();
        views.push(view);
        match (status.as_str(), next) {
            ("Continued", Some(next)) => {
                event = next["event"].clone();
                job_id = next["job_id"].as_str().expect("job_id").to_string();
            }
            ("InProgress", _) => panic!("job {job_id} was left without a result"),
            _ => return views,
        }
    }
    panic!("the deployment did not end in 1000 invocations");
}

/// The last result CodePipeline accepted for the last job (a refused one has an `error`).
fn accepted_result(views: &[Value]) -> Option<Value> {
    views.last()?["results"]
        .as_array()
        .and_then(|r| r.iter().rev().find(|r| r["error"].is_null()))
        .cloned()
}

/// The last result CodePipeline accepted: `{operation, body}`.
pub fn last_result(views: &[Value]) -> Value {
    assert!(!views.is_empty(), "a job");
    accepted_result(views).expect("an accepted result")
}

/// The message of the failure the job ended with (it must have ended with one).
pub fn failure_message(views: &[Value]) -> String {
    let r = last_result(views);
    assert_eq!(r["operation"], "PutJobFailureResult", "{r}");
    r["body"]["failureDetails"]["message"]
        .as_str()
        .expect("a failure message")
        .to_string()
}

/// How a job ended, in one line: `Succeeded: green (shop-green) is live …` or
/// `Failed: rolled back at 10% green: alarm shop-5xx went to ALARM`.
pub fn outcome(views: &[Value]) -> String {
    let Some(last) = views.last() else {
        return "no job".into();
    };
    let result = accepted_result(views).unwrap_or(Value::Null);
    let text = result["body"]["failureDetails"]["message"]
        .as_str()
        .or(result["body"]["executionDetails"]["summary"].as_str())
        .unwrap_or_default();
    format!("{}: {text}", last["status"].as_str().unwrap_or("?"))
}

/// A canary gone bad, for the demo and the tests: as soon as the listener's weights move
/// (the new version takes its first share), `alarm` goes to ALARM. Runs in the background
/// until then (at most two minutes).
pub fn alarm_when_traffic_moves(shop: &Shop, alarm: &str) -> tokio::task::JoinHandle<()> {
    let (shop, alarm) = (shop.clone(), alarm.to_string());
    tokio::spawn(async move {
        let before = shop.weights(false).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if shop.weights(false).await != before {
                shop.set_alarm(&alarm, "ALARM").await;
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
}
