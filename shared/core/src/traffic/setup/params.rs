//! The traffic shifter's `UserParameters`: parsed, validated, every error naming its field.
//!
//! Parsed by hand over `serde_json::Value` rather than derived, so that a wrong type, a value
//! out of range or a typo in a key says which field, in the words of the documentation.

use crate::traffic::setup::hooks::{LifecycleHook, LifecycleStage, TimeoutAction};
use crate::traffic::setup::plan::Strategy;
use crate::traffic::setup::weights::Side;
use serde_json::{Map, Value};

/// Where the weights live: a listener's default action or one listener rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficControl {
    Listener(String),
    Rule(String),
}

impl TrafficControl {
    /// The ARN of the listener or rule.
    pub fn arn(&self) -> &str {
        match self {
            TrafficControl::Listener(a) | TrafficControl::Rule(a) => a,
        }
    }

    /// `listener <arn>` / `listener rule <arn>`, for messages.
    pub fn describe(&self) -> String {
        match self {
            TrafficControl::Listener(a) => format!("listener {a}"),
            TrafficControl::Rule(a) => format!("listener rule {a}"),
        }
    }
}

/// One half of the pair: an ECS service and the target group it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideSpec {
    pub service: String,
    pub target_group_arn: String,
}

/// The validated `UserParameters`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserParameters {
    pub cluster: String,
    pub traffic: TrafficControl,
    pub blue: SideSpec,
    pub green: SideSpec,
    /// The new image; `None` when an `imagedefinitions.json` input artifact names it.
    pub image: Option<String>,
    /// The container whose image changes; `None` when the task definition has only one.
    pub container: Option<String>,
    pub strategy: Strategy,
    pub alarms: Vec<String>,
    pub check_interval_seconds: u32,
    pub scale_down_after_seconds: u32,
    pub ready_timeout_seconds: u32,
    /// Judge the new side against the live side (`analysis`; `None`: not asked for).
    pub analysis: Option<crate::analysis::AnalysisConfig>,
    /// The test listener (or rule): 100% of its traffic goes to the new side before any
    /// production weight moves (`test_listener_arn` / `test_listener_rule_arn`).
    pub test_traffic: Option<TrafficControl>,
    /// ECS's lifecycle hooks (`lifecycle_hooks`), in the order given.
    pub lifecycle_hooks: Vec<LifecycleHook>,
    /// Where the deployment waits between two checks (`wait_between_checks`): in the
    /// invocation, or handed back to CodePipeline (`budget::hands_back` decides).
    pub wait_between_checks: WaitBetweenChecks,
    /// The account the environment is in, when not the pipeline's (`role_arn`, `external_id`).
    pub target: Option<crate::traffic::account::TargetAccount>,
}

/// Where a deployment spends the time between two checks (`wait_between_checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitBetweenChecks {
    /// `"in_lambda"` (the default): the invocation sleeps until the next check, so a problem
    /// is seen within `check_interval_seconds`, and Lambda bills the whole wait.
    #[default]
    InLambda,
    /// `"in_codepipeline"`: the job goes back to CodePipeline with the continuation token and
    /// the next invocation checks; Lambda bills only the checks, and checks come no sooner
    /// than CodePipeline invokes the continuation.
    InCodePipeline,
}

/// Defaults for the optional fields.
pub const DEFAULT_CHECK_INTERVAL_SECONDS: u32 = 15;
pub const DEFAULT_SCALE_DOWN_AFTER_SECONDS: u32 = 300;
pub const DEFAULT_READY_TIMEOUT_SECONDS: u32 = 900;
/// CloudWatch's own limit on alarm names in one `DescribeAlarms` call.
pub const MAX_ALARMS: usize = 100;

impl UserParameters {
    /// Whether the new side is tested before production moves: a test listener, or hooks at
    /// the testing stages.
    pub fn tests(&self) -> bool {
        self.test_traffic.is_some()
            || self
                .lifecycle_hooks
                .iter()
                .any(|h| h.stages().iter().any(|s| s.is_testing()))
    }

