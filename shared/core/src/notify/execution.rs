//! One pipeline execution as the notifications show it, merged from its events.
//!
//! `Execution::apply` folds an event in with the monotonic rule of `status`; the result depends
//! on the set of events seen, not on their order or repetition. Each status that moves on
//! leaves a `Notice` (the transitions SNS and the Slack thread tell about).

use super::event::{ActionResult, Change, PipelineEvent};
use super::status::{advance, Stamped, Status};
use super::trigger::Trigger;
use serde::{Deserialize, Serialize};

/// A stage as the pipeline declares it (`GetPipeline`), for the stages not run yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredStage {
    pub name: String,
    #[serde(default)]
    pub actions: Vec<DeclaredAction>,
    /// The AWS account its traffic shift acts in, when not the pipeline's (the account of a
    /// `role_arn` in its actions' `UserParameters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// An action as the pipeline declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredAction {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// An action execution seen in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Stamped>,
    /// The result reported with the current status (a failure's summary and log link).
    #[serde(default, skip_serializing_if = "ActionResult::is_empty")]
    pub result: ActionResult,
    pub first_seen: i64,
}

impl Action {
    pub fn is_approval(&self) -> bool {
        self.category.as_deref() == Some("Approval")
    }
}

/// A stage execution seen in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Stamped>,
    pub first_seen: i64,
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// What a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "lowercase")]
pub enum Scope {
    Pipeline,
    Stage { stage: String },
    Action { stage: String, action: String },
}

impl Scope {
    pub const fn name(&self) -> &'static str {
        match self {
            Scope::Pipeline => "pipeline",
            Scope::Stage { .. } => "stage",
            Scope::Action { .. } => "action",
        }
    }

    pub fn stage(&self) -> Option<&str> {
        match self {
            Scope::Pipeline => None,
            Scope::Stage { stage } | Scope::Action { stage, .. } => Some(stage),
        }
    }

    pub fn action(&self) -> Option<&str> {
        match self {
            Scope::Action { action, .. } => Some(action),
            _ => None,
        }
    }
}

/// One transition worth telling: a pipeline, stage or action reached `status` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Unique per transition: what each sink remembers having delivered.
    pub id: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub status: Status,
    pub at: i64,
    /// For an action, what it reported (a failure's summary and log link).
    #[serde(default, skip_serializing_if = "ActionResult::is_empty")]
    pub result: ActionResult,
}

/// One execution, merged from its events and CodePipeline's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub pipeline: String,
    pub execution_id: String,
    pub region: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Stamped>,
    pub first_event_at: i64,
    pub last_event_at: i64,
    /// Stages seen in events, sorted by name (display order comes from `layout`).
    #[serde(default)]
    pub stages: Vec<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Vec<DeclaredStage>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// Transitions, in time order.
    #[serde(default)]
    pub notices: Vec<Notice>,
    /// How many times CodePipeline was asked for the trigger without learning the commit.
    #[serde(default)]
    pub details_attempts: u8,
}

impl Execution {
    /// An execution known from one event, nothing applied yet.
    pub fn new(event: &PipelineEvent) -> Self {
        Execution {
            pipeline: event.pipeline.clone(),
            execution_id: event.execution_id.clone(),
            region: event.region.clone(),
            account: event.account.clone(),
            pipeline_version: event.pipeline_version,
            status: None,
            first_event_at: event.at,
            last_event_at: event.at,
            stages: vec![],
            layout: None,
            trigger: None,
            notices: vec![],
            details_attempts: 0,
        }
    }

