//! `status`: each stage's live commit and what runs there now, from a projection the notifier
//! keeps current as CodePipeline's events arrive (one row per stage and kind), so `status` for
//! every service is one read of the state table and no CodePipeline call. The traffic shifter
//! adds a third row to a stage while it holds the stage at a weight (`shift_row`), in the same
//! read, so `status` can say "baking at 10%" without asking the load balancer.

use crate::notify::{Execution, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which of a stage's two rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowKind {
    /// The last execution that succeeded in the stage: what runs there.
    Live,
    /// The latest execution the stage saw, whatever its state.
    Latest,
    /// The weight the traffic shifter holds the stage at (its `percent`), written each time it
    /// moves traffic.
    Shift,
}

/// What a stage is doing, as `status` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Deploying,
    WaitingForApproval,
    Succeeded,
    Failed,
    Stopped,
}

impl StageState {
    fn word(self) -> &'static str {
        match self {
            StageState::Deploying => "🔄 deploying",
            StageState::WaitingForApproval => "✋ waiting for approval",
            StageState::Succeeded => "✅ succeeded",
            StageState::Failed => "❌ failed",
            StageState::Stopped => "⏹ stopped",
        }
    }
}

/// One execution's run of one stage: a row of the projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRun {
    pub pipeline: String,
    pub stage: String,
    pub execution_id: String,
    pub state: StageState,
    /// When the stage reached `state` (epoch seconds): rows only ever move forward in time.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The commit message's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who wrote or pushed it, as the execution's trigger names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Where the stage stands in its pipeline (0 first), as the notifier last saw the
    /// pipeline's declaration: `status` lists stages in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// A shift row's share of production traffic on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

/// The row the traffic shifter writes when it sets a stage's weights: `percent` of production
/// traffic on execution `execution_id`'s version, since `at`.
pub fn shift_row(
    pipeline: &str,
    stage: &str,
    execution_id: &str,
    percent: u8,
    at: i64,
) -> BoardRun {
    BoardRun {
        pipeline: pipeline.to_string(),
        stage: stage.to_string(),
        execution_id: execution_id.to_string(),
        state: StageState::Deploying,
        at,
        commit: None,
        message: None,
        by: None,
        position: None,
        percent: Some(percent.min(100)),
    }
}

/// The rows an execution gives the projection: for each stage it reached, its latest row, and
/// its live row when it succeeded there.
pub fn project(execution: &Execution) -> Vec<(RowKind, BoardRun)> {
    let trigger = execution.trigger.as_ref();
    let order = execution.stage_names();
    let mut rows = Vec::new();
    for stage in &execution.stages {
        let Some(stamped) = stage.status else {
            continue;
        };
        let waiting = stage.actions.iter().any(|a| {
            a.is_approval() && matches!(a.status.map(|s| s.status), Some(Status::Started))
        });
        let state = match stamped.status {
            Status::Started | Status::Resumed | Status::Stopping if waiting => {
                StageState::WaitingForApproval
            }
            Status::Started | Status::Resumed => StageState::Deploying,
            Status::Succeeded => StageState::Succeeded,
            Status::Failed => StageState::Failed,
            Status::Stopping
            | Status::Stopped
            | Status::Superseded
            | Status::Canceled
            | Status::Abandoned => StageState::Stopped,
        };
        let run = BoardRun {
            pipeline: execution.pipeline.clone(),
            stage: stage.name.clone(),
            execution_id: execution.execution_id.clone(),
            state,
            at: stamped.at,
            commit: trigger.and_then(|t| t.commit_id.clone()),
            message: trigger.and_then(|t| t.message.clone()),
            by: trigger.and_then(|t| t.author.clone()),
            position: order
                .iter()
                .position(|n| n == &stage.name)
                .and_then(|i| u32::try_from(i).ok()),
            percent: None,
        };
        if state == StageState::Succeeded {
            rows.push((RowKind::Live, run.clone()));
        }
        rows.push((RowKind::Latest, run));
    }
    rows
}

/// A stage's rows, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageStatus {
    pub live: Option<BoardRun>,
    pub latest: Option<BoardRun>,
    pub shift: Option<BoardRun>,
}

impl StageStatus {
    /// Where the stage stands in its pipeline: the newest row that knows.
    fn position(&self) -> Option<u32> {
        [&self.latest, &self.live]
            .into_iter()
            .flatten()
            .find_map(|r| r.position)
    }