    /// The spec of `side`.
    pub fn side(&self, side: Side) -> &SideSpec {
        match side {
            Side::Blue => &self.blue,
            Side::Green => &self.green,
        }
    }
}

/// A field that is missing, of the wrong type, or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("UserParameters: {field} {problem}")]
pub struct ParamsError {
    /// The field's path, as in the documentation (`strategy.percent`).
    pub field: String,
    pub problem: String,
}

fn err(field: &str, problem: impl Into<String>) -> ParamsError {
    ParamsError {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// An object's fields, read once each, so that the ones left over are unknown.
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn of(path: &str, value: &'a Value) -> Result<Self, ParamsError> {
        let map = value.as_object().ok_or_else(|| {
            err(
                if path.is_empty() {
                    "(the whole value)"
                } else {
                    path
                },
                "must be a JSON object",
            )
        })?;
        Ok(Self {
            path: path.to_string(),
            map,
            read: Vec::new(),
        })
    }

    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &'static str) -> Result<Option<String>, ParamsError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(err(&self.name(key), "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(err(&self.name(key), "must be a string")),
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<String, ParamsError> {
        self.string(key)?
            .ok_or_else(|| err(&self.name(key), "is missing"))
    }

    fn number(
        &mut self,
        key: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ParamsError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(err(
                    &self.name(key),
                    format!("must be a whole number from {min} to {max}, got {v}"),
                )),
            },
        }
    }

    fn object(&mut self, key: &'static str) -> Result<Option<Fields<'a>>, ParamsError> {
        let name = self.name(key);
        self.get(key).map(|v| Fields::of(&name, v)).transpose()
    }

    /// Fails on the first field nobody read: a typo must not silently fall back to a default.
    fn finish(self) -> Result<(), ParamsError> {
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.read.contains(&k.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(k) => Err(err(&self.name(k), "is not a known field")),
        }
    }
}

