//! In-memory fakes of every approval port, with the same conditional semantics as the state
//! table (claim only a waiting record or a lapsed lease; settle only by the claimant), and the
//! flow tests that run on them.

use super::ports::*;
use super::*;
use crate::slack::{PostedMessage, SlackError};
use crate::store::StoreError;
use crate::traffic::{Command, DeploymentRecord};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

const LEASE: i64 = 30;

#[derive(Default)]
pub struct FakeStore {
    pub records: Mutex<BTreeMap<String, ApprovalRecord>>,
    pub actions: Mutex<BTreeMap<String, String>>,
    pub threads: BTreeMap<String, PostedMessage>,
    /// The webhook's records of the executions it started, in the order received.
    pub pushes: Vec<crate::ingest::StartedPush>,
}

/// The webhook's record of execution `execution` of `shop` on `main`, a push by `pusher` (none:
/// the payload named nobody) of commits by `authors`, received at `at`.
pub fn started(
    execution: &str,
    pusher: Option<&str>,
    authors: &[&str],
    at: i64,
) -> crate::ingest::StartedPush {
    crate::ingest::StartedPush {
        pipeline: "shop".into(),
        execution_id: execution.into(),
        git_ref: "refs/heads/main".into(),
        commit_id: format!("commit-{execution}"),
        facts: crate::ingest::PushFacts {
            pusher: pusher.map(str::to_string),
            authors: authors.iter().map(|a| a.to_string()).collect(),
            commits: vec![format!("commit-{execution}")],
            delivery: format!("d-{execution}"),
            received_at: at,
            received_ms: 0,
            carried_pushers: Vec::new(),
        },
    }
}

