//! What people read about a deployment: the job's `executionDetails` (summary and percent
//! complete), the failure message of a rollback, and the Slack progress message.

use crate::schema::stamp;
use crate::text::escape_mrkdwn as escape;
use crate::traffic::phases::deployment::Deployment;
use crate::traffic::phases::phase::{Phase, RollbackReason};
use crate::traffic::setup::plan::duration_text;
use crate::traffic::setup::weights::Side;
use serde_json::{json, Value};

/// Slack action ids of the progress message's buttons (the approval function handles them).
pub const PROMOTE_ACTION: &str = "gantry.deploy.promote";
pub const ROLLBACK_ACTION: &str = "gantry.deploy.rollback";

/// The two services, named for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    pub old: String,
    pub new: String,
}

/// "rolled back at 25% green: alarm api-5xx went to ALARM".
pub fn rollback_message(new_side: Side, share: u8, reason: &RollbackReason) -> String {
    format!("rolled back at {share}% {new_side}: {reason}")
}

/// The summary of a deployment that went through.
pub fn success_message(d: &Deployment, services: &Services) -> String {
    format!(
        "{} ({}) is live on {}; {} ({}) scaled to zero",
        d.new_side(),
        services.new,
        revision(&d.task_definition),
        d.live,
        services.old
    )
}

/// Where the deployment stands, in one line (CodePipeline shows it under the action).
pub fn summary(d: &Deployment, services: &Services, now_ms: i64) -> String {
    let new = d.new_side();
    match d.phase {
        Phase::Stabilizing { .. } => format!(
            "starting {} task{} of {} on {} ({new}); no traffic yet",
            d.desired,
            if d.desired == 1 { "" } else { "s" },
            services.new,
            revision(&d.task_definition)
        ),
        Phase::Testing { .. } => format!(
            "{} ({new}) is ready and takes the test traffic; no production traffic yet",
            services.new
        ),
        Phase::Shifting { step, since_ms } => {
            let steps = d.plan.steps();
            let current = steps.get(step).copied();
            let percent = current.map_or(100, |s| s.percent);
            let mut text = format!(
                "{percent}% of traffic on {new} ({}), step {} of {}",
                services.new,
                step + 1,
                steps.len()
            );
            if let Some(s) = current.filter(|s| s.hold_seconds > 0) {
                let left = (since_ms + i64::from(s.hold_seconds) * 1000 - now_ms).max(0) / 1000;
                text.push_str(&format!("; next step in {}", duration_text(left as u64)));
            }
            text
        }
        Phase::Retiring { since_ms } => {
            let end = since_ms + i64::from(d.timing.scale_down_after_seconds) * 1000;
            let left = ((end - now_ms).max(0) / 1000) as u64;
            format!(
                "100% of traffic on {new} ({}); {} ({}) kept for {} more, then scaled to zero",
                services.new,
                d.live,
                services.old,
                duration_text(left)
            )
        }
    }
}

/// CodePipeline's `percentComplete`: starting is the first 10%, shifting the next 80 (by the
/// new version's share), the scale-down wait the last 10.
pub fn percent_complete(d: &Deployment, now_ms: i64) -> i32 {
    match d.phase {
        Phase::Stabilizing { .. } => 5,
        Phase::Testing { .. } => 8,
        Phase::Shifting { step, .. } => {
            10 + i32::from(d.plan.step(step).map_or(100, |s| s.percent)) * 8 / 10
        }
        Phase::Retiring { since_ms } => {
            let total = i64::from(d.timing.scale_down_after_seconds).max(1) * 1000;
            let done = ((now_ms - since_ms).clamp(0, total) * 10 / total) as i32;
            (90 + done).min(99)
        }
    }
}

/// `shop:8` from a task definition ARN.
pub fn revision(task_definition: &str) -> &str {
    task_definition
        .rsplit_once("task-definition/")
        .map_or(task_definition, |(_, r)| r)
}

/// `shop-green` from a target group ARN (`…:targetgroup/shop-green/6d0ecf831eec9f09`).
pub fn target_group_name(arn: &str) -> &str {
    arn.split_once(":targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
}

/// How a deployment ended, or that it has not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressOutcome {
    Running,
    Succeeded,
    RolledBack,
}