/// Parses and validates the `UserParameters` string of the action's configuration.
pub fn parse(text: &str) -> Result<UserParameters, ParamsError> {
    if text.trim().is_empty() {
        return Err(err(
            "(the whole value)",
            "is empty: the action needs UserParameters (JSON)",
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| err("(the whole value)", format!("is not valid JSON ({e})")))?;
    let mut f = Fields::of("", &value)?;
    let cluster = f.required_string("cluster")?;
    let listener = f.string("listener_arn")?;
    let rule = f.string("listener_rule_arn")?;
    let traffic = match (listener, rule) {
        (Some(_), Some(_)) => {
            return Err(err(
                "listener_rule_arn",
                "cannot be given together with listener_arn: name the one whose forward action carries the weights",
            ))
        }
        (Some(l), None) => TrafficControl::Listener(arn_of(&l, "listener_arn", ":listener/")?),
        (None, Some(r)) => TrafficControl::Rule(arn_of(&r, "listener_rule_arn", ":listener-rule/")?),
        (None, None) => return Err(err("listener_arn", "is missing (or give listener_rule_arn)")),
    };
    let blue = side(&mut f, "blue")?;
    let green = side(&mut f, "green")?;
    if blue.service == green.service {
        return Err(err("green.service", "must differ from blue.service"));
    }
    if blue.target_group_arn == green.target_group_arn {
        return Err(err(
            "green.target_group_arn",
            "must differ from blue.target_group_arn",
        ));
    }
    let image = f.string("image")?;
    if let Some(image) = &image {
        if image.contains("#{") {
            return Err(err(
                "image",
                format!("still holds an unresolved pipeline variable ({image}): check the variable's namespace and name"),
            ));
        }
        if image.chars().any(char::is_whitespace) {
            return Err(err(
                "image",
                format!("is not an image reference: {image:?}"),
            ));
        }
    }
    let container = f.string("container")?;
    let strategy = strategy(&mut f)?;
    let alarms = alarms(&mut f)?;
    let check_interval_seconds = f
        .number("check_interval_seconds", 1, 3600)?
        .unwrap_or(DEFAULT_CHECK_INTERVAL_SECONDS as u64) as u32;
    let scale_down_after_seconds =
        f.number("scale_down_after_seconds", 0, 2 * 24 * 3600)?
            .unwrap_or(DEFAULT_SCALE_DOWN_AFTER_SECONDS as u64) as u32;
    let ready_timeout_seconds = f
        .number("ready_timeout_seconds", 1, 24 * 3600)?
        .unwrap_or(DEFAULT_READY_TIMEOUT_SECONDS as u64) as u32;
    let analysis = f
        .get("analysis")
        .map(|v| {
            crate::analysis::AnalysisConfig::from_json(v).map_err(|e| {
                let text = e.to_string();
                match text.split_once(' ') {
                    Some((field, problem)) if field.starts_with("analysis") => err(field, problem),
                    _ => err("analysis", text),
                }
            })
        })
        .transpose()?;
    let test_listener = f.string("test_listener_arn")?;
    let test_rule = f.string("test_listener_rule_arn")?;
    let test_traffic = match (test_listener, test_rule) {
        (Some(_), Some(_)) => {
            return Err(err(
                "test_listener_rule_arn",
                "cannot be given together with test_listener_arn: name the one whose forward action carries the test weights",
            ))
        }
        (Some(l), None) => Some(TrafficControl::Listener(arn_of(
            &l,
            "test_listener_arn",
            ":listener/",
        )?)),
        (None, Some(r)) => Some(TrafficControl::Rule(arn_of(
            &r,
            "test_listener_rule_arn",
            ":listener-rule/",
        )?)),
        (None, None) => None,
    };
    if let Some(test) = &test_traffic {
        if test.arn() == traffic.arn() {
            return Err(err(
                if matches!(test, TrafficControl::Listener(_)) {
                    "test_listener_arn"
                } else {
                    "test_listener_rule_arn"
                },
                "must differ from the production listener (or rule): test traffic needs its own",
            ));
        }
    }
    let lifecycle_hooks = lifecycle_hooks(&mut f)?;
    let wait_between_checks = match f.string("wait_between_checks")?.as_deref() {
        None | Some("in_lambda") => WaitBetweenChecks::InLambda,
        Some("in_codepipeline") => WaitBetweenChecks::InCodePipeline,
        Some(other) => {
            return Err(err(
                "wait_between_checks",
                format!("must be \"in_lambda\" or \"in_codepipeline\", not {other:?}"),
            ))
        }
    };
    // The execution the pipeline ran the action for (`#{codepipeline.PipelineExecutionId}`):
    // checked against the job before anything moves (`traffic::checks::confirm`), not used here.
    let _ = f.string("execution_id")?;
    let target =
        crate::traffic::account::parse_target(f.string("role_arn")?, f.string("external_id")?)
            .map_err(|(field, problem)| err(field, problem))?;
    f.finish()?;
    Ok(UserParameters {
        cluster,
        traffic,
        blue,
        green,
        image,
        container,
        strategy,
        alarms,
        check_interval_seconds,
        scale_down_after_seconds,
        ready_timeout_seconds,
        analysis,
        test_traffic,
        lifecycle_hooks,
        wait_between_checks,
        target,
    })
}

/// The longest a pause hook may wait: CodePipeline gives a Lambda invoke action 24 hours
/// (`preflight::MAX_ACTION_SECONDS`).
pub const MAX_PAUSE_MINUTES: u64 = 24 * 60;

fn lifecycle_hooks(f: &mut Fields<'_>) -> Result<Vec<LifecycleHook>, ParamsError> {
    let Some(value) = f.get("lifecycle_hooks") else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| err("lifecycle_hooks", "must be a list of hooks"))?;
    if list.len() > 20 {
        return Err(err(
            "lifecycle_hooks",
            format!("has {} hooks; at most 20", list.len()),
        ));
    }
    let mut hooks = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let path = format!("lifecycle_hooks[{i}]");
        let mut h = Fields::of(&path, v)?;
        let kind = h.string("type")?;
        let stages = lifecycle_stages(&mut h)?;
        let hook = match kind.as_deref() {
            None | Some("lambda") => {
                let arn = h.string("hook_target_arn")?.ok_or_else(|| {
                    err(
                        &h.name("hook_target_arn"),
                        "is missing (the hook's Lambda function ARN)",
                    )
                })?;
                if !(arn.starts_with("arn:")
                    && arn.contains(":lambda:")
                    && arn.contains(":function:"))
                {
                    return Err(err(
                        &h.name("hook_target_arn"),
                        format!("must be a Lambda function ARN, got {arn:?}"),
                    ));
                }
                let details = h.get("hook_details").cloned().unwrap_or(Value::Null);
                if !matches!(details, Value::Object(_) | Value::Null) {
                    return Err(err(&h.name("hook_details"), "must be a JSON object"));
                }
                LifecycleHook::Function {
                    arn,
                    stages,
                    details,
                }
            }
            Some("pause") => {
                let timeout_minutes = h
                    .number("timeout_minutes", 1, MAX_PAUSE_MINUTES)?
                    .unwrap_or(60) as u32;
                let timeout_action = match h.string("timeout_action")?.as_deref() {
                    None | Some("ROLLBACK") => TimeoutAction::RollBack,
                    Some("CONTINUE") => TimeoutAction::Continue,
                    Some(other) => {
                        return Err(err(
                            &h.name("timeout_action"),
                            format!("must be ROLLBACK or CONTINUE, got {other:?}"),
                        ))
                    }
                };
                LifecycleHook::Pause {
                    stages,
                    timeout_minutes,
                    timeout_action,
                }
            }
            Some(other) => {
                return Err(err(
                    &h.name("type"),
                    format!("must be lambda (or absent) or pause, got {other:?}"),
                ))
            }
        };
        h.finish()?;
        hooks.push(hook);
    }
    Ok(hooks)
}

