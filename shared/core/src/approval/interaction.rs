//! Slack's interactivity request: a form body whose `payload` field is the `block_actions` JSON.
//!
//! Also the other direction, for tests and the local demo: the request Slack would send when a
//! button is clicked, signed as Slack signs it (`Click`, `SignedRequest`, `sign`: built only
//! for unit tests and with the crate's `testing` feature, which the end-to-end tests and the
//! approval function's example turn on).

use super::{Act, Approver};
#[cfg(any(test, feature = "testing"))]
use crate::signature::hmac_sha256_hex;
use serde::Deserialize;
#[cfg(any(test, feature = "testing"))]
use serde_json::json;
use serde_json::Value;

/// `action_id`s of Gantry's buttons (the contract's names).
pub const APPROVE: &str = "gantry.approval.approve";
pub const REJECT: &str = "gantry.approval.reject";
pub const PROMOTE: &str = "gantry.deploy.promote";
pub const ROLLBACK: &str = "gantry.deploy.rollback";
pub use crate::traffic::steps::report::{
    CONTINUE_ACTION as CONTINUE, EXTEND_ACTION as EXTEND, PAUSE_ACTION as PAUSE,
    RESUME_ACTION as RESUME,
};
/// The most one Extend bake click may add (the button offers `EXTEND_MINUTES`).
pub const MAX_EXTEND_MINUTES: u32 = 60;
/// The request message's optional "reason" text input (its `block_id` and `action_id`).
pub const REASON: &str = "gantry.approval.reason";

/// A Gantry button and the record it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// Value: the approval record id.
    Approve(String),
    Reject(String),
    /// Value: the deployment id.
    Promote(String),
    Rollback(String),
    /// Value: `<deployment id>|<controls version>`.
    Pause(Control),
    Resume(Control),
    /// Continue past a pause lifecycle hook.
    Continue(Control),
    /// Value: `<deployment id>|<controls version>|<minutes>`.
    Extend(Control, u32),
}

/// A deployment control's button: the deployment and the controls' version its message showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub deployment: String,
    pub version: u32,
}

/// Reads `id|version` (and `|minutes` for Extend bake).
fn control(action_id: &str, value: &str) -> Result<(Control, Option<u32>), InteractionError> {
    let bad = || InteractionError::BadValue(action_id.to_string());
    let mut parts = value.split('|');
    let deployment = parts
        .next()
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(bad)?;
    let version = parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let minutes = parts
        .next()
        .map(|m| m.parse::<u32>().map_err(|_| bad()))
        .transpose()?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((
        Control {
            deployment: deployment.to_string(),
            version,
        },
        minutes,
    ))
}

impl Button {
    /// What the button asks for.
    pub fn act(&self) -> Act {
        match self {
            Button::Approve(_) => Act::Approve,
            Button::Reject(_) => Act::Reject,
            Button::Promote(_) => Act::Promote,
            Button::Rollback(_) => Act::Rollback,
            Button::Pause(_) => Act::Pause,
            Button::Resume(_) => Act::Resume,
            Button::Continue(_) => Act::Continue,
            Button::Extend(..) => Act::Extend,
        }
    }

    /// The controls' version a Pause, Resume, Extend bake or Continue button carries.
    pub fn version(&self) -> Option<u32> {
        match self {
            Button::Pause(c) | Button::Resume(c) | Button::Continue(c) | Button::Extend(c, _) => {
                Some(c.version)
            }
            _ => None,
        }
    }

    /// The approval or deployment id.
    pub fn target(&self) -> &str {
        match self {
            Button::Approve(id)
            | Button::Reject(id)
            | Button::Promote(id)
            | Button::Rollback(id) => id,
            Button::Pause(c) | Button::Resume(c) | Button::Continue(c) | Button::Extend(c, _) => {
                &c.deployment
            }
        }
    }
}

/// One click, as far as Gantry needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub user: Approver,
    /// Where to answer (ephemeral replies, message updates); valid 30 minutes, 5 uses.
    pub response_url: Option<String>,
    pub channel: Option<String>,
    /// The clicked message's ts and thread.
    pub message_ts: Option<String>,
    pub thread_ts: Option<String>,
    /// What was typed into the request's reason field, if anything.
    pub reason: Option<String>,
    action_id: Option<String>,
    value: Option<String>,
}