/// The Slack progress message's content, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressView {
    pub deployment_id: String,
    pub new_side: Side,
    pub services: Services,
    pub images: Vec<String>,
    pub strategy: String,
    pub outcome: ProgressOutcome,
    /// The current summary, success or rollback message.
    pub status: String,
    pub alarms: Vec<String>,
    /// The canary judge's latest windows, one line each (empty without `analysis`).
    pub analysis: Vec<String>,
    /// Pause / Resume / Extend bake, while the deployment runs.
    pub controls: Option<Controls>,
    /// The lifecycle stage a pause hook holds the deployment at (Continue / Roll back).
    pub pause_hook: Option<String>,
    /// The account the environment is in, when not the pipeline's (`role_arn`'s).
    pub account: Option<String>,
    /// Once succeeded: the release the stage ran before, offered as *Roll back to <commit>*.
    pub roll_back_to: Option<PreviousRelease>,
}

/// The release a stage ran before this deployment: what *Roll back to* offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousRelease {
    pub pipeline: String,
    pub stage: String,
    /// The execution this deployment belongs to: the button is good while it is live.
    pub execution_id: String,
    /// The previous release's commit, for the label.
    pub commit: Option<String>,
}

/// *Roll back to <commit>*'s `action_id`; its value is `pipeline|stage|execution id`. The
/// approval function answers it as `/gantry rollback pipeline stage`, with a Confirm.
pub const ROLL_BACK_TO_ACTION: &str = "gantry.operate.roll_back_to";

/// The controls' state the buttons carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Each button's value carries it; a click with another version does nothing.
    pub version: u32,
    pub paused: bool,
}

pub const PAUSE_ACTION: &str = "gantry.deploy.pause";
pub const RESUME_ACTION: &str = "gantry.deploy.resume";
pub const EXTEND_ACTION: &str = "gantry.deploy.extend";
pub const CONTINUE_ACTION: &str = "gantry.deploy.continue";
/// What one Extend bake click adds.
pub const EXTEND_MINUTES: u32 = 10;