fn lifecycle_stages(h: &mut Fields<'_>) -> Result<Vec<LifecycleStage>, ParamsError> {
    let field = h.name("lifecycle_stages");
    let known = || {
        LifecycleStage::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = h
        .get("lifecycle_stages")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            err(
                &field,
                format!("must be a non-empty list of stages ({})", known()),
            )
        })?;
    let mut stages = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let stage = v
            .as_str()
            .and_then(LifecycleStage::from_name)
            .ok_or_else(|| {
                err(
                    &format!("{field}[{i}]"),
                    format!("must be one of {}, got {v}", known()),
                )
            })?;
        if !stages.contains(&stage) {
            stages.push(stage);
        }
    }
    Ok(stages)
}

fn arn_of(value: &str, field: &str, kind: &str) -> Result<String, ParamsError> {
    if value.starts_with("arn:") && value.contains(":elasticloadbalancing:") && value.contains(kind)
    {
        Ok(value.to_string())
    } else {
        Err(err(
            field,
            format!(
                "must be an Elastic Load Balancing ARN containing {:?}, got {value:?}",
                kind.trim_matches(':')
            ),
        ))
    }
}

fn side(f: &mut Fields<'_>, key: &'static str) -> Result<SideSpec, ParamsError> {
    let mut s = f.object(key)?.ok_or_else(|| {
        err(
            key,
            "is missing (an object with service and target_group_arn)",
        )
    })?;
    let service = s.required_string("service")?;
    let target_group_arn = s.required_string("target_group_arn")?;
    let field = s.name("target_group_arn");
    let target_group_arn = arn_of(&target_group_arn, &field, ":targetgroup/")?;
    s.finish()?;
    Ok(SideSpec {
        service,
        target_group_arn,
    })
}

