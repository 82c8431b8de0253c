//! What opens and closes an approval: CodePipeline's `Action Execution State Change` events
//! (category `Approval`) and the approval action's SNS notification, read into plain data.

use super::{Closure, Outcome};
use crate::clock;
use crate::codepipeline_limits::{first_too_long, ID_LIMIT, NAME_LIMIT};
use serde::Deserialize;
use serde_json::Value;

/// EventBridge's `detail-type` for action state changes.
pub const ACTION_STATE_CHANGE: &str = "CodePipeline Action Execution State Change";

/// An approval waiting for a decision, as one of the two sources tells it. EventBridge knows
/// the execution but not the token; SNS knows the token, expiry, message and link but not the
/// execution: the function completes it from `GetPipelineState`/`GetPipeline`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalNotice {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: Option<String>,
    pub token: Option<String>,
    pub expires_at: Option<i64>,
    pub custom_data: Option<String>,
    pub review_url: Option<String>,
    /// When the approval started (EventBridge's `time`).
    pub started_at: Option<i64>,
}

/// How CodePipeline says an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishedAs {
    Succeeded,
    Failed,
    Abandoned,
    Canceled,
}

/// An approval action that ended (decided in Slack or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionFinished {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: String,
    pub state: FinishedAs,
    /// `execution-result.external-execution-summary`: the approver's summary, when given.
    pub summary: Option<String>,
    pub at: i64,
}

impl ActionFinished {
    /// How an approval still open in Slack ended, given when it was due to expire.
    pub fn closure(&self, expires_at: i64) -> Closure {
        let summary = self.summary.clone().filter(|s| !s.trim().is_empty());
        match self.state {
            FinishedAs::Succeeded => Closure::DecidedElsewhere {
                outcome: Some(Outcome::Approved),
                summary,
                at: self.at,
            },
            // A minute's slack: the event is stamped when CodePipeline noticed the expiry.
            FinishedAs::Failed if self.at >= expires_at - 60 => Closure::Expired { at: self.at },
            FinishedAs::Failed => Closure::DecidedElsewhere {
                outcome: Some(Outcome::Rejected),
                summary,
                at: self.at,
            },
            FinishedAs::Abandoned | FinishedAs::Canceled => Closure::Superseded { at: self.at },
        }
    }
}