/// The progress message: `text` (notifications, screen readers) and Block Kit `blocks`, with
/// Promote now / Roll back buttons while the deployment runs.
pub fn render(view: &ProgressView) -> Value {
    let (icon, title) = match view.outcome {
        ProgressOutcome::Running => (
            ":arrows_counterclockwise:",
            "Blue/green deployment in progress",
        ),
        ProgressOutcome::Succeeded => (":white_check_mark:", "Blue/green deployment succeeded"),
        ProgressOutcome::RolledBack => (":rewind:", "Blue/green deployment rolled back"),
    };
    // Slack reads mrkdwn in the blocks and in the fallback `text` alike: the free text (the
    // status quotes alarm names and hooks' answers) is escaped, the same in both.
    let images = escape(&view.images.join(", "));
    let (old, new, status) = (
        escape(&view.services.old),
        escape(&view.services.new),
        escape(&view.status),
    );
    let text = format!("{title}: {new} ← {images}. {status}");
    let mut context = format!(
        "{} · {old} → {new} · deployment `{}`",
        escape(&view.strategy),
        escape(&view.deployment_id)
    );
    if !view.alarms.is_empty() {
        context.push_str(&format!(" · watching {}", escape(&view.alarms.join(", "))));
    }
    if let Some(account) = &view.account {
        context.push_str(&format!(" · account {}", escape(account)));
    }
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": clip(&format!("{icon} *{title}*: `{new}` ← `{images}`\n{status}"), 3000)}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&context, 3000)}]}),
    ];
    if !view.analysis.is_empty() {
        let lines = format!(
            "*Canary vs live* (per minute, latest last)\n{}",
            view.analysis.join("\n")
        );
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&lines, 3000)}}),
        );
    }
    let paused = view.controls.is_some_and(|c| c.paused);
    if paused && view.outcome == ProgressOutcome::Running {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": ":double_vertical_bar: *Paused*: the weights hold (alarms, health and the judge keep watching) until Resume."}}));
    }
    let pause_hook = view
        .pause_hook
        .as_ref()
        .filter(|_| view.outcome == ProgressOutcome::Running);
    if let Some(stage) = pause_hook {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!(":raised_hand: *Waiting at {stage}*: a pause hook holds the deployment until someone allowed chooses *Continue* or *Roll back*.")}}));
    }
    if view.outcome == ProgressOutcome::Running {
        let mut elements = Vec::new();
        if let (Some(_), Some(c)) = (pause_hook, view.controls) {
            elements.push(
                json!({"type": "button", "action_id": CONTINUE_ACTION, "style": "primary",
                "text": {"type": "plain_text", "text": "Continue"},
                "value": stamp(&format!("{}|{}", view.deployment_id, c.version))}),
            );
        }
        elements.extend([
            json!({"type": "button", "action_id": PROMOTE_ACTION, "style": "primary",
             "text": {"type": "plain_text", "text": "Promote now"}, "value": stamp(&view.deployment_id)}),
            json!({"type": "button", "action_id": ROLLBACK_ACTION, "style": "danger",
             "text": {"type": "plain_text", "text": "Roll back"}, "value": stamp(&view.deployment_id),
             "confirm": {"title": {"type": "plain_text", "text": "Roll back?"},
                         "text": {"type": "mrkdwn", "text": format!("All traffic goes back to `{old}`.")},
                         "confirm": {"type": "plain_text", "text": "Roll back"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}}),
        ]);
        if let Some(c) = view.controls {
            let value = format!("{}|{}", view.deployment_id, c.version);
            elements.push(if c.paused {
                json!({"type": "button", "action_id": RESUME_ACTION,
                       "text": {"type": "plain_text", "text": "Resume"}, "value": stamp(&value)})
            } else {
                json!({"type": "button", "action_id": PAUSE_ACTION,
                       "text": {"type": "plain_text", "text": "Pause"}, "value": stamp(&value)})
            });
            elements.push(json!({"type": "button", "action_id": EXTEND_ACTION,
                "text": {"type": "plain_text", "text": format!("Extend bake (+{EXTEND_MINUTES} min)")},
                "value": stamp(&format!("{value}|{EXTEND_MINUTES}"))}));
        }
        blocks.push(json!({"type": "actions", "elements": elements}));
    }
    if let (ProgressOutcome::Succeeded, Some(r)) = (&view.outcome, &view.roll_back_to) {
        let label = match r.commit.as_deref() {
            Some(c) => format!("Roll back to {}", c.get(..7).unwrap_or(c)),
            None => "Roll back to the previous release".to_string(),
        };
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button", "action_id": ROLL_BACK_TO_ACTION,
            "text": {"type": "plain_text", "text": label},
            "value": stamp(&format!("{}|{}|{}", r.pipeline, r.stage, r.execution_id))}]}));
    }
    json!({"text": clip(&text, 3000), "blocks": blocks})
}

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canary of 3 tasks whose old side is kept 10 min after the last step, in `phase`.
    fn d(phase: Phase) -> Deployment {
        let mut d = crate::traffic::sample::canary(300).at(phase);
        d.desired = 3;
        d.timing.scale_down_after_seconds = 600;
        d
    }

    fn services() -> Services {
        Services {
            old: "shop-blue".into(),
            new: "shop-green".into(),
        }
    }

    #[test]
    fn the_rollback_message_says_where_and_why() {
        let reason = RollbackReason::Alarm {
            name: "api-5xx".into(),
        };
        assert_eq!(
            rollback_message(Side::Green, 25, &reason),
            "rolled back at 25% green: alarm api-5xx went to ALARM"
        );
    }

    #[test]
    fn summaries_follow_the_phases() {
        assert_eq!(
            summary(&d(Phase::Stabilizing { since_ms: 0 }), &services(), 0),
            "starting 3 tasks of shop-green on shop:8 (green); no traffic yet"
        );
        assert_eq!(
            summary(
                &d(Phase::Shifting {
                    step: 0,
                    since_ms: 0
                }),
                &services(),
                30_000
            ),
            "10% of traffic on green (shop-green), step 1 of 2; next step in 4 min 30 s"
        );
        assert_eq!(
            summary(&d(Phase::Retiring { since_ms: 0 }), &services(), 0),
            "100% of traffic on green (shop-green); blue (shop-blue) kept for 10 min more, then scaled to zero"
        );
        assert_eq!(
            success_message(&d(Phase::Retiring { since_ms: 0 }), &services()),
            "green (shop-green) is live on shop:8; blue (shop-blue) scaled to zero"
        );
    }

    #[test]
    fn percent_complete_only_grows() {
        let phases = [
            Phase::Stabilizing { since_ms: 0 },
            Phase::Shifting {
                step: 0,
                since_ms: 0,
            },
            Phase::Shifting {
                step: 1,
                since_ms: 0,
            },
            Phase::Retiring { since_ms: 0 },
        ];
        let p: Vec<i32> = phases
            .iter()
            .map(|ph| percent_complete(&d(*ph), 0))
            .collect();
        assert_eq!(p, vec![5, 18, 90, 90]);
        assert_eq!(
            percent_complete(&d(Phase::Retiring { since_ms: 0 }), 300_000),
            95
        );
        assert_eq!(
            percent_complete(&d(Phase::Retiring { since_ms: 0 }), 10_000_000),
            99
        );
    }

    #[test]
    fn names_come_out_of_arns() {
        assert_eq!(
            target_group_name(
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop-green/6d0e"
            ),
            "shop-green"
        );
        assert_eq!(
            revision("arn:aws:ecs:us-east-1:1:task-definition/shop:8"),
            "shop:8"
        );
    }

    /// A canary to green still running, with an alarm and no controls or pause hook.
    fn running_canary() -> ProgressView {
        ProgressView {
            pause_hook: None,
            roll_back_to: None,
            deployment_id: "job-1".into(),
            new_side: Side::Green,
            services: services(),
            images: vec!["repo/shop:2".into()],
            strategy: "canary 10%, bake 5 min".into(),
            outcome: ProgressOutcome::Running,
            status: "10% of traffic on green".into(),
            alarms: vec!["shop-5xx".into()],
            analysis: vec![],
            controls: None,
            account: None,
        }
    }

    #[test]
    fn a_deployment_in_another_account_names_it() {
        let in_b = render(&ProgressView {
            account: Some("222222222222".into()),
            ..running_canary()
        });
        let context = in_b["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(context.ends_with(" · account 222222222222"), "{context}");
        assert!(!render(&running_canary()).to_string().contains("account"));
    }

    #[test]
    fn the_progress_message_has_buttons_only_while_running() {
        let mut view = running_canary();
        let m = render(&view);
        let actions = &m["blocks"][2]["elements"];
        assert_eq!(actions[0]["action_id"], PROMOTE_ACTION);
        assert_eq!(actions[1]["action_id"], ROLLBACK_ACTION);
        assert_eq!(actions[1]["value"], stamp("job-1"));
        assert!(m["text"]
            .as_str()
            .unwrap()
            .contains("10% of traffic on green"));
        view.outcome = ProgressOutcome::RolledBack;
        let m = render(&view);
        assert_eq!(m["blocks"].as_array().unwrap().len(), 2);
        assert!(m["text"]
            .as_str()
            .unwrap()
            .starts_with("Blue/green deployment rolled back"));
    }

    #[test]
    fn free_text_is_escaped_in_the_blocks_and_the_fallback_alike() {
        let view = ProgressView {
            status: "rolled back: hook said <!channel> & <@U0BOSS>".into(),
            ..running_canary()
        };
        let m = render(&view);
        let escaped = "hook said &lt;!channel&gt; &amp; &lt;@U0BOSS&gt;";
        let text = m["text"].as_str().unwrap();
        assert!(text.ends_with(escaped), "{text}");
        let section = m["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.ends_with(escaped), "{section}");
        assert!(!m.to_string().contains("<!channel>"));
    }

    #[test]
    fn a_pause_hook_shows_continue_with_the_controls_version() {
        let view = ProgressView {
            pause_hook: Some("POST_TEST_TRAFFIC_SHIFT".into()),
            status: "waiting".into(),
            alarms: vec![],
            controls: Some(Controls {
                version: 4,
                paused: false,
            }),
            ..running_canary()
        };
        let m = render(&view);
        let text = m.to_string();
        assert!(
            text.contains("Waiting at POST_TEST_TRAFFIC_SHIFT"),
            "{text}"
        );
        let actions = m["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        let first = &actions["elements"][0];
        assert_eq!(first["action_id"], CONTINUE_ACTION);
        assert_eq!(first["value"], stamp("job-1|4"));
        assert!(actions["elements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action_id"] == ROLLBACK_ACTION && e["value"] == stamp("job-1")));
        // Finished: no buttons at all.
        let done = render(&ProgressView {
            outcome: ProgressOutcome::Succeeded,
            ..view
        });
        assert!(!done.to_string().contains(CONTINUE_ACTION));
    }

    #[test]
    fn a_succeeded_deployment_offers_to_roll_back_to_the_previous_commit() {
        let previous = PreviousRelease {
            pipeline: "shop".into(),
            stage: "DeployProd".into(),
            execution_id: "e-2".into(),
            commit: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
        };
        let running = render(&ProgressView {
            roll_back_to: Some(previous.clone()),
            ..running_canary()
        });
        assert!(!running.to_string().contains(ROLL_BACK_TO_ACTION));
        let done = render(&ProgressView {
            outcome: ProgressOutcome::Succeeded,
            roll_back_to: Some(previous),
            ..running_canary()
        });
        let buttons = crate::slack::shown::buttons(&done);
        assert_eq!(
            buttons,
            vec![(
                ROLL_BACK_TO_ACTION.to_string(),
                "shop|DeployProd|e-2".to_string()
            )]
        );
        assert!(done.to_string().contains("Roll back to 6113728"));
    }
}