fn strategy(f: &mut Fields<'_>) -> Result<Strategy, ParamsError> {
    let value = f.get("strategy").ok_or_else(|| {
        err(
            "strategy",
            "is missing: {\"type\": \"canary\", \"percent\": 10, \"bake_seconds\": 300}, linear, all_at_once, or a CodeDeployDefault.ECS… name",
        )
    })?;
    if let Value::String(name) = value {
        return Strategy::preset(name).ok_or_else(|| {
            err(
                "strategy",
                format!(
                    "{name:?} is not a known preset (known: {})",
                    Strategy::PRESETS.join(", ")
                ),
            )
        });
    }
    let mut s = Fields::of("strategy", value)?;
    let kind = s.required_string("type")?;
    let strategy = match kind.as_str() {
        "all_at_once" => Strategy::AllAtOnce,
        "canary" => Strategy::Canary {
            percent: percent(&mut s, "percent")?,
            bake_seconds: duration(&mut s, "bake_seconds", "bake_minutes")?,
        },
        "linear" => Strategy::Linear {
            step_percent: percent(&mut s, "step_percent")?,
            interval_seconds: duration(&mut s, "interval_seconds", "interval_minutes")?,
        },
        other => {
            return Err(err(
                "strategy.type",
                format!("must be canary, linear or all_at_once, got {other:?}"),
            ))
        }
    };
    s.finish()?;
    Ok(strategy)
}

fn percent(s: &mut Fields<'_>, key: &'static str) -> Result<u8, ParamsError> {
    s.number(key, 1, 99)?
        .map(|p| p as u8)
        .ok_or_else(|| err(&s.name(key), "is missing (1 to 99)"))
}

/// Seconds, or minutes as in CodeDeploy's presets; exactly one of the two.
fn duration(
    s: &mut Fields<'_>,
    seconds: &'static str,
    minutes: &'static str,
) -> Result<u32, ParamsError> {
    const DAY: u64 = 24 * 3600;
    let secs = s.number(seconds, 1, DAY)?;
    let mins = s.number(minutes, 1, DAY / 60)?;
    match (secs, mins) {
        (Some(_), Some(_)) => Err(err(
            &s.name(minutes),
            format!("cannot be given together with {}", s.name(seconds)),
        )),
        (Some(v), None) => Ok(v as u32),
        (None, Some(m)) => Ok((m * 60) as u32),
        (None, None) => Err(err(
            &s.name(seconds),
            format!("is missing (or give {})", s.name(minutes)),
        )),
    }
}

