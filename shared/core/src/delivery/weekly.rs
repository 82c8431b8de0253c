//! The optional weekly post: on EventBridge's schedule, each configured pipeline's channel gets
//! its delivery figures of the last 7 days against the 7 before, and its slowest and failed
//! deployments linked to their threads ([`super::report::weekly_message`]). One post per
//! pipeline and week, however many times the schedule's event arrives.

use super::flow::{history, ServiceFigures, RUNS_LOOKBACK_MS};
use super::history::{derive, figures};
use super::model::Period;
use super::ports::{DeliveryHistory, Permalinks, WeeklyClaims};
use super::report::{highlights, weekly_message};
use crate::config::NotifyConfig;
use crate::slack::{Chat, SlackError};
use crate::store::StoreError;
use serde_json::Value;
use std::collections::BTreeMap;

/// The window of the weekly post, days.
pub const WEEKLY_DAYS: i64 = 7;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The end of the weekly rule's name (the template names it `<HubName>-weekly-report`).
pub const WEEKLY_RULE_SUFFIX: &str = "-weekly-report";

/// EventBridge's scheduled event (`source` `aws.events`, `detail-type` `Scheduled Event`) from
/// the weekly rule: what tells the weekly post from the CodePipeline events the notifier also
/// hears, and from its other schedule (the service registry's reconcile, every minute), which
/// is a `Scheduled Event` too and is told apart by its rule (`resources`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyTick {
    pub id: String,
    /// The schedule's time (the event's `time`), epoch ms: the window ends here.
    pub at_ms: i64,
}

impl WeeklyTick {
    /// The tick, if `raw` is the weekly rule's scheduled event with a readable time.
    pub fn parse(raw: &Value) -> Option<Self> {
        if raw["source"] != "aws.events" || raw["detail-type"] != "Scheduled Event" {
            return None;
        }
        let from_the_weekly_rule = raw["resources"].as_array().is_some_and(|rules| {
            rules
                .iter()
                .filter_map(Value::as_str)
                .any(|rule| rule.ends_with(WEEKLY_RULE_SUFFIX))
        });
        if !from_the_weekly_rule {
            return None;
        }
        let at = crate::clock::parse_utc(raw["time"].as_str()?)?;
        Some(WeeklyTick {
            id: raw["id"].as_str().unwrap_or_default().to_string(),
            at_ms: at.saturating_mul(1000),
        })
    }

    /// The week the tick falls in, named by its Monday (UTC): a second delivery of the same
    /// schedule, or a second tick the same week, finds the week claimed.
    pub fn week(&self) -> String {
        let days = self.at_ms.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday: Monday is 3 days before it.
        let monday = days - (days + 3).rem_euclid(7);
        crate::clock::format_utc(monday * 86_400)
            .chars()
            .take(10)
            .collect()
    }
}

/// What the weekly post did for one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeeklyOutcome {
    Posted {
        channel: String,
        ts: String,
    },
    /// An earlier delivery of the schedule posted it this week.
    AlreadyPosted,
    /// Nothing ran in either week: no post.
    Quiet,
}

#[derive(Debug, thiserror::Error)]
pub enum WeeklyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
}

