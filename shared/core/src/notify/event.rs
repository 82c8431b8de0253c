//! EventBridge's `aws.codepipeline` events, read into what the notifier needs.
//!
//! The envelope is parsed with `aws_lambda_events`' `CodePipelineCloudWatchEvent`. Real events
//! write `detail.version` as a float (`16.0`) and `detail.type.version` as a string (`"1"`),
//! which that type (i64 for both) refuses, so those two numbers are normalised first. What the
//! type does not carry (`execution-result` of a finished action) is read from the raw detail.

use super::status::Status;
use crate::codepipeline_limits::{first_too_long, ID_LIMIT, NAME_LIMIT};
use aws_lambda_events::event::codepipeline_cloudwatch::CodePipelineCloudWatchEvent;
use serde_json::Value;

pub const SOURCE: &str = "aws.codepipeline";
pub const PIPELINE_DETAIL_TYPE: &str = "CodePipeline Pipeline Execution State Change";
pub const STAGE_DETAIL_TYPE: &str = "CodePipeline Stage Execution State Change";
pub const ACTION_DETAIL_TYPE: &str = "CodePipeline Action Execution State Change";

/// One state change of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineEvent {
    /// EventBridge's event id (repeated on redelivery).
    pub id: String,
    /// When the change happened, epoch seconds.
    pub at: i64,
    pub region: String,
    pub account: String,
    pub pipeline: String,
    pub execution_id: String,
    /// The pipeline structure's version the execution runs.
    pub pipeline_version: Option<i64>,
    pub change: Change,
}

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Pipeline {
        status: Status,
    },
    Stage {
        stage: String,
        status: Status,
    },
    Action {
        stage: String,
        action: String,
        status: Status,
        /// `Source`, `Build`, `Test`, `Deploy`, `Approval`, `Invoke`, `Compute`.
        category: Option<String>,
        provider: Option<String>,
        result: ActionResult,
    },
}

/// What a finished action reports about itself (`execution-result` in real events, or
/// `ListActionExecutions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The CodeBuild build, CodeDeploy deployment or other external execution: where the logs are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl ActionResult {
    pub fn is_empty(&self) -> bool {
        self.summary.is_none() && self.url.is_none() && self.error_code.is_none()
    }

    /// Fills what this result lacks from `other`.
    pub fn or(self, other: ActionResult) -> ActionResult {
        ActionResult {
            summary: self.summary.or(other.summary),
            url: self.url.or(other.url),
            error_code: self.error_code.or(other.error_code),
        }
    }
}