    /// Folds an event in; true when anything changed.
    pub fn apply(&mut self, event: &PipelineEvent) -> bool {
        let mut changed = false;
        if event.at < self.first_event_at {
            self.first_event_at = event.at;
            changed = true;
        }
        if event.at > self.last_event_at {
            self.last_event_at = event.at;
            changed = true;
        }
        if self.pipeline_version.is_none() && event.pipeline_version.is_some() {
            self.pipeline_version = event.pipeline_version;
            changed = true;
        }
        match &event.change {
            Change::Pipeline { status } => {
                let stamped = stamp(*status, event.at);
                if advance(&mut self.status, stamped) {
                    self.notice(Scope::Pipeline, stamped, ActionResult::default());
                    changed = true;
                }
            }
            Change::Stage { stage, status } => {
                let stamped = stamp(*status, event.at);
                let (s, new) = self.stage_mut(stage, event.at);
                changed |= new;
                if advance(&mut s.status, stamped) {
                    self.notice(
                        Scope::Stage {
                            stage: stage.clone(),
                        },
                        stamped,
                        ActionResult::default(),
                    );
                    changed = true;
                }
            }
            Change::Action {
                stage,
                action,
                status,
                category,
                provider,
                result,
            } => {
                let stamped = stamp(*status, event.at);
                let (a, new) = self.action_mut(stage, action, event.at);
                changed |= new;
                if a.category.is_none() && category.is_some() {
                    a.category.clone_from(category);
                    changed = true;
                }
                if a.provider.is_none() && provider.is_some() {
                    a.provider.clone_from(provider);
                    changed = true;
                }
                if advance(&mut a.status, stamped) {
                    a.result = result.clone();
                    self.notice(
                        Scope::Action {
                            stage: stage.clone(),
                            action: action.clone(),
                        },
                        stamped,
                        result.clone(),
                    );
                    changed = true;
                } else if a.status == Some(stamped) && a.result.is_empty() && !result.is_empty() {
                    // The same transition again, now with its result (a retry after the
                    // details were fetched): keep what it adds.
                    a.result = result.clone();
                    changed = true;
                } else if stamped.status == Status::Failed {
                    // A failure delivered after the action's retry had already moved it on: the
                    // action stays where the retry took it, but the failure happened, and its
                    // thread reply and SNS notice are owed as if it had arrived in order.
                    changed |= self.notice(
                        Scope::Action {
                            stage: stage.clone(),
                            action: action.clone(),
                        },
                        stamped,
                        result.clone(),
                    );
                }
            }
        }
        changed
    }

    /// Records the pipeline's declared stages, once.
    pub fn set_layout(&mut self, layout: Vec<DeclaredStage>) {
        if self.layout.is_none() && !layout.is_empty() {
            self.layout = Some(layout);
        }
    }

    /// Records what started the execution; a trigger with a commit replaces one without.
    pub fn set_trigger(&mut self, trigger: Trigger) {
        let better = match &self.trigger {
            None => true,
            Some(t) => t.commit_id.is_none() && trigger.commit_id.is_some(),
        };
        if better {
            self.trigger = Some(trigger);
        }
    }

    /// True while the commit is unknown and CodePipeline is still worth asking.
    pub fn needs_details(&self) -> bool {
        let commit_known = self.trigger.as_ref().is_some_and(|t| t.commit_id.is_some());
        (!commit_known || self.layout.is_none()) && self.details_attempts < 3
    }

    /// The stage named `name`, if seen.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The action `action` of stage `stage`, if seen.
    pub fn action(&self, stage: &str, action: &str) -> Option<&Action> {
        self.stage(stage)
            .and_then(|s| s.actions.iter().find(|a| a.name == action))
    }

    /// The finished pipeline status, if the execution has ended.
    pub fn outcome(&self) -> Option<Stamped> {
        self.status.filter(|s| s.status.is_final())
    }

    /// Seconds from the first event to the end (or to the last event while running).
    pub fn elapsed_seconds(&self) -> i64 {
        let end = self.outcome().map_or(self.last_event_at, |s| s.at);
        (end - self.first_event_at).max(0)
    }

    /// True once anything in the execution failed.
    pub fn has_failure(&self) -> bool {
        self.notices.iter().any(|n| n.status == Status::Failed)
    }

    /// The latest failed action: what a failure message points at.
    pub fn failed_action(&self) -> Option<(&Stage, &Action)> {
        self.stages
            .iter()
            .flat_map(|s| s.actions.iter().map(move |a| (s, a)))
            .filter(|(_, a)| a.status.is_some_and(|st| st.status == Status::Failed))
            .max_by_key(|(_, a)| a.status)
    }