/// Posts the week's figures of every pipeline `notify` names with a channel (its own entry:
/// the registry of services), each once per week. O(pipelines) reads and one post each, once a
/// week. A failed post gives its claim back and fails the call (Lambda retries; the pipelines
/// already posted stay posted); a post whose outcome Slack left unknown keeps its claim, since
/// posting it twice is worse than missing it.
pub async fn weekly_post<P, C>(
    facts: &P,
    chat: &C,
    notify: &NotifyConfig,
    tick: &WeeklyTick,
) -> Result<BTreeMap<String, WeeklyOutcome>, WeeklyError>
where
    P: DeliveryHistory + WeeklyClaims + Sync,
    C: Chat + Permalinks + Sync,
{
    let week = tick.week();
    let mut out = BTreeMap::new();
    for pipeline in notify.pipelines.keys() {
        let Some(channel) = notify.channel_for(pipeline) else {
            continue;
        };
        let current = Period::days_before(tick.at_ms, WEEKLY_DAYS);
        let previous = Period::days_before(current.from_ms, WEEKLY_DAYS);
        let (runs, pushes) = history(facts, pipeline, previous.from_ms - RUNS_LOOKBACK_MS).await?;
        if !runs.iter().any(|r| r.at_ms >= previous.from_ms) {
            out.insert(pipeline.clone(), WeeklyOutcome::Quiet);
            continue;
        }
        let derived = derive(&runs, &pushes);
        let shown = ServiceFigures {
            current: figures(&derived, pipeline, current),
            previous: figures(&derived, pipeline, previous),
        };
        let named = highlights(&derived, pipeline, current);
        if !facts.claim_week(pipeline, &week).await? {
            out.insert(pipeline.clone(), WeeklyOutcome::AlreadyPosted);
            continue;
        }
        let mut links = BTreeMap::new();
        for thread in named.threads() {
            let Some((ch, ts)) = thread.split_once('/') else {
                continue;
            };
            // A link is a convenience: without it the deployment is still named.
            match chat.permalink(ch, ts).await {
                Ok(url) => {
                    links.insert(thread.to_string(), url);
                }
                Err(e) => tracing::warn!(pipeline, error = %e, "no permalink for a thread"),
            }
        }
        let mut message = weekly_message(&shown, &named, &|t| links.get(t).cloned());
        message["channel"] = Value::from(channel);
        match chat.post(&message).await {
            Ok(posted) => {
                out.insert(
                    pipeline.clone(),
                    WeeklyOutcome::Posted {
                        channel: posted.channel,
                        ts: posted.ts,
                    },
                );
            }
            Err(e) => {
                if !e.maybe_posted() {
                    facts.release_week(pipeline, &week).await?;
                }
                return Err(e.into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_scheduled_event_is_a_tick() {
        let tick = json!({"id": "e-1", "source": "aws.events", "detail-type": "Scheduled Event", "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-weekly-report"], 
            "time": "2026-12-07T09:00:00Z", "detail": {}});
        let t = WeeklyTick::parse(&tick).expect("a tick");
        assert_eq!(t.id, "e-1");
        assert_eq!(t.week(), "2026-12-07");
        let stage = json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Stage Execution State Change",
            "time": "2026-12-07T09:00:00Z", "detail": {}});
        assert_eq!(WeeklyTick::parse(&stage), None);
        let reconcile = json!({"id": "e-2", "source": "aws.events", "detail-type": "Scheduled Event",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-NotifierFunctionServiceRegistryReconcile-AB12"],
            "time": "2026-12-07T09:00:00Z", "detail": {}});
        assert_eq!(
            WeeklyTick::parse(&reconcile),
            None,
            "the registry's schedule is no tick"
        );
    }

    use crate::delivery::testing::MemoryFacts;
    use crate::delivery::{RunKind, RunOutcome, StageRun};
    use crate::slack::PostedMessage;
    use std::sync::Mutex;

    /// Slack answering each post from a script (then `ok`), recording what was posted.
    #[derive(Default)]
    struct ScriptedSlack {
        answers: Mutex<Vec<SlackError>>,
        posted: Mutex<Vec<Value>>,
    }

    impl Chat for ScriptedSlack {
        async fn post(&self, message: &Value) -> Result<PostedMessage, SlackError> {
            if let Some(e) = self.answers.lock().expect("lock").pop() {
                return Err(e);
            }
            self.posted.lock().expect("lock").push(message.clone());
            Ok(PostedMessage {
                channel: message["channel"].as_str().unwrap_or_default().into(),
                ts: "1.000001".into(),
            })
        }
        async fn update(&self, _: &PostedMessage, _: &Value) -> Result<(), SlackError> {
            Ok(())
        }
        async fn find(
            &self,
            _: &str,
            _: Option<&str>,
            _: &Value,
        ) -> Result<Option<PostedMessage>, SlackError> {
            Ok(None)
        }
    }

    impl Permalinks for ScriptedSlack {
        async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
            Ok(format!("https://acme.slack.com/archives/{channel}/p{ts}"))
        }
    }

    async fn shop_ran(facts: &MemoryFacts, at_ms: i64) {
        use crate::delivery::DeliveryHistory;
        facts
            .record_run(&StageRun {
                pipeline: "shop".into(),
                stage: "Prod".into(),
                execution_id: "e-1".into(),
                kind: RunKind::Change,
                outcome: RunOutcome::Failed,
                at_ms,
                commit: Some("abc123".into()),
                git_ref: Some("refs/heads/main".into()),
                thread: Some("C0SHOP/1.000100".into()),
            })
            .await
            .expect("record");
    }

    fn notify() -> NotifyConfig {
        serde_json::from_value(json!({"default_channel": "C0ALL",
            "pipelines": {"shop": {"channel": "C0SHOP"}}}))
        .expect("notify")
    }

    fn tick() -> WeeklyTick {
        WeeklyTick::parse(&json!({"id": "t", "source": "aws.events", "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-weekly-report"], 
            "detail-type": "Scheduled Event", "time": "2026-12-07T09:00:00Z"}))
        .expect("tick")
    }

    fn slack_refused() -> SlackError {
        SlackError::Api {
            method: "chat.postMessage".into(),
            error: "not_in_channel".into(),
        }
    }

    #[tokio::test]
    async fn a_failed_post_gives_the_week_back_so_the_retry_posts_it_once() {
        let facts = MemoryFacts::default();
        shop_ran(&facts, tick().at_ms - DAY_MS).await;
        let slack = ScriptedSlack {
            answers: Mutex::new(vec![slack_refused()]),
            ..Default::default()
        };
        assert!(weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .is_err());
        let done = weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .expect("the retry posts");
        assert!(
            matches!(done["shop"], WeeklyOutcome::Posted { .. }),
            "{done:?}"
        );
        let again = weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .expect("again");
        assert_eq!(again["shop"], WeeklyOutcome::AlreadyPosted);
        let posted = slack.posted.lock().expect("lock");
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0]["channel"], "C0SHOP");
        let text = crate::slack::shown::texts(&posted[0]).join("\n");
        assert!(
            text.contains("`abc123` in *Prod* (<https://acme.slack.com/archives/C0SHOP/p1.000100|thread>) — failed"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_post_slack_may_have_made_is_not_made_again() {
        let facts = MemoryFacts::default();
        shop_ran(&facts, tick().at_ms - DAY_MS).await;
        let slack = ScriptedSlack {
            answers: Mutex::new(vec![SlackError::MaybePosted {
                method: "chat.postMessage".into(),
                reason: "timeout".into(),
            }]),
            ..Default::default()
        };
        assert!(weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .is_err());
        let retry = weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .expect("retry");
        assert_eq!(retry["shop"], WeeklyOutcome::AlreadyPosted);
        assert!(slack.posted.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_service_that_ran_nothing_for_two_weeks_gets_no_post() {
        let facts = MemoryFacts::default();
        shop_ran(&facts, tick().at_ms - 15 * DAY_MS).await;
        let slack = ScriptedSlack::default();
        let done = weekly_post(&facts, &slack, &notify(), &tick())
            .await
            .expect("quiet");
        assert_eq!(done["shop"], WeeklyOutcome::Quiet);
        assert!(slack.posted.lock().expect("lock").is_empty());
    }

    #[test]
    fn the_week_is_named_by_its_monday() {
        let at = |time: &str| {
            WeeklyTick::parse(&json!({"source": "aws.events", "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-weekly-report"], 
            "detail-type": "Scheduled Event", "time": time}))
            .expect("tick")
            .week()
        };
        assert_eq!(at("2026-12-13T23:59:59Z"), "2026-12-07");
        assert_eq!(at("2026-12-14T00:00:00Z"), "2026-12-14");
        assert_eq!(at("2026-12-10T12:00:00Z"), "2026-12-07");
    }
}