impl Interaction {
    /// The Gantry button clicked.
    pub fn button(&self) -> Result<Button, InteractionError> {
        let action_id = self
            .action_id
            .as_deref()
            .ok_or(InteractionError::NoAction)?;
        // The payload under the value's version stamp (`schema::stamp`): a newer release's
        // value is answered, never parsed as this release's.
        let value = match self.value.as_deref().map(crate::schema::unstamp) {
            Some(Err(e)) => return Err(InteractionError::TooNew(e)),
            Some(Ok(v)) => Some(v.to_string()),
            None => None,
        }
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| InteractionError::MissingValue(action_id.to_string()));
        match action_id {
            APPROVE => Ok(Button::Approve(value?)),
            REJECT => Ok(Button::Reject(value?)),
            PROMOTE => Ok(Button::Promote(value?)),
            ROLLBACK => Ok(Button::Rollback(value?)),
            PAUSE | RESUME | CONTINUE => match control(action_id, &value?)? {
                (c, None) if action_id == PAUSE => Ok(Button::Pause(c)),
                (c, None) if action_id == RESUME => Ok(Button::Resume(c)),
                (c, None) => Ok(Button::Continue(c)),
                (_, Some(_)) => Err(InteractionError::BadValue(action_id.to_string())),
            },
            EXTEND => match control(action_id, &value?)? {
                (c, Some(m)) if (1..=MAX_EXTEND_MINUTES).contains(&m) => Ok(Button::Extend(c, m)),
                _ => Err(InteractionError::BadValue(action_id.to_string())),
            },
            other => Err(InteractionError::UnknownAction(other.to_string())),
        }
    }
}

/// Why a (correctly signed) interactivity request could not be read. `Display` is what the
/// clicker is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the request has no `payload` form field")]
    NoPayload,
    #[error("the payload is not Slack's interactivity JSON ({0})")]
    Malformed(String),
    #[error("Gantry only handles button clicks, not {0:?} interactions")]
    NotABlockAction(String),
    #[error("the payload names no action")]
    NoAction,
    #[error("the button {0:?} is not one of Gantry's")]
    UnknownAction(String),
    #[error("the button {0:?} carries no id")]
    MissingValue(String),
    #[error("the button {0:?} carries a value Gantry did not write")]
    BadValue(String),
    #[error("the button was posted by a newer Gantry ({0}); decide in the CodePipeline console, or once the update finishes")]
    TooNew(crate::schema::TooNew),
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
    response_url: Option<String>,
    channel: Option<Channel>,
    container: Option<Container>,
    message: Option<Message>,
    state: Option<State>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    username: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    value: Option<String>,
}

#[derive(Deserialize)]
struct Channel {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    channel_id: Option<String>,
    message_ts: Option<String>,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    ts: Option<String>,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct State {
    #[serde(default)]
    values: serde_json::Map<String, Value>,
}

/// Reads the form body Slack posts.
pub fn parse(body: &[u8]) -> Result<Interaction, InteractionError> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or(InteractionError::NoPayload)?;
    let p: Payload =
        serde_json::from_str(&payload).map_err(|e| InteractionError::Malformed(e.to_string()))?;
    if p.kind != "block_actions" {
        return Err(InteractionError::NotABlockAction(p.kind));
    }
    let first = p.actions.into_iter().next();
    let container = p.container.as_ref();
    let reason = p
        .state
        .as_ref()
        .and_then(|s| s.values.get(REASON))
        .and_then(|block| block.get(REASON))
        .and_then(|input| input.get("value"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    Ok(Interaction {
        user: Approver {
            name: p
                .user
                .username
                .or(p.user.name)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| p.user.id.clone()),
            id: p.user.id,
        },
        response_url: p.response_url.filter(|u| !u.is_empty()),
        channel: p
            .channel
            .map(|c| c.id)
            .or_else(|| container.and_then(|c| c.channel_id.clone())),
        message_ts: p
            .message
            .as_ref()
            .and_then(|m| m.ts.clone())
            .or_else(|| container.and_then(|c| c.message_ts.clone())),
        thread_ts: p
            .message
            .as_ref()
            .and_then(|m| m.thread_ts.clone())
            .or_else(|| container.and_then(|c| c.thread_ts.clone())),
        reason,
        action_id: first.as_ref().map(|a| a.action_id.clone()),
        value: first.and_then(|a| a.value),
    })
}

#[cfg(any(test, feature = "testing"))]
/// A click Slack would send: who clicked which button of which message.
#[derive(Debug, Clone)]
pub struct Click<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub action_id: &'a str,
    pub value: &'a str,
    pub channel: &'a str,
    pub message_ts: &'a str,
    pub response_url: &'a str,
    pub reason: Option<&'a str>,
}