impl ApprovalStore for FakeStore {
    async fn create(&self, r: &ApprovalRecord, _now: i64) -> Result<Created, StoreError> {
        let mut records = self.records.lock().unwrap();
        match records.get(&r.id) {
            Some(old) if old.message.is_none() => {
                records.insert(r.id.clone(), r.clone());
                return Ok(Created::TakenOver);
            }
            Some(_) => return Ok(Created::Exists),
            None => {}
        }
        records.insert(r.id.clone(), r.clone());
        Ok(Created::New)
    }
    async fn read(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.records.lock().unwrap().get(id).cloned())
    }
    async fn set_message(&self, id: &str, at: &PostedMessage) -> Result<(), StoreError> {
        if let Some(r) = self.records.lock().unwrap().get_mut(id) {
            r.message = Some(at.clone());
        }
        Ok(())
    }
    async fn link_action(&self, r: &ApprovalRecord) -> Result<Option<String>, StoreError> {
        let key = format!("{}#{}#{}#{}", r.pipeline, r.execution_id, r.stage, r.action);
        let old = self.actions.lock().unwrap().insert(key, r.id.clone());
        Ok(old.filter(|o| *o != r.id))
    }
    async fn latest_for_action(
        &self,
        p: &str,
        e: &str,
        s: &str,
        a: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .actions
            .lock()
            .unwrap()
            .get(&format!("{p}#{e}#{s}#{a}"))
            .cloned())
    }
    async fn claim(&self, id: &str, by: &Approver, now: i64) -> Result<DecisionClaim, StoreError> {
        let mut records = self.records.lock().unwrap();
        let Some(r) = records.get_mut(id) else {
            return Ok(DecisionClaim::Missing);
        };
        let claimable = match &r.state {
            ApprovalState::Waiting => true,
            ApprovalState::Deciding { until, .. } => *until < now,
            _ => false,
        };
        if !claimable {
            return Ok(DecisionClaim::Lost(Box::new(r.clone())));
        }
        r.state = ApprovalState::Deciding {
            by: by.clone(),
            until: now + LEASE,
        };
        Ok(DecisionClaim::Claimed)
    }
    async fn settle(
        &self,
        id: &str,
        claimant: &str,
        state: &ApprovalState,
    ) -> Result<bool, StoreError> {
        let mut records = self.records.lock().unwrap();
        match records.get_mut(id) {
            Some(r) if matches!(&r.state, ApprovalState::Deciding { by, .. } if by.id == claimant) =>
            {
                r.state = state.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn release(&self, id: &str, claimant: &str) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        if let Some(r) = records.get_mut(id) {
            if matches!(&r.state, ApprovalState::Deciding { by, .. } if by.id == claimant) {
                r.state = ApprovalState::Waiting;
            }
        }
        Ok(())
    }
    async fn close_waiting(&self, id: &str, closure: &Closure) -> Result<bool, StoreError> {
        let mut records = self.records.lock().unwrap();
        match records.get_mut(id) {
            Some(r) if r.state == ApprovalState::Waiting => {
                r.state = ApprovalState::Closed(closure.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn execution_thread(
        &self,
        _p: &str,
        e: &str,
    ) -> Result<Option<PostedMessage>, StoreError> {
        Ok(self.threads.get(e).cloned())
    }
    async fn started(
        &self,
        p: &str,
        e: &str,
    ) -> Result<Option<crate::ingest::StartedPush>, StoreError> {
        Ok(self
            .pushes
            .iter()
            .find(|s| s.pipeline == p && s.execution_id == e)
            .cloned())
    }
    async fn pushes_before(
        &self,
        own: &crate::ingest::StartedPush,
        ran: &StageSuccesses,
    ) -> Result<Vec<crate::ingest::StartedPush>, StoreError> {
        let mut older: Vec<_> = self
            .pushes
            .iter()
            .filter(|s| s.pipeline == own.pipeline && s.git_ref == own.git_ref)
            .filter(|s| s.facts.received_at < own.facts.received_at)
            .cloned()
            .collect();
        older.reverse();
        if let Some(at) = older.iter().position(|s| ran.ran(s)) {
            older.truncate(at + 1);
        }
        Ok(older)
    }
}

/// One approval waiting in `shop`/`Prod`/`Approve`; `put` is what `PutApprovalResult` answers.
pub struct FakePipeline {
    pub waiting: Option<WaitingApproval>,
    pub commit: Option<CommitSummary>,
    pub put: Mutex<Vec<Result<(), ApprovalCallError>>>,
    pub decided: Mutex<Vec<(String, Outcome, String)>>,
    pub last: Option<ActionOutcome>,
    pub timeout_minutes: Option<i64>,
    /// How many times the action's settings (its declaration) were read.
    pub settings_read: Mutex<u32>,
    /// The executions that succeeded in the stage.
    pub succeeded: StageSuccesses,
}

impl Default for FakePipeline {
    fn default() -> Self {
        FakePipeline {
            waiting: Some(WaitingApproval {
                token: "tok-1".into(),
                execution_id: Some("e-1".into()),
                since: Some(1_000),
            }),
            commit: Some(CommitSummary {
                id: "c0ffee".into(),
                author: Some("octocat".into()),
                pusher: Some("octocat".into()),
                authors: vec!["octocat".into()],
                ..CommitSummary::default()
            }),
            put: Mutex::new(vec![]),
            decided: Mutex::new(vec![]),
            last: None,
            timeout_minutes: None,
            settings_read: Mutex::new(0),
            succeeded: StageSuccesses::default(),
        }
    }
}

impl ApprovalActions for FakePipeline {
    async fn waiting(
        &self,
        _p: &str,
        _s: &str,
        _a: &str,
        _e: Option<&str>,
        _t: Option<&str>,
    ) -> Result<Option<WaitingApproval>, ApprovalCallError> {
        Ok(self.waiting.clone())
    }
    async fn settings(
        &self,
        _p: &str,
        _s: &str,
        _a: &str,
        _e: &str,
    ) -> Result<ApprovalSettings, ApprovalCallError> {
        *self.settings_read.lock().unwrap() += 1;
        Ok(ApprovalSettings {
            timeout_minutes: self.timeout_minutes,
            ..ApprovalSettings::default()
        })
    }
    async fn last_outcome(
        &self,
        _p: &str,
        _s: &str,
        _a: &str,
        _e: &str,
    ) -> Result<ActionOutcome, ApprovalCallError> {
        self.last.clone().ok_or(ApprovalCallError::NotFound {
            what: "state".into(),
        })
    }
    async fn succeeded_in_stage(
        &self,
        _p: &str,
        _s: &str,
    ) -> Result<StageSuccesses, ApprovalCallError> {
        Ok(self.succeeded.clone())
    }
    async fn commit(&self, _p: &str, _e: &str) -> Result<Option<CommitSummary>, ApprovalCallError> {
        Ok(self.commit.clone())
    }
    async fn decide(&self, d: &PipelineDecision<'_>) -> Result<(), ApprovalCallError> {
        let answer = self.put.lock().unwrap().pop().unwrap_or(Ok(()));
        if answer.is_ok() {
            self.decided.lock().unwrap().push((
                d.token.to_string(),
                d.outcome,
                d.summary.to_string(),
            ));
        }
        answer
    }
}

/// Slack: what was posted, updated and said privately (the one fake of every feature).
pub use crate::slack::testing::FakeSlack;

impl Replies for FakeSlack {
    async fn respond(&self, _url: &str, body: &Value) -> Result<(), SlackError> {
        if let Some(text) = body["text"]
            .as_str()
            .filter(|_| body["response_type"] == "ephemeral")
        {
            self.private.lock().unwrap().push(text.to_string());
        }
        Ok(())
    }
    async fn post_ephemeral(&self, _c: &str, _u: &str, text: &str) -> Result<(), SlackError> {
        self.private.lock().unwrap().push(text.to_string());
        Ok(())
    }
}

#[derive(Default)]
pub struct FakeDirectory {
    pub groups: BTreeMap<String, BTreeSet<String>>,
    pub emails: BTreeMap<String, String>,
}

impl Directory for FakeDirectory {
    async fn group_members(&self, group: &str) -> Result<BTreeSet<String>, SlackError> {
        Ok(self.groups.get(group).cloned().unwrap_or_default())
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        Ok(self.emails.get(email).cloned())
    }
}

#[derive(Default)]
pub struct FakeDeployments {
    pub records: Mutex<BTreeMap<String, DeploymentRecord>>,
}

impl DeploymentCommands for FakeDeployments {
    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self.records.lock().unwrap().get(id).cloned())
    }
    async fn request(
        &self,
        id: &str,
        command: &Command,
        _now: i64,
    ) -> Result<CommandOutcome, StoreError> {
        let mut records = self.records.lock().unwrap();
        Ok(match records.get_mut(id) {
            None => CommandOutcome::Missing,
            Some(d) => match &d.command {
                Some(pending) => CommandOutcome::AlreadyPending(pending.clone()),
                None if command.version().is_some_and(|v| v != d.controls) => {
                    CommandOutcome::Stale {
                        current: d.controls,
                    }
                }
                None => {
                    d.command = Some(command.clone());
                    CommandOutcome::Recorded
                }
            },
        })
    }
}

/// The approval flows over in-memory fakes.
pub struct Fakes;

impl super::ApprovalPorts for Fakes {
    type Store = FakeStore;
    type Pipeline = FakePipeline;
    type Chat = FakeSlack;
    type Directory = FakeDirectory;
    type Deployments = FakeDeployments;
}

pub type FakeApprovals = Approvals<Fakes>;

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// Approvals of `shop`/`Prod` by U0JANE and U0OCTO, four-eyes, posting to C0DEPLOYS.
pub fn approvals() -> FakeApprovals {
    let rules = ApproverRules::parse(
        r#"{"shop": {"Prod": {"users": ["U0JANE", "U0OCTO"], "four_eyes": true,
             "authors": {"octocat": "U0OCTO"}}}}"#,
    )
    .unwrap();
    Approvals {
        approvers: rules,
        people: crate::config::people::People::parse(r#"{"github:octocat": "U0OCTO"}"#).unwrap(),
        channels: serde_json::from_value(serde_json::json!({"default_channel": "C0DEPLOYS"}))
            .unwrap(),
        signing_secret: crate::secrets::SecretString::new(SECRET),
        // Execution e-1 is octocat's push, started by Gantry's webhook.
        records: FakeStore {
            pushes: vec![started("e-1", Some("octocat"), &["octocat"], 1_000)],
            ..FakeStore::default()
        },
        pipeline: FakePipeline::default(),
        slack: FakeSlack::default(),
        slack_now: FakeSlack::default(),
        directory: FakeDirectory::default(),
        deployments: FakeDeployments::default(),
    }
}