fn alarms(f: &mut Fields<'_>) -> Result<Vec<String>, ParamsError> {
    let Some(value) = f.get("alarms") else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| err("alarms", "must be a list of CloudWatch alarm names"))?;
    if list.len() > MAX_ALARMS {
        return Err(err(
            "alarms",
            format!("has {} names; at most {MAX_ALARMS}", list.len()),
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(str::trim) {
            Some(name) if !name.is_empty() => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
            _ => {
                return Err(err(
                    &format!("alarms[{i}]"),
                    "must be a non-empty alarm name",
                ))
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LISTENER: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const RULE: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";

    fn tg(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/6d0ecf831eec9f09")
    }

    /// The contract's example.
    fn example() -> Value {
        json!({"cluster": "shop",
               "listener_arn": LISTENER,
               "blue":  {"service": "shop-blue",  "target_group_arn": tg("shop-blue")},
               "green": {"service": "shop-green", "target_group_arn": tg("shop-green")},
               "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3f2a9c1",
               "container": "web",
               "strategy": {"type": "canary", "percent": 10, "bake_seconds": 300},
               "alarms": ["shop-5xx", "shop-p99"],
               "check_interval_seconds": 15,
               "scale_down_after_seconds": 600})
    }

    fn parse_value(v: &Value) -> Result<UserParameters, ParamsError> {
        parse(&v.to_string())
    }

    fn field_of(v: Value) -> String {
        parse_value(&v).unwrap_err().field
    }

    #[test]
    fn the_contract_example_parses() {
        let p = parse_value(&example()).unwrap();
        assert_eq!(p.cluster, "shop");
        assert_eq!(p.traffic, TrafficControl::Listener(LISTENER.into()));
        assert_eq!(p.green.service, "shop-green");
        assert_eq!(p.container.as_deref(), Some("web"));
        assert_eq!(
            p.strategy,
            Strategy::Canary {
                percent: 10,
                bake_seconds: 300
            }
        );
        assert_eq!(p.alarms, vec!["shop-5xx", "shop-p99"]);
        assert_eq!(
            (p.check_interval_seconds, p.scale_down_after_seconds),
            (15, 600)
        );
        assert_eq!(p.ready_timeout_seconds, DEFAULT_READY_TIMEOUT_SECONDS);
    }

    #[test]
    fn a_missing_listener_is_named() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("listener_arn");
        let e = parse_value(&v).unwrap_err();
        assert_eq!(e.field, "listener_arn");
        assert_eq!(
            e.to_string(),
            "UserParameters: listener_arn is missing (or give listener_rule_arn)"
        );
    }

    #[test]
    fn a_listener_rule_may_carry_the_weights_instead() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("listener_arn");
        v["listener_rule_arn"] = json!(RULE);
        assert_eq!(
            parse_value(&v).unwrap().traffic,
            TrafficControl::Rule(RULE.into())
        );
        v["listener_arn"] = json!(LISTENER);
        assert_eq!(parse_value(&v).unwrap_err().field, "listener_rule_arn");
    }

    #[test]
    fn arns_of_the_wrong_kind_are_refused() {
        let mut v = example();
        v["listener_arn"] = json!(tg("x"));
        assert_eq!(field_of(v), "listener_arn");
        let mut v = example();
        v["green"]["target_group_arn"] = json!(LISTENER);
        assert_eq!(field_of(v), "green.target_group_arn");
    }

    #[test]
    fn the_two_sides_must_differ() {
        let mut v = example();
        v["green"]["service"] = json!("shop-blue");
        assert_eq!(field_of(v), "green.service");
        let mut v = example();
        v["green"]["target_group_arn"] = json!(tg("shop-blue"));
        assert_eq!(field_of(v), "green.target_group_arn");
        let mut v = example();
        v.as_object_mut().unwrap().remove("blue");
        assert_eq!(field_of(v), "blue");
        let mut v = example();
        v["blue"].as_object_mut().unwrap().remove("service");
        assert_eq!(field_of(v), "blue.service");
    }

    #[test]
    fn strategies_accept_seconds_or_minutes_and_preset_names() {
        let mut v = example();
        v["strategy"] = json!({"type": "linear", "step_percent": 20, "interval_minutes": 3});
        assert_eq!(
            parse_value(&v).unwrap().strategy,
            Strategy::Linear {
                step_percent: 20,
                interval_seconds: 180
            }
        );
        v["strategy"] = json!({"type": "all_at_once"});
        assert_eq!(parse_value(&v).unwrap().strategy, Strategy::AllAtOnce);
        v["strategy"] = json!("CodeDeployDefault.ECSCanary10Percent5Minutes");
        assert_eq!(
            parse_value(&v).unwrap().strategy,
            Strategy::Canary {
                percent: 10,
                bake_seconds: 300
            }
        );
        v["strategy"] = json!("ECSBlueMoon");
        assert_eq!(field_of(v), "strategy");
    }

    #[test]
    fn strategy_fields_are_checked() {
        for (strategy, field) in [
            (
                json!({"type": "canary", "percent": 100, "bake_seconds": 3}),
                "strategy.percent",
            ),
            (
                json!({"type": "canary", "percent": 10}),
                "strategy.bake_seconds",
            ),
            (
                json!({"type": "canary", "percent": 10, "bake_seconds": 1, "bake_minutes": 1}),
                "strategy.bake_minutes",
            ),
            (
                json!({"type": "linear", "percent": 10, "interval_seconds": 1}),
                "strategy.step_percent",
            ),
            (
                json!({"type": "linear", "step_percent": 10, "interval_seconds": 1, "bake": 1}),
                "strategy.bake",
            ),
            (json!({"type": "blue-moon"}), "strategy.type"),
            (json!({"percent": 10}), "strategy.type"),
        ] {
            let mut v = example();
            v["strategy"] = strategy.clone();
            assert_eq!(field_of(v), field, "{strategy}");
        }
    }

    #[test]
    fn the_execution_a_pipeline_names_is_accepted() {
        let mut v = example();
        v["execution_id"] = json!("2d6c6d0c-0000-4000-8000-000000000000");
        assert!(parse_value(&v).is_ok());
    }

    #[test]
    fn an_unknown_field_is_a_typo_not_a_default() {
        let mut v = example();
        v["check_interval_secs"] = json!(5);
        let e = parse_value(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "UserParameters: check_interval_secs is not a known field"
        );
    }

    #[test]
    fn numbers_out_of_range_say_the_range() {
        let mut v = example();
        v["check_interval_seconds"] = json!(0);
        let e = parse_value(&v).unwrap_err().to_string();
        assert!(
            e.contains("check_interval_seconds must be a whole number from 1 to 3600, got 0"),
            "{e}"
        );
        let mut v = example();
        v["scale_down_after_seconds"] = json!("600");
        assert_eq!(field_of(v), "scale_down_after_seconds");
    }

    #[test]
    fn waits_stay_in_lambda_unless_a_team_hands_them_to_codepipeline() {
        assert_eq!(
            parse_value(&example()).unwrap().wait_between_checks,
            WaitBetweenChecks::InLambda
        );
        let mut v = example();
        v["wait_between_checks"] = json!("in_codepipeline");
        assert_eq!(
            parse_value(&v).unwrap().wait_between_checks,
            WaitBetweenChecks::InCodePipeline
        );
        v["wait_between_checks"] = json!("in_the_cloud");
        let e = parse_value(&v).unwrap_err().to_string();
        assert!(
            e.contains(r#"wait_between_checks must be "in_lambda" or "in_codepipeline""#),
            "{e}"
        );
    }

    #[test]
    fn an_unresolved_pipeline_variable_is_caught() {
        let mut v = example();
        v["image"] = json!("repo/shop:#{BuildVariables.IMAGE_TAG}");
        let e = parse_value(&v).unwrap_err().to_string();
        assert!(e.contains("unresolved pipeline variable"), "{e}");
    }

    #[test]
    fn image_may_be_left_to_an_artifact() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("image");
        v.as_object_mut().unwrap().remove("container");
        let p = parse_value(&v).unwrap();
        assert_eq!((p.image, p.container), (None, None));
    }

    #[test]
    fn alarms_are_names() {
        let mut v = example();
        v["alarms"] = json!(["a", ""]);
        assert_eq!(field_of(v), "alarms[1]");
        let mut v = example();
        v["alarms"] = json!("a");
        assert_eq!(field_of(v), "alarms");
        let mut v = example();
        v["alarms"] = json!(["a", "a"]);
        assert_eq!(parse_value(&v).unwrap().alarms, vec!["a"]);
    }

    #[test]
    fn not_json_and_not_an_object_are_reported() {
        assert!(parse("").unwrap_err().to_string().contains("is empty"));
        assert!(parse("{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(parse("[]")
            .unwrap_err()
            .to_string()
            .contains("must be a JSON object"));
    }

    #[test]
    fn a_test_listener_and_ecs_hooks_are_read_in_ecs_terms() {
        let test = LISTENER.replace("f2f7dc8efc522ab2", "0123456789abcdef");
        let mut v = example();
        v["test_listener_arn"] = json!(test);
        v["lifecycle_hooks"] = json!([
            {"hook_target_arn": "arn:aws:lambda:us-east-1:123456789012:function:smoke",
             "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"],
             "hook_details": {"path": "/health"}},
            {"type": "pause", "lifecycle_stages": ["PRODUCTION_TRAFFIC_SHIFT"],
             "timeout_minutes": 30, "timeout_action": "CONTINUE"}
        ]);
        let p = parse_value(&v).expect("valid");
        assert_eq!(p.test_traffic, Some(TrafficControl::Listener(test)));
        assert!(p.tests());
        assert_eq!(
            p.lifecycle_hooks,
            vec![
                LifecycleHook::Function {
                    arn: "arn:aws:lambda:us-east-1:123456789012:function:smoke".into(),
                    stages: vec![LifecycleStage::PostTestTrafficShift],
                    details: json!({"path": "/health"}),
                },
                LifecycleHook::Pause {
                    stages: vec![LifecycleStage::ProductionTrafficShift],
                    timeout_minutes: 30,
                    timeout_action: TimeoutAction::Continue,
                },
            ]
        );
        // Without either, nothing is tested (a production-only hook does not make a test phase).
        let mut v = example();
        v["lifecycle_hooks"] =
            json!([{"type": "pause", "lifecycle_stages": ["PRODUCTION_TRAFFIC_SHIFT"]}]);
        assert!(!parse_value(&v).unwrap().tests());
    }

    #[test]
    fn bad_hooks_and_test_listeners_name_their_field() {
        let with = |key: &str, value: Value| {
            let mut v = example();
            v[key] = value;
            field_of(v)
        };
        assert_eq!(
            with("test_listener_arn", json!(LISTENER)),
            "test_listener_arn"
        );
        assert_eq!(with("test_listener_arn", json!(RULE)), "test_listener_arn");
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"lifecycle_stages": ["POST_SCALE_UP"]}])
            ),
            "lifecycle_hooks[0].hook_target_arn"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"hook_target_arn": "smoke", "lifecycle_stages": ["POST_SCALE_UP"]}])
            ),
            "lifecycle_hooks[0].hook_target_arn"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"type": "pause", "lifecycle_stages": ["RECONCILE_SERVICE"]}])
            ),
            "lifecycle_hooks[0].lifecycle_stages[0]"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"type": "pause", "lifecycle_stages": []}])
            ),
            "lifecycle_hooks[0].lifecycle_stages"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"type": "pause", "lifecycle_stages": ["POST_SCALE_UP"], "timeout_minutes": 1441}])
            ),
            "lifecycle_hooks[0].timeout_minutes"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"type": "pause", "lifecycle_stages": ["POST_SCALE_UP"], "timeout_action": "WAIT"}])
            ),
            "lifecycle_hooks[0].timeout_action"
        );
        assert_eq!(
            with(
                "lifecycle_hooks",
                json!([{"type": "pause", "lifecycle_stages": ["POST_SCALE_UP"], "roleArn": "x"}])
            ),
            "lifecycle_hooks[0].roleArn"
        );
    }

    #[test]
    fn role_arn_and_external_id_name_the_target_account() {
        let mut v = example();
        v["role_arn"] = json!("arn:aws:iam::222222222222:role/gantry-target-shop");
        v["external_id"] = json!("shop-prod-7f3a");
        let target = parse_value(&v).unwrap().target.unwrap();
        assert_eq!(target.account_id(), "222222222222");
        assert_eq!(target.external_id.as_deref(), Some("shop-prod-7f3a"));
        assert_eq!(parse_value(&example()).unwrap().target, None);
        v["role_arn"] = json!("gantry-target-shop");
        assert_eq!(field_of(v), "role_arn");
    }
}