/// What an event means for approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalEvent {
    Started(ApprovalNotice),
    Finished(ActionFinished),
    /// Not about an approval, or a state that changes nothing (the reason is logged).
    Ignored(String),
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalEventError {
    #[error("event is not a CodePipeline action state change: {0}")]
    NotAnActionEvent(String),
    #[error("SNS message is not a CodePipeline approval notification: {0}")]
    NotAnApprovalNotification(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: Option<String>,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    pipeline: String,
    #[serde(rename = "execution-id")]
    execution_id: String,
    stage: String,
    action: String,
    state: String,
    #[serde(rename = "type")]
    action_type: Option<ActionType>,
    #[serde(rename = "execution-result")]
    execution_result: Option<ExecutionResult>,
}

#[derive(Deserialize)]
struct ActionType {
    category: Option<String>,
}

#[derive(Deserialize)]
struct ExecutionResult {
    #[serde(rename = "external-execution-summary")]
    summary: Option<String>,
}

/// Reads an EventBridge event. `now` stamps events without a readable `time`.
pub fn from_eventbridge(event: &Value, now: i64) -> Result<ApprovalEvent, ApprovalEventError> {
    let envelope = Envelope::deserialize(event)
        .map_err(|e| ApprovalEventError::NotAnActionEvent(e.to_string()))?;
    if envelope.detail_type != ACTION_STATE_CHANGE {
        return Ok(ApprovalEvent::Ignored(format!(
            "detail-type {:?} is not an action state change",
            envelope.detail_type
        )));
    }
    let d = envelope.detail;
    let category = d.action_type.and_then(|t| t.category).unwrap_or_default();
    if category != "Approval" {
        return Ok(ApprovalEvent::Ignored(format!(
            "action {} is a {category:?} action, not an Approval",
            d.action
        )));
    }
    if let Some((field, limit)) = first_too_long(&[
        ("pipeline", Some(d.pipeline.as_str()), NAME_LIMIT),
        ("stage", Some(d.stage.as_str()), NAME_LIMIT),
        ("action", Some(d.action.as_str()), NAME_LIMIT),
        ("execution-id", Some(d.execution_id.as_str()), ID_LIMIT),
    ]) {
        return Err(ApprovalEventError::NotAnActionEvent(format!(
            "detail.{field} is longer than CodePipeline allows ({limit} characters)"
        )));
    }
    let at = envelope
        .time
        .as_deref()
        .and_then(clock::parse_utc)
        .unwrap_or(now);
    let finished = |state| {
        ApprovalEvent::Finished(ActionFinished {
            pipeline: d.pipeline.clone(),
            stage: d.stage.clone(),
            action: d.action.clone(),
            execution_id: d.execution_id.clone(),
            state,
            summary: d.execution_result.as_ref().and_then(|r| r.summary.clone()),
            at,
        })
    };
    Ok(match d.state.as_str() {
        "STARTED" => ApprovalEvent::Started(ApprovalNotice {
            pipeline: d.pipeline,
            stage: d.stage,
            action: d.action,
            execution_id: Some(d.execution_id),
            started_at: Some(at),
            ..ApprovalNotice::default()
        }),
        "SUCCEEDED" => finished(FinishedAs::Succeeded),
        "FAILED" => finished(FinishedAs::Failed),
        "ABANDONED" => finished(FinishedAs::Abandoned),
        "CANCELED" => finished(FinishedAs::Canceled),
        other => ApprovalEvent::Ignored(format!("action state {other:?} changes nothing")),
    })
}

#[derive(Deserialize)]
struct Notification {
    approval: NotifiedApproval,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotifiedApproval {
    pipeline_name: String,
    stage_name: String,
    action_name: String,
    token: String,
    expires: Option<String>,
    custom_data: Option<String>,
    external_entity_link: Option<String>,
    // `approvalReviewLink` is deliberately not read: it carries the token, which must never
    // reach Slack.
}

/// Reads the approval action's SNS message (CodePipeline's approval JSON).
pub fn from_sns_message(message: &str) -> Result<ApprovalNotice, ApprovalEventError> {
    let n: Notification = serde_json::from_str(message)
        .map_err(|e| ApprovalEventError::NotAnApprovalNotification(e.to_string()))?;
    let a = n.approval;
    let present = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Ok(ApprovalNotice {
        pipeline: a.pipeline_name,
        stage: a.stage_name,
        action: a.action_name,
        execution_id: None,
        token: Some(a.token),
        expires_at: a.expires.as_deref().and_then(clock::parse_utc),
        custom_data: present(a.custom_data),
        review_url: present(a.external_entity_link),
        started_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/aws/example-codepipeline-action-execution-stage-change-event.json"
    ));

    fn approval_event(state: &str) -> Value {
        let mut e: Value = serde_json::from_str(FIXTURE).unwrap();
        e["detail"]["type"] =
            json!({"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"});
        e["detail"]["state"] = json!(state);
        e
    }

    #[test]
    fn names_longer_than_codepipeline_allows_are_refused() {
        let mut e = approval_event("STARTED");
        e["detail"]["execution-id"] = json!("x".repeat(3000));
        assert!(matches!(
            from_eventbridge(&e, 0),
            Err(ApprovalEventError::NotAnActionEvent(why)) if why.contains("execution-id")
        ));
    }

    #[test]
    fn an_approval_that_starts_is_a_notice_with_its_execution() {
        let ApprovalEvent::Started(n) = from_eventbridge(&approval_event("STARTED"), 0).unwrap()
        else {
            panic!("not started")
        };
        assert_eq!(
            (n.pipeline.as_str(), n.stage.as_str(), n.action.as_str()),
            ("myPipeline", "Prod", "myAction")
        );
        assert_eq!(
            n.execution_id.as_deref(),
            Some("01234567-0123-0123-0123-012345678901")
        );
        assert_eq!(n.started_at, Some(1_492_831_907));
        assert_eq!(n.token, None);
    }

    #[test]
    fn the_real_deploy_event_is_not_an_approval() {
        let e: Value = serde_json::from_str(FIXTURE).unwrap();
        assert!(
            matches!(from_eventbridge(&e, 0), Ok(ApprovalEvent::Ignored(r)) if r.contains("\"Deploy\""))
        );
    }

    #[test]
    fn ends_of_an_approval_are_read() {
        for (state, as_) in [
            ("SUCCEEDED", FinishedAs::Succeeded),
            ("FAILED", FinishedAs::Failed),
            ("ABANDONED", FinishedAs::Abandoned),
            ("CANCELED", FinishedAs::Canceled),
        ] {
            let mut e = approval_event(state);
            e["detail"]["execution-result"] = json!({"external-execution-summary": "ok by ops"});
            let ApprovalEvent::Finished(f) = from_eventbridge(&e, 0).unwrap() else {
                panic!("{state}")
            };
            assert_eq!(f.state, as_);
            assert_eq!(f.summary.as_deref(), Some("ok by ops"));
        }
    }

    #[test]
    fn a_failure_after_the_expiry_is_an_expiry_and_before_it_a_rejection() {
        let f = |state, at| ActionFinished {
            pipeline: "p".into(),
            stage: "s".into(),
            action: "a".into(),
            execution_id: "e".into(),
            state,
            summary: Some("no".into()),
            at,
        };
        assert_eq!(
            f(FinishedAs::Failed, 1000).closure(1000),
            Closure::Expired { at: 1000 }
        );
        assert_eq!(
            f(FinishedAs::Failed, 500).closure(1000),
            Closure::DecidedElsewhere {
                outcome: Some(Outcome::Rejected),
                summary: Some("no".into()),
                at: 500
            }
        );
        assert!(matches!(
            f(FinishedAs::Succeeded, 5).closure(1000),
            Closure::DecidedElsewhere {
                outcome: Some(Outcome::Approved),
                ..
            }
        ));
        assert_eq!(
            f(FinishedAs::Abandoned, 5).closure(1000),
            Closure::Superseded { at: 5 }
        );
    }

    #[test]
    fn other_events_and_states_are_ignored_not_errors() {
        let mut e = approval_event("STARTED");
        e["detail-type"] = json!("CodePipeline Stage Execution State Change");
        assert!(matches!(
            from_eventbridge(&e, 0),
            Ok(ApprovalEvent::Ignored(_))
        ));
        assert!(matches!(
            from_eventbridge(&approval_event("RESUMED"), 0),
            Ok(ApprovalEvent::Ignored(_))
        ));
        assert!(from_eventbridge(&json!({"hello": 1}), 0).is_err());
    }

    #[test]
    fn reads_codepipelines_documented_approval_notification() {
        // From "JSON data format for manual approval notifications in CodePipeline".
        let message = r#"{"region": "us-east-2", "consoleLink": "https://console.aws.amazon.com/codepipeline/home?region=us-east-2#/view/MyFirstPipeline",
          "approval": {"pipelineName": "MyFirstPipeline", "stageName": "MyApprovalStage", "actionName": "MyApprovalAction",
            "token": "1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN", "expires": "2016-07-07T20:22Z",
            "externalEntityLink": "http://example.com",
            "approvalReviewLink": "https://console.aws.amazon.com/codepipeline/home?region=us-east-2#/view/MyFirstPipeline/MyApprovalStage/MyApprovalAction/approve/1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN",
            "customData": "Review the latest changes and approve or reject within seven days."}}"#;
        let n = from_sns_message(message).unwrap();
        assert_eq!(n.pipeline, "MyFirstPipeline");
        assert_eq!(n.stage, "MyApprovalStage");
        assert_eq!(n.action, "MyApprovalAction");
        assert_eq!(
            n.token.as_deref(),
            Some("1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN")
        );
        assert_eq!(n.expires_at, Some(1_467_922_920));
        assert_eq!(n.review_url.as_deref(), Some("http://example.com"));
        assert!(n.custom_data.unwrap().starts_with("Review the latest"));
        assert_eq!(n.execution_id, None);
    }

    #[test]
    fn an_sns_message_of_another_kind_is_an_error() {
        assert!(from_sns_message("Hello\r\nworld!").is_err());
        assert!(from_sns_message(r#"{"approval": {"pipelineName": "p"}}"#).is_err());
    }
}