    /// What the latest execution is doing: its state, or, while the traffic shifter holds that
    /// same execution's version at a weight, the weight.
    fn doing(&self, latest: &BoardRun) -> String {
        let held = self.shift.as_ref().filter(|s| {
            latest.state == StageState::Deploying && s.execution_id == latest.execution_id
        });
        match held.and_then(|s| s.percent) {
            Some(percent) => format!("🍞 baking at {percent}%"),
            None => latest.state.word().to_string(),
        }
    }
}

/// The projection, read: pipeline → stage → its rows.
pub type Board = BTreeMap<String, BTreeMap<String, StageStatus>>;

/// Builds the board from the rows read.
pub fn board(rows: Vec<(RowKind, BoardRun)>) -> Board {
    let mut b = Board::new();
    for (kind, run) in rows {
        let at = b
            .entry(run.pipeline.clone())
            .or_default()
            .entry(run.stage.clone())
            .or_default();
        match kind {
            RowKind::Live => at.live = Some(run),
            RowKind::Latest => at.latest = Some(run),
            RowKind::Shift => at.shift = Some(run),
        }
    }
    b
}

fn short(commit: &str) -> &str {
    if commit.len() >= 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        &commit[..7]
    } else {
        commit
    }
}

fn describe(run: &BoardRun) -> String {
    let mut s = match &run.commit {
        Some(c) => format!("`{}`", short(c)),
        None => "commit unknown".to_string(),
    };
    if let Some(m) = &run.message {
        s.push(' ');
        s.push_str(&crate::text::truncate(m, 72));
    }
    if let Some(by) = &run.by {
        s.push_str(&format!(" by {by}"));
    }
    s.push_str(&format!(
        " <!date^{}^{{date_short_pretty}} {{time}}|{}>",
        run.at, run.at
    ));
    s
}