    /// Stage names in display order: declared order first, then stages seen in events only,
    /// by when they were first seen.
    pub fn stage_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .layout
            .iter()
            .flatten()
            .map(|s| s.name.clone())
            .collect();
        let mut extra: Vec<&Stage> = self
            .stages
            .iter()
            .filter(|s| !names.contains(&s.name))
            .collect();
        extra.sort_by(|a, b| (a.first_seen, &a.name).cmp(&(b.first_seen, &b.name)));
        names.extend(extra.into_iter().map(|s| s.name.clone()));
        names
    }

    /// Action names of a stage in display order (declared, then seen).
    pub fn action_names(&self, stage: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .layout
            .iter()
            .flatten()
            .filter(|s| s.name == stage)
            .flat_map(|s| s.actions.iter().map(|a| a.name.clone()))
            .collect();
        if let Some(s) = self.stage(stage) {
            let mut extra: Vec<&Action> = s
                .actions
                .iter()
                .filter(|a| !names.contains(&a.name))
                .collect();
            extra.sort_by(|a, b| (a.first_seen, &a.name).cmp(&(b.first_seen, &b.name)));
            names.extend(extra.into_iter().map(|a| a.name.clone()));
        }
        names
    }

    /// Records a transition, once (by id); true when it is new.
    fn notice(&mut self, scope: Scope, stamped: Stamped, result: ActionResult) -> bool {
        let id = match &scope {
            Scope::Pipeline => format!("pipeline/{}@{}", stamped.status.name(), stamped.at),
            Scope::Stage { stage } => {
                format!("stage/{stage}/{}@{}", stamped.status.name(), stamped.at)
            }
            Scope::Action { stage, action } => format!(
                "action/{stage}/{action}/{}@{}",
                stamped.status.name(),
                stamped.at
            ),
        };
        if self.notices.iter().any(|n| n.id == id) {
            return false;
        }
        self.notices.push(Notice {
            id,
            scope,
            status: stamped.status,
            at: stamped.at,
            result,
        });
        // Time order, then pipeline before stage before action, so sinks deliver in an order
        // that does not depend on the order events arrived in.
        self.notices
            .sort_by(|a, b| (a.at, &a.scope, &a.id).cmp(&(b.at, &b.scope, &b.id)));
        true
    }

    /// The stage, created if new; true when it was created or its first sighting moved.
    fn stage_mut(&mut self, name: &str, at: i64) -> (&mut Stage, bool) {
        let mut changed = false;
        let i = match self.stages.binary_search_by(|s| s.name.as_str().cmp(name)) {
            Ok(i) => i,
            Err(i) => {
                self.stages.insert(
                    i,
                    Stage {
                        name: name.to_string(),
                        status: None,
                        first_seen: at,
                        actions: vec![],
                    },
                );
                changed = true;
                i
            }
        };
        let stage = &mut self.stages[i];
        if at < stage.first_seen {
            stage.first_seen = at;
            changed = true;
        }
        (stage, changed)
    }

    /// The action, created if new; true when it (or its stage) was created or moved.
    fn action_mut(&mut self, stage: &str, name: &str, at: i64) -> (&mut Action, bool) {
        let (stage, mut changed) = self.stage_mut(stage, at);
        let i = match stage
            .actions
            .binary_search_by(|a| a.name.as_str().cmp(name))
        {
            Ok(i) => i,
            Err(i) => {
                stage.actions.insert(
                    i,
                    Action {
                        name: name.to_string(),
                        category: None,
                        provider: None,
                        status: None,
                        result: ActionResult::default(),
                        first_seen: at,
                    },
                );
                changed = true;
                i
            }
        };
        let action = &mut stage.actions[i];
        if at < action.first_seen {
            action.first_seen = at;
            changed = true;
        }
        (action, changed)
    }
}

fn stamp(status: Status, at: i64) -> Stamped {
    Stamped { status, at }
}

#[cfg(test)]
mod tests;