/// Why an event is skipped. None of these is worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event source {0:?} is not aws.codepipeline")]
    OtherSource(String),
    #[error("detail type {0:?} is not a CodePipeline execution state change")]
    OtherDetailType(String),
    #[error("event is missing {0}")]
    Missing(&'static str),
    #[error("event state {0:?} is not a CodePipeline state")]
    UnknownState(String),
    #[error("event is not an EventBridge CodePipeline event: {0}")]
    Malformed(String),
    #[error("event's {0} is longer than CodePipeline allows ({1} characters)")]
    TooLong(&'static str, usize),
}

impl PipelineEvent {
    /// Reads an EventBridge event. Anything else is an `EventError`, never a panic.
    pub fn parse(raw: &Value) -> Result<Self, EventError> {
        let source = text(raw.get("source")).unwrap_or_default();
        if source != SOURCE {
            return Err(EventError::OtherSource(source));
        }
        let detail_type = text(raw.get("detail-type")).unwrap_or_default();
        if ![PIPELINE_DETAIL_TYPE, STAGE_DETAIL_TYPE, ACTION_DETAIL_TYPE]
            .contains(&detail_type.as_str())
        {
            return Err(EventError::OtherDetailType(detail_type));
        }
        let raw_detail = raw.get("detail").ok_or(EventError::Missing("detail"))?;
        if !raw_detail.is_object() {
            return Err(EventError::Missing("detail"));
        }
        if raw.get("time").is_none() {
            return Err(EventError::Missing("time"));
        }
        let event: CodePipelineCloudWatchEvent = serde_json::from_value(normalise(raw))
            .map_err(|e| EventError::Malformed(e.to_string()))?;
        let d = &event.detail;
        let pipeline = present(&d.pipeline).ok_or(EventError::Missing("detail.pipeline"))?;
        let refuse_too_long =
            |fields: &[(&'static str, Option<&str>, usize)]| match first_too_long(fields) {
                Some((field, limit)) => Err(EventError::TooLong(field, limit)),
                None => Ok(()),
            };
        refuse_too_long(&[("detail.pipeline", Some(pipeline.as_str()), NAME_LIMIT)])?;
        let execution_id =
            present(&d.execution_id).ok_or(EventError::Missing("detail.execution-id"))?;
        refuse_too_long(&[
            ("detail.execution-id", Some(execution_id.as_str()), ID_LIMIT),
            ("detail.stage", d.stage.as_deref(), NAME_LIMIT),
            ("detail.action", d.action.as_deref(), NAME_LIMIT),
            ("id", event.id.as_deref(), ID_LIMIT),
        ])?;
        let status =
            Status::parse(&d.state).ok_or_else(|| EventError::UnknownState(d.state.clone()))?;
        let change = match detail_type.as_str() {
            PIPELINE_DETAIL_TYPE => Change::Pipeline { status },
            STAGE_DETAIL_TYPE => Change::Stage {
                stage: present(&d.stage).ok_or(EventError::Missing("detail.stage"))?,
                status,
            },
            _ => Change::Action {
                stage: present(&d.stage).ok_or(EventError::Missing("detail.stage"))?,
                action: present(&d.action).ok_or(EventError::Missing("detail.action"))?,
                status,
                category: d.type_.as_ref().and_then(|t| present(&t.category)),
                provider: d.type_.as_ref().and_then(|t| present(&t.provider)),
                result: execution_result(raw_detail.get("execution-result")),
            },
        };
        let region = present(&event.region)
            .or_else(|| arn_part(&event.resources, 3))
            .unwrap_or_default();
        let account = present(&event.account_id)
            .or_else(|| arn_part(&event.resources, 4))
            .unwrap_or_default();
        Ok(PipelineEvent {
            // Without an id the event cannot be told from a redelivery; its content still can.
            id: present(&event.id).unwrap_or_else(|| format!("{execution_id}@{}", event.time)),
            at: event.time.timestamp(),
            region,
            account,
            pipeline,
            execution_id,
            pipeline_version: raw_detail.get("version").and_then(integer),
            change,
        })
    }

    /// The stage this event is about, if any.
    pub fn stage(&self) -> Option<&str> {
        match &self.change {
            Change::Pipeline { .. } => None,
            Change::Stage { stage, .. } | Change::Action { stage, .. } => Some(stage),
        }
    }
}

#[cfg(any(test, feature = "testing"))]
/// Builds the EventBridge events of one execution in the shape CodePipeline sends them, for the
/// local demo (the emulator has no EventBridge) and for tests. `time` is RFC 3339
/// (`2026-01-15T09:00:00Z`); ids are derived from the content, so a rebuilt event is a
/// redelivery.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub pipeline: String,
    pub execution_id: String,
    pub region: String,
    pub account: String,
}

#[cfg(any(test, feature = "testing"))]
impl EventSource {
    /// `CodePipeline Pipeline Execution State Change`.
    pub fn pipeline(&self, time: &str, state: Status) -> Value {
        self.envelope(
            PIPELINE_DETAIL_TYPE,
            time,
            serde_json::json!({ "state": state.name() }),
        )
    }

    /// `CodePipeline Stage Execution State Change`.
    pub fn stage(&self, time: &str, stage: &str, state: Status) -> Value {
        self.envelope(
            STAGE_DETAIL_TYPE,
            time,
            serde_json::json!({ "state": state.name(), "stage": stage }),
        )
    }

    /// `CodePipeline Action Execution State Change`; `result` becomes `execution-result`.
    pub fn action(
        &self,
        time: &str,
        stage: &str,
        action: &str,
        (category, provider): (&str, &str),
        state: Status,
        result: &ActionResult,
    ) -> Value {
        let mut detail = serde_json::json!({
            "state": state.name(), "stage": stage, "action": action, "region": self.region,
            "type": { "owner": "AWS", "category": category, "provider": provider, "version": "1" },
        });
        if !result.is_empty() {
            detail["execution-result"] = serde_json::json!({
                "external-execution-summary": result.summary,
                "external-execution-url": result.url,
                "error-code": result.error_code,
            });
        }
        self.envelope(ACTION_DETAIL_TYPE, time, detail)
    }

    fn envelope(&self, detail_type: &str, time: &str, mut detail: Value) -> Value {
        use sha2::{Digest, Sha256};
        detail["pipeline"] = Value::from(self.pipeline.as_str());
        detail["execution-id"] = Value::from(self.execution_id.as_str());
        detail["version"] = Value::from(1.0);
        let digest = hex::encode(Sha256::digest(
            format!("{detail_type}{time}{detail}").as_bytes(),
        ));
        let id = format!(
            "{}-{}-{}-{}-{}",
            &digest[..8],
            &digest[8..12],
            &digest[12..16],
            &digest[16..20],
            &digest[20..32]
        );
        serde_json::json!({
            "version": "0", "id": id, "detail-type": detail_type, "source": SOURCE,
            "account": self.account, "time": time, "region": self.region,
            "resources": [format!("arn:aws:codepipeline:{}:{}:{}", self.region, self.account, self.pipeline)],
            "detail": detail,
        })
    }
}

/// The raw event with the numbers `CodePipelineCloudWatchEvent` wants as integers made integers,
/// and `resources` (required there, irrelevant here) defaulted.
fn normalise(raw: &Value) -> Value {
    let mut v = raw.clone();
    if v.get("resources").is_none_or(|r| !r.is_array()) {
        v["resources"] = Value::Array(vec![]);
    }
    let detail = &mut v["detail"];
    detail["version"] = Value::from(detail.get("version").and_then(integer).unwrap_or(0));
    if let Some(t) = detail.get_mut("type").filter(|t| t.is_object()) {
        t["version"] = Value::from(t.get("version").and_then(integer).unwrap_or(0));
    } else if detail.get("type").is_some() {
        detail["type"] = Value::Null;
    }
    if !detail.get("state").is_some_and(Value::is_string) {
        detail["state"] = Value::String(String::new());
    }
    v
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(|f| f as i64)),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn present(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `arn:aws:codepipeline:<region>:<account>:<pipeline>`, part `i`.
fn arn_part(resources: &[String], i: usize) -> Option<String> {
    resources
        .first()
        .and_then(|arn| arn.split(':').nth(i))
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

fn execution_result(v: Option<&Value>) -> ActionResult {
    let field = |name: &str| {
        v.and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    ActionResult {
        summary: field("external-execution-summary"),
        url: field("external-execution-url"),
        error_code: field("error-code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/aws/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_aws_pipeline_fixture_is_a_pipeline_start() {
        let e = PipelineEvent::parse(&fixture(
            "example-codepipeline-execution-state-change-event.json",
        ))
        .unwrap();
        assert_eq!(e.pipeline, "myPipeline");
        assert_eq!(e.execution_id, "01234567-0123-0123-0123-012345678901");
        assert_eq!(
            e.change,
            Change::Pipeline {
                status: Status::Started
            }
        );
        assert_eq!(e.region, "us-east-1");
        assert_eq!(e.at, 1492831907);
        assert_eq!(e.id, "CWE-event-id");
    }

    #[test]
    fn the_aws_action_fixture_names_its_stage_action_and_category() {
        let e = PipelineEvent::parse(&fixture(
            "example-codepipeline-action-execution-stage-change-event.json",
        ))
        .unwrap();
        match e.change {
            Change::Action {
                stage,
                action,
                status,
                category,
                provider,
                result,
            } => {
                assert_eq!((stage.as_str(), action.as_str()), ("Prod", "myAction"));
                assert_eq!(status, Status::Started);
                assert_eq!(category.as_deref(), Some("Deploy"));
                assert_eq!(provider.as_deref(), Some("CodeDeploy"));
                assert!(result.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stage_event_without_a_stage_is_refused_by_name() {
        let err = PipelineEvent::parse(&fixture(
            "example-codepipeline-execution-stage-change-event.json",
        ))
        .unwrap_err();
        assert_eq!(err, EventError::Missing("detail.stage"));
    }

    #[test]
    fn real_events_with_float_and_string_versions_are_read_with_their_result() {
        let raw = json!({
            "account": "000000000000",
            "detail-type": "CodePipeline Action Execution State Change",
            "region": "ap-southeast-2",
            "source": "aws.codepipeline",
            "time": "2022-03-30T09:07:15Z",
            "id": "e-1",
            "detail": {
                "pipeline": "meerkat",
                "execution-id": "94fb261b-65d0-41ba-bea3-b08420e9b5e7",
                "stage": "Build",
                "execution-result": {
                    "external-execution-url": "https://console.aws.amazon.com/codebuild/home#/builds/x",
                    "external-execution-summary": "Build terminated with state: FAILED",
                    "external-execution-id": "meerkat-testing:56be",
                    "error-code": "JobFailed"
                },
                "action": "Build",
                "state": "FAILED",
                "region": "ap-southeast-2",
                "type": {"owner": "AWS", "provider": "CodeBuild", "category": "Build", "version": "1"},
                "version": 16.0
            },
            "resources": ["arn:aws:codepipeline:ap-southeast-2:000000000000:meerkat"]
        });
        let e = PipelineEvent::parse(&raw).unwrap();
        assert_eq!(e.pipeline_version, Some(16));
        let Change::Action { result, status, .. } = e.change else {
            panic!("not an action")
        };
        assert_eq!(status, Status::Failed);
        assert_eq!(
            result.summary.as_deref(),
            Some("Build terminated with state: FAILED")
        );
        assert_eq!(result.error_code.as_deref(), Some("JobFailed"));
        assert!(result.url.unwrap().contains("codebuild"));
    }

    #[test]
    fn built_events_read_back_as_what_they_say() {
        let source = EventSource {
            pipeline: "shop".into(),
            execution_id: "e-1".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
        };
        let failed = ActionResult {
            summary: Some("boom".into()),
            url: Some("https://logs".into()),
            error_code: None,
        };
        let raw = source.action(
            "2026-01-15T09:00:05Z",
            "Build",
            "Compile",
            ("Build", "CodeBuild"),
            Status::Failed,
            &failed,
        );
        let e = PipelineEvent::parse(&raw).unwrap();
        assert_eq!(e.region, "eu-west-1");
        assert_eq!(
            e.change,
            Change::Action {
                stage: "Build".into(),
                action: "Compile".into(),
                status: Status::Failed,
                category: Some("Build".into()),
                provider: Some("CodeBuild".into()),
                result: failed,
            }
        );
        let again = PipelineEvent::parse(&source.action(
            "2026-01-15T09:00:05Z",
            "Build",
            "Compile",
            ("Build", "CodeBuild"),
            Status::Failed,
            &e_result(),
        ))
        .unwrap();
        assert_ne!(again.id, e.id, "different content, different id");
        let started =
            PipelineEvent::parse(&source.pipeline("2026-01-15T09:00:00Z", Status::Started))
                .unwrap();
        assert_eq!(
            started.change,
            Change::Pipeline {
                status: Status::Started
            }
        );
        assert_eq!(
            source.stage("2026-01-15T09:00:00Z", "Build", Status::Started)["id"],
            source.stage("2026-01-15T09:00:00Z", "Build", Status::Started)["id"]
        );
    }

    fn e_result() -> ActionResult {
        ActionResult::default()
    }

    /// Every value of every field of real events replaced by every JSON type: an error or an
    /// event, never a panic.
    #[test]
    fn no_mangled_event_panics() {
        fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
            if let Value::Object(m) = v {
                for (k, child) in m {
                    let mut p = prefix.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
        }
        let replacements = [
            json!(null),
            json!(-1),
            json!(1.5e300),
            json!(""),
            json!("STARTED"),
            json!([]),
            json!({}),
            json!(true),
        ];
        for name in [
            "example-codepipeline-execution-state-change-event.json",
            "example-codepipeline-action-execution-stage-change-event.json",
        ] {
            let original = fixture(name);
            let mut all = vec![];
            paths(&original, vec![], &mut all);
            for path in all {
                for r in &replacements {
                    let mut e = original.clone();
                    let mut at = &mut e;
                    for k in &path[..path.len() - 1] {
                        at = &mut at[k.as_str()];
                    }
                    at[path[path.len() - 1].as_str()] = r.clone();
                    let _ = PipelineEvent::parse(&e);
                }
            }
        }
    }

    #[test]
    fn the_sample_events_are_all_accepted() {
        let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("notifier-") {
                continue;
            }
            let raw: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            PipelineEvent::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
            seen += 1;
        }
        assert!(seen >= 5, "{seen} sample events");
    }

    #[test]
    fn other_sources_types_and_garbage_are_refused_without_panicking() {
        let mut e = fixture("example-codepipeline-execution-state-change-event.json");
        e["source"] = json!("aws.codebuild");
        assert!(matches!(
            PipelineEvent::parse(&e),
            Err(EventError::OtherSource(_))
        ));
        let mut e = fixture("example-codepipeline-execution-state-change-event.json");
        e["detail-type"] = json!("CodePipeline Webhook");
        assert!(matches!(
            PipelineEvent::parse(&e),
            Err(EventError::OtherDetailType(_))
        ));
        let mut e = fixture("example-codepipeline-execution-state-change-event.json");
        e["detail"]["state"] = json!("EXPLODED");
        assert!(matches!(
            PipelineEvent::parse(&e),
            Err(EventError::UnknownState(_))
        ));
        let mut e = fixture("example-codepipeline-execution-state-change-event.json");
        e["detail"].as_object_mut().unwrap().remove("execution-id");
        assert_eq!(
            PipelineEvent::parse(&e),
            Err(EventError::Missing("detail.execution-id"))
        );
        let mut e = fixture("example-codepipeline-execution-state-change-event.json");
        e["time"] = json!("yesterday");
        assert!(matches!(
            PipelineEvent::parse(&e),
            Err(EventError::Malformed(_))
        ));
        // Longer than CodePipeline's names and ids: refused, not handed to the state table.
        for (field, path) in [
            ("detail.execution-id", "execution-id"),
            ("detail.pipeline", "pipeline"),
        ] {
            let mut e = fixture("example-codepipeline-execution-state-change-event.json");
            e["detail"][path] = json!("x".repeat(3000));
            assert!(
                matches!(PipelineEvent::parse(&e), Err(EventError::TooLong(f, _)) if f == field),
                "{field}"
            );
        }
        for garbage in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"source": "aws.codepipeline", "detail-type": PIPELINE_DETAIL_TYPE, "detail": 3, "time": 1}),
            json!({"source": "aws.codepipeline", "detail-type": ACTION_DETAIL_TYPE, "time": "2020-01-01T00:00:00Z", "detail": {"type": 5, "state": 7, "pipeline": "p", "execution-id": "e"}}),
        ] {
            assert!(PipelineEvent::parse(&garbage).is_err(), "{garbage}");
        }
    }
}