/// The `status` answer (mrkdwn): for each service, each stage's live commit and, when another
/// execution is there now, what it is doing; stages in pipeline order (the declaration the
/// notifier saw, else the order they ran in).
pub fn render(board: &Board, only: Option<&str>) -> String {
    let mut out = Vec::new();
    for (pipeline, stages) in board {
        if only.is_some_and(|o| o != pipeline) {
            continue;
        }
        let mut ordered: Vec<(&String, &StageStatus)> = stages
            .iter()
            .filter(|(_, s)| s.live.is_some() || s.latest.is_some())
            .collect();
        // Pipeline order where the notifier saw the declaration; else the order they ran in
        // (a pipeline's later stages start later); the name only breaks ties.
        ordered.sort_by_key(|(name, s)| {
            let first = s
                .latest
                .as_ref()
                .or(s.live.as_ref())
                .map_or(i64::MAX, |r| r.at);
            (s.position().unwrap_or(u32::MAX), first, (*name).clone())
        });
        if ordered.is_empty() {
            continue;
        }
        out.push(format!("*{pipeline}*"));
        for (stage, s) in ordered {
            let live = match &s.live {
                Some(run) => format!("live {}", describe(run)),
                None => "nothing live yet".to_string(),
            };
            let mut line = format!("• {stage}: {live}");
            if let Some(latest) = &s.latest {
                let same = s
                    .live
                    .as_ref()
                    .is_some_and(|l| l.execution_id == latest.execution_id);
                if !same {
                    line.push_str(&format!("; now {} {}", s.doing(latest), describe(latest)));
                }
            }
            out.push(line);
        }
    }
    if out.is_empty() {
        return match only {
            Some(s) => format!("Gantry has seen no execution of `{s}` yet."),
            None => "Gantry has seen no execution yet.".to_string(),
        };
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::execution::{Action, Stage};
    use crate::notify::Trigger;
    use crate::notify::{PipelineEvent, Stamped};

    fn execution(id: &str, stages: &[(&str, Status, i64, bool)]) -> Execution {
        let event = PipelineEvent::parse(&serde_json::json!({
            "id": "e", "detail-type": "CodePipeline Pipeline Execution State Change",
            "source": "aws.codepipeline", "account": "123456789012", "region": "us-east-1",
            "time": "2026-12-07T15:00:00Z",
            "detail": {"pipeline": "shop", "execution-id": id, "state": "STARTED", "version": 1}
        }))
        .expect("event");
        let mut e = Execution::new(&event);
        e.trigger = Some(Trigger {
            commit_id: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
            message: Some("Fix the cart total".into()),
            author: Some("octocat".into()),
            ..Trigger::default()
        });
        e.stages = stages
            .iter()
            .map(|(name, status, at, waiting)| Stage {
                name: name.to_string(),
                status: Some(Stamped {
                    status: *status,
                    at: *at,
                }),
                first_seen: *at,
                actions: if *waiting {
                    vec![Action {
                        name: "Approve".into(),
                        category: Some("Approval".into()),
                        provider: None,
                        status: Some(Stamped {
                            status: Status::Started,
                            at: *at,
                        }),
                        result: Default::default(),
                        first_seen: *at,
                    }]
                } else {
                    vec![]
                },
            })
            .collect();
        e
    }

    #[test]
    fn a_stage_shows_its_live_commit_and_what_runs_there_now() {
        let old = execution(
            "e-1",
            &[
                ("Build", Status::Succeeded, 100, false),
                ("Prod", Status::Succeeded, 200, false),
            ],
        );
        let new = execution(
            "e-2",
            &[
                ("Build", Status::Succeeded, 300, false),
                ("Prod", Status::Started, 400, true),
            ],
        );
        let mut rows = project(&old);
        rows.extend(project(&new));
        // Rows arrive in any order; the adapter keeps the newest of each kind.
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|(k, r)| {
                !(r.execution_id == "e-1" && (r.stage == "Build" || *k == RowKind::Latest))
            })
            .collect();
        let text = render(&board(rows), None);
        assert!(
            text.starts_with("*shop*\n• Build: live `6113728` Fix the cart total by octocat"),
            "{text}"
        );
        assert!(text.contains("• Prod: live `6113728`"), "{text}");
        assert!(text.contains("now ✋ waiting for approval"), "{text}");
    }

    #[test]
    fn a_failed_stage_gives_no_live_row() {
        let rows = project(&execution("e-1", &[("Prod", Status::Failed, 5, false)]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, RowKind::Latest);
        assert_eq!(rows[0].1.state, StageState::Failed);
        let text = render(&board(rows), Some("shop"));
        assert!(
            text.contains("Prod: nothing live yet; now ❌ failed"),
            "{text}"
        );
    }

    #[test]
    fn a_stage_the_shifter_holds_at_a_weight_says_baking_at_its_percent() {
        let old = execution("e-1", &[("Deploy", Status::Succeeded, 100, false)]);
        let new = execution("e-2", &[("Deploy", Status::Started, 200, false)]);
        let mut rows: Vec<_> = project(&old)
            .into_iter()
            .filter(|(k, _)| *k == RowKind::Live)
            .collect();
        rows.extend(project(&new));
        let without = render(&board(rows.clone()), None);
        assert!(without.contains("now 🔄 deploying `6113728`"), "{without}");
        rows.push((RowKind::Shift, shift_row("shop", "Deploy", "e-2", 10, 210)));
        let text = render(&board(rows.clone()), None);
        assert!(
            text.contains("• Deploy: live `6113728` Fix the cart total by octocat")
                && text.contains("; now 🍞 baking at 10% `6113728`"),
            "{text}"
        );
        // A weight the shifter held for another execution says nothing of this one.
        let mut stale = rows.clone();
        stale.pop();
        stale.push((RowKind::Shift, shift_row("shop", "Deploy", "e-1", 50, 150)));
        assert!(render(&board(stale), None).contains("now 🔄 deploying"));
        // Once the stage has ended, its state says so, whatever weight was last held.
        let done = execution("e-2", &[("Deploy", Status::Failed, 300, false)]);
        let mut ended = rows;
        ended.extend(project(&done));
        let text = render(&board(ended), None);
        assert!(text.contains("now ❌ failed"), "{text}");
        assert!(!text.contains("baking"), "{text}");
    }

    #[test]
    fn stages_are_listed_in_pipeline_order() {
        use crate::notify::execution::DeclaredStage;
        // Prod waits from long ago while Build and Test ran since: the declaration decides.
        let mut waiting = execution("e-1", &[("Prod", Status::Started, 100, true)]);
        let mut newer = execution(
            "e-2",
            &[
                ("Build", Status::Succeeded, 300, false),
                ("Test", Status::Succeeded, 400, false),
            ],
        );
        let layout: Vec<DeclaredStage> = ["Build", "Test", "Prod"]
            .iter()
            .map(|n| DeclaredStage {
                name: n.to_string(),
                actions: vec![],
                account: None,
            })
            .collect();
        waiting.set_layout(layout.clone());
        newer.set_layout(layout);
        let mut rows = project(&waiting);
        rows.extend(project(&newer));
        let text = render(&board(rows), None);
        let at = |stage: &str| text.find(&format!("• {stage}:")).expect(stage);
        assert!(
            at("Build") < at("Test") && at("Test") < at("Prod"),
            "{text}"
        );
    }

    #[test]
    fn an_unseen_service_is_said_so() {
        assert_eq!(
            render(&Board::new(), Some("cart")),
            "Gantry has seen no execution of `cart` yet."
        );
    }
}