#[cfg(any(test, feature = "testing"))]
impl Click<'_> {
    /// The `block_actions` payload, shaped as Slack documents it.
    pub fn payload(&self) -> Value {
        let mut values = serde_json::Map::new();
        if let Some(reason) = self.reason {
            values.insert(
                REASON.into(),
                json!({ REASON: {"type": "plain_text_input", "value": reason} }),
            );
        }
        json!({
            "type": "block_actions",
            "user": {"id": self.user_id, "username": self.username, "name": self.username, "team_id": "T0GANTRY"},
            "api_app_id": "A0GANTRY",
            "team": {"id": "T0GANTRY", "domain": "gantry"},
            "container": {"type": "message", "message_ts": self.message_ts, "channel_id": self.channel, "is_ephemeral": false},
            "trigger_id": "1000000000.1000000000.0123456789abcdef0123456789abcdef",
            "channel": {"id": self.channel, "name": "deploys"},
            "message": {"type": "message", "ts": self.message_ts, "text": "approval request"},
            "state": {"values": values},
            "response_url": self.response_url,
            "actions": [{"type": "button", "action_id": self.action_id, "block_id": "gantry.approval.buttons",
                         "value": self.value, "action_ts": self.message_ts}],
        })
    }

    /// The form body: `payload=<url-encoded JSON>`.
    pub fn form_body(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &self.payload().to_string())
            .finish()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Click<'_> {
    /// The HTTP request Slack sends for this click, signed with `signing_secret` at
    /// `timestamp` (seconds since the epoch).
    pub fn signed_request(&self, signing_secret: &str, timestamp: i64) -> SignedRequest {
        SignedRequest::new(self.form_body(), signing_secret, timestamp)
    }
}

#[cfg(any(test, feature = "testing"))]
/// An HTTP request as Slack sends it: headers (lower-case names) and the form body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

#[cfg(any(test, feature = "testing"))]
impl SignedRequest {
    /// The request Slack sends with this form `body`, signed with `signing_secret` at
    /// `timestamp` (seconds since the epoch): authentic, whatever the body says.
    pub fn new(body: String, signing_secret: &str, timestamp: i64) -> SignedRequest {
        SignedRequest {
            headers: vec![
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                ),
                ("x-slack-request-timestamp", timestamp.to_string()),
                (
                    "x-slack-signature",
                    sign(signing_secret, timestamp, body.as_bytes()),
                ),
                (
                    "user-agent",
                    "Slackbot 1.0 (+https://api.slack.com/robots)".to_string(),
                ),
            ],
            body,
        }
    }

    /// The request as a Lambda Function URL event (payload 2.0, base64 body), ready for the
    /// handler or `cargo lambda invoke --data-file`.
    pub fn function_url_event(&self) -> Value {
        use base64::Engine;
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "gantryapproval",
                "domainName": "gantryapproval.lambda-url.us-east-1.on.aws",
                "domainPrefix": "gantryapproval",
                "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "3.4.5.6",
                         "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)"},
                "requestId": "gantry-approval-click",
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1_767_225_600_000_i64
            },
            "body": base64::engine::general_purpose::STANDARD.encode(&self.body),
            "isBase64Encoded": true
        })
    }
}

#[cfg(any(test, feature = "testing"))]
/// `X-Slack-Signature` for `body` sent at `timestamp`: `v0=` HMAC-SHA256 of `v0:{ts}:{body}`.
pub fn sign(signing_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "v0={}",
        hmac_sha256_hex(
            signing_secret.as_bytes(),
            &[b"v0:", ts.as_bytes(), b":", body]
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretString;
    use crate::signature::verify_slack;

    fn click(action_id: &'static str, reason: Option<&'static str>) -> Click<'static> {
        Click {
            user_id: "U0JANE",
            username: "jane",
            action_id,
            value: "a1b2",
            channel: "C0DEPLOYS",
            message_ts: "1700000000.000100",
            response_url: "https://hooks.slack.com/actions/T0/1/abc",
            reason,
        }
    }

    #[test]
    fn a_stamped_value_reads_as_its_payload_and_a_newer_one_is_answered() {
        let stamped = crate::schema::stamp("a1b2");
        let c = Click {
            value: &stamped,
            ..click(APPROVE, None)
        };
        let i = parse(c.form_body().as_bytes()).unwrap();
        assert_eq!(i.button(), Ok(Button::Approve("a1b2".into())));
        let stamped = crate::schema::stamp("job-1|3");
        let c = Click {
            value: &stamped,
            ..click(PAUSE, None)
        };
        assert!(matches!(
            parse(c.form_body().as_bytes()).unwrap().button(),
            Ok(Button::Pause(Control { version: 3, .. }))
        ));
        let newer = format!("v{}~a1b2", crate::schema::SCHEMA_VERSION + 1);
        let c = Click {
            value: &newer,
            ..click(APPROVE, None)
        };
        let e = parse(c.form_body().as_bytes())
            .unwrap()
            .button()
            .unwrap_err();
        assert!(matches!(e, InteractionError::TooNew(_)));
        assert!(e.to_string().contains("newer Gantry"), "{e}");
    }

    #[test]
    fn a_click_is_read_back_with_its_button_user_and_reply_address() {
        let i = parse(click(APPROVE, None).form_body().as_bytes()).unwrap();
        assert_eq!(i.button(), Ok(Button::Approve("a1b2".into())));
        assert_eq!(
            i.user,
            Approver {
                id: "U0JANE".into(),
                name: "jane".into()
            }
        );
        assert_eq!(i.channel.as_deref(), Some("C0DEPLOYS"));
        assert_eq!(i.message_ts.as_deref(), Some("1700000000.000100"));
        assert_eq!(
            i.response_url.as_deref(),
            Some("https://hooks.slack.com/actions/T0/1/abc")
        );
        assert_eq!(i.reason, None);
    }

    #[test]
    fn a_reject_carries_the_typed_reason() {
        let i = parse(
            click(REJECT, Some("  error rate is up "))
                .form_body()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(i.button(), Ok(Button::Reject("a1b2".into())));
        assert_eq!(i.reason.as_deref(), Some("error rate is up"));
        let blank = parse(click(REJECT, Some("   ")).form_body().as_bytes()).unwrap();
        assert_eq!(blank.reason, None);
    }

    #[test]
    fn deploy_buttons_are_recognised() {
        for (id, act) in [(PROMOTE, Act::Promote), (ROLLBACK, Act::Rollback)] {
            let b = parse(click(id, None).form_body().as_bytes())
                .unwrap()
                .button()
                .unwrap();
            assert_eq!((b.act(), b.target()), (act, "a1b2"));
        }
    }

    #[test]
    fn unknown_buttons_and_bad_bodies_are_errors_not_panics() {
        let i = parse(click("someone.else", None).form_body().as_bytes()).unwrap();
        assert_eq!(
            i.button(),
            Err(InteractionError::UnknownAction("someone.else".into()))
        );
        assert_eq!(parse(b"token=x&text=hi"), Err(InteractionError::NoPayload));
        assert!(matches!(
            parse(b"payload=%7Bnot%20json"),
            Err(InteractionError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"payload=%7B%7D"),
            Err(InteractionError::Malformed(_))
        ));
        assert_eq!(
            parse(br#"payload={"type":"view_submission","user":{"id":"U1"}}"#),
            Err(InteractionError::NotABlockAction("view_submission".into()))
        );
        let no_action = parse(br#"payload={"type":"block_actions","user":{"id":"U1"}}"#).unwrap();
        assert_eq!(no_action.button(), Err(InteractionError::NoAction));
        assert_eq!(no_action.user.name, "U1");
        let mut c = click(APPROVE, None);
        c.value = "";
        let i = parse(c.form_body().as_bytes()).unwrap();
        assert_eq!(
            i.button(),
            Err(InteractionError::MissingValue(APPROVE.into()))
        );
    }

    #[test]
    fn the_function_url_event_carries_the_signed_body() {
        use base64::Engine;
        let req = click(APPROVE, None).signed_request("secret", 1_700_000_000);
        let event = req.function_url_event();
        let body = base64::engine::general_purpose::STANDARD
            .decode(event["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(body, req.body.as_bytes());
        let sig = event["headers"]["x-slack-signature"].as_str().unwrap();
        assert_eq!(
            verify_slack(
                Some(sig),
                Some("1700000000"),
                &body,
                &SecretString::new("secret"),
                1_700_000_000
            ),
            Ok(())
        );
    }

    #[test]
    fn a_signed_click_verifies_as_slack_requests_do() {
        let body = click(APPROVE, None).form_body();
        let sig = sign("secret", 1_700_000_000, body.as_bytes());
        assert_eq!(
            verify_slack(
                Some(&sig),
                Some("1700000000"),
                body.as_bytes(),
                &SecretString::new("secret"),
                1_700_000_100
            ),
            Ok(())
        );
    }
}
