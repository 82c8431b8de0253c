//! One deployment's state: what was decided at the start (sides, the new task definition, the
//! plan) and where it stands (`Phase`). Serialized, it is the continuation token.

use crate::traffic::phases::judged::StepState;
use crate::traffic::phases::scaling::SavedScaling;
use crate::traffic::setup::hooks::HookRun;
use crate::traffic::setup::plan::TrafficPlan;
use crate::traffic::setup::weights::Side;
use serde::{Deserialize, Serialize};

/// CodePipeline's limit on a continuation token.
pub const MAX_TOKEN_CHARS: usize = 2048;
const TOKEN_VERSION: u8 = 1;

/// What the idle service ran before the deployment touched it, so a rollback can put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    #[serde(rename = "td")]
    pub task_definition: String,
    #[serde(rename = "n")]
    pub desired: i32,
}

/// The deployment's clock settings, fixed at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Seconds between two checks of alarms, health and operator commands.
    #[serde(rename = "c")]
    pub check_seconds: u32,
    /// Seconds the old version is kept (and rollback stays instant) after the last step.
    #[serde(rename = "d")]
    pub scale_down_after_seconds: u32,
    /// Seconds the new version may take to become stable and healthy before it is given up.
    #[serde(rename = "r")]
    pub ready_timeout_seconds: u32,
}

/// A blue/green deployment in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    #[serde(rename = "v")]
    version: u8,
    /// The deployment's id: the id of the job that started it.
    pub id: String,
    /// The side that was live (the old version) when the deployment started.
    pub live: Side,
    /// The task definition revision the idle side runs for this deployment.
    #[serde(rename = "td")]
    pub task_definition: String,
    /// How many tasks the new version runs (the live service's desired count at the start).
    #[serde(rename = "n")]
    pub desired: i32,
    #[serde(rename = "was")]
    pub idle_before: ServiceSnapshot,
    /// The task definition the live side ran at the start: the old side's key in the hooks'
    /// weight maps (`hooks::revision_key`). Empty in a deployment an older Gantry started.
    #[serde(rename = "ltd", default, skip_serializing_if = "String::is_empty")]
    pub live_task_definition: String,
    pub plan: TrafficPlan,
    #[serde(rename = "tm")]
    pub timing: Timing,
    #[serde(rename = "ph")]
    pub phase: Phase,
    /// Epoch milliseconds when the deployment started.
    #[serde(rename = "t0")]
    pub started_ms: i64,
    /// How many times the deployment was handed to a new invocation: a token whose number is
    /// behind the deployment record's belongs to an invocation that was overtaken.
    #[serde(rename = "q", default)]
    pub seq: u32,
    /// The canary judge's state (`UserParameters.analysis`), carried from check to check.
    #[serde(rename = "an", default, skip_serializing_if = "StepState::is_empty")]
    pub judged: StepState,
    /// Whether the new side is tested before production moves (a test listener, or hooks at
    /// the testing stages): the deployment then passes `Phase::Testing`. Fixed at the start.
    #[serde(rename = "tt", default, skip_serializing_if = "std::ops::Not::not")]
    pub tests: bool,
    /// The lifecycle hook being run, if any: nothing moves on until it passed.
    #[serde(rename = "hk", default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookRun>,
    /// Each side's auto scaling `SuspendedState` before the deployment, put back at the end.
    /// Fixed at the start: a token cannot change what is restored.
    #[serde(rename = "as", default, skip_serializing_if = "SavedScaling::is_empty")]
    pub scaling: SavedScaling,
}

/// Why a continuation token could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the continuation token is not one Gantry wrote ({reason})")]
    Unreadable { reason: String },
    #[error("the continuation token was written by another version of Gantry (format {found}, this one reads {TOKEN_VERSION})")]
    Version { found: u8 },
    #[error("the deployment state is {chars} characters, over CodePipeline's {MAX_TOKEN_CHARS}")]
    TooLong { chars: usize },
    /// The token's fixed part (sides, task definitions, counts, plan, timings) differs from
    /// what the deployment record kept at the start, or no deployment was recorded.
    #[error("the continuation token does not match the deployment Gantry recorded ({reason}): nothing was moved")]
    Tampered { reason: String },
}

impl Deployment {
    /// A deployment about to start: the idle side is being brought up.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: &str,
        live: Side,
        task_definition: &str,
        desired: i32,
        idle_before: ServiceSnapshot,
        plan: TrafficPlan,
        timing: Timing,
        now_ms: i64,
    ) -> Self {
        Self {
            version: TOKEN_VERSION,
            id: id.to_string(),
            live,
            task_definition: task_definition.to_string(),
            desired,
            idle_before,
            live_task_definition: String::new(),
            plan,
            timing,
            phase: Phase::Stabilizing { since_ms: now_ms },
            started_ms: now_ms,
            seq: 0,
            judged: StepState::default(),
            tests: false,
            hook: None,
            scaling: SavedScaling::default(),
        }
    }

    /// The side getting the new version.
    pub fn new_side(&self) -> Side {
        self.live.other()
    }

    /// The same deployment in another phase.
    pub fn at(&self, phase: Phase) -> Self {
        Self {
            phase,
            ..self.clone()
        }
    }

    /// The state the next invocation continues from.
    pub fn handed_over(&self) -> Self {
        Self {
            seq: self.seq + 1,
            ..self.clone()
        }
    }

    /// Checks a token's deployment against the one recorded at the start (kept server-side):
    /// everything fixed at the start must be the same; only the phase, the hand-over number
    /// what the canary judge carries (`judged`) and the lifecycle hook being run move on.
    pub fn matches_start(&self, start: &Deployment) -> Result<(), TokenError> {
        let fixed = |d: &Deployment| Deployment {
            phase: start.phase,
            seq: 0,
            judged: start.judged.clone(),
            hook: start.hook.clone(),
            ..d.clone()
        };
        if fixed(self) != fixed(start) {
            return Err(TokenError::Tampered {
                reason: "its fixed part differs from the record's".into(),
            });
        }
        Ok(())
    }

    /// Checks a token (`token`, read as `self`) against the last one the shifter handed over
    /// (`last`, kept server-side): the whole state, phase and judge's tally included, must be
    /// the one handed over. A token behind the last hand-over is an overtaken invocation's
    /// (the turn says so); `None` is a deployment handed over by a Gantry that kept no digest.
    pub fn check_handed_over(
        &self,
        token: &str,
        last: Option<&crate::traffic::HandOver>,
    ) -> Result<(), TokenError> {
        let Some(last) = last else {
            return Ok(());
        };
        let tampered = |reason: &str| {
            Err(TokenError::Tampered {
                reason: reason.into(),
            })
        };
        match self.seq.cmp(&last.seq) {
            std::cmp::Ordering::Less => Ok(()),
            std::cmp::Ordering::Greater => tampered("no such hand-over was made"),
            std::cmp::Ordering::Equal
                if crate::traffic::HandOver::of(self.seq, token).digest == last.digest =>
            {
                Ok(())
            }
            std::cmp::Ordering::Equal => tampered("it is not the token Gantry handed over"),
        }
    }

    /// The continuation token: this state as compact JSON, within CodePipeline's limit.
    pub fn to_token(&self) -> Result<String, TokenError> {
        let token = serde_json::to_string(self).map_err(|e| TokenError::Unreadable {
            reason: e.to_string(),
        })?;
        let chars = token.chars().count();
        if chars > MAX_TOKEN_CHARS {
            return Err(TokenError::TooLong { chars });
        }
        Ok(token)
    }

    /// Reads a continuation token.
    pub fn from_token(token: &str) -> Result<Self, TokenError> {
        #[derive(Deserialize)]
        struct Versioned {
            v: u8,
        }
        let versioned: Versioned =
            serde_json::from_str(token).map_err(|e| TokenError::Unreadable {
                reason: e.to_string(),
            })?;
        if versioned.v != TOKEN_VERSION {
            return Err(TokenError::Version { found: versioned.v });
        }
        serde_json::from_str(token).map_err(|e| TokenError::Unreadable {
            reason: e.to_string(),
        })
    }
}

/// Where a deployment stands between two checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "p")]
pub enum Phase {
    /// The idle service is rolling out the new task definition; it takes no traffic yet.
    #[serde(rename = "r")]
    Stabilizing {
        #[serde(rename = "t")]
        since_ms: i64,
    },
    /// The plan's step `step` is in force since `since_ms`.
    #[serde(rename = "s")]
    Shifting {
        #[serde(rename = "k")]
        step: usize,
        #[serde(rename = "t")]
        since_ms: i64,
    },
    /// The new side is ready and takes test traffic; production is still all on the live
    /// side until the testing stages' hooks passed.
    #[serde(rename = "x")]
    Testing {
        #[serde(rename = "t")]
        since_ms: i64,
    },
    /// All traffic is on the new version; the old one keeps running (so a rollback is instant)
    /// until `since_ms` plus the scale-down wait.
    #[serde(rename = "w")]
    Retiring {
        #[serde(rename = "t")]
        since_ms: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::setup::plan::Strategy;

    #[test]
    fn only_the_token_handed_over_resumes_the_deployment() {
        use crate::traffic::HandOver;
        let handed = r#"{"v":1,"q":3,"ph":"x"}"#;
        let d = |seq: u32| Deployment {
            seq,
            ..deployment("shop", "j")
        };
        let last = HandOver::of(3, handed);
        assert_eq!(d(3).check_handed_over(handed, Some(&last)), Ok(()));
        // Same number, another state (a phase or judge's tally edited): refused.
        let edited = r#"{"v":1,"q":3,"ph":"y"}"#;
        assert!(matches!(
            d(3).check_handed_over(edited, Some(&last)),
            Err(TokenError::Tampered { .. })
        ));
        // A number never handed over: refused. An older one: the turn decides (overtaken).
        assert!(d(4).check_handed_over(edited, Some(&last)).is_err());
        assert_eq!(d(2).check_handed_over(edited, Some(&last)), Ok(()));
        assert_eq!(d(3).check_handed_over(edited, None), Ok(()));
    }

    fn deployment(family: &str, id: &str) -> Deployment {
        let arn = |rev: u32| {
            format!("arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/{family}:{rev}")
        };
        Deployment::new(
            id,
            Side::Blue,
            &arn(1_000_000),
            3,
            ServiceSnapshot {
                task_definition: arn(999_999),
                desired: 0,
            },
            TrafficPlan::new(Strategy::Linear {
                step_percent: 1,
                interval_seconds: 86_400,
            }),
            Timing {
                check_seconds: 3600,
                scale_down_after_seconds: 172_800,
                ready_timeout_seconds: 86_400,
            },
            4_102_444_800_000,
        )
        .at(Phase::Shifting {
            step: 98,
            since_ms: 4_102_444_800_000,
        })
        .handed_over()
    }

    #[test]
    fn a_token_whose_rollback_target_was_changed_does_not_match_the_record() {
        let start = deployment("shop", "j");
        let later = start.at(Phase::Shifting {
            step: 1,
            since_ms: 5,
        });
        assert_eq!(later.handed_over().matches_start(&start), Ok(()));
        let mut forged = later.clone();
        forged.idle_before.task_definition =
            "arn:aws:ecs:us-east-1:1:task-definition/evil:1".into();
        assert!(matches!(
            forged.matches_start(&start),
            Err(TokenError::Tampered { .. })
        ));
    }

    #[test]
    fn the_token_round_trips() {
        let d = deployment("shop", "11111111-abcd-1111-abcd-111111abcdef");
        let token = d.to_token().unwrap();
        assert_eq!(Deployment::from_token(&token).unwrap(), d);
    }

    #[test]
    fn the_longest_token_fits_codepipelines_limit() {
        // ECS allows task definition families of 255 characters: two such ARNs, the longest
        // plan (1% steps), the furthest step and the largest timings.
        let d = deployment(&"f".repeat(255), &"j".repeat(64));
        let token = d.to_token().unwrap();
        assert!(token.len() <= MAX_TOKEN_CHARS, "{} chars", token.len());
    }

    #[test]
    fn the_longest_token_fits_with_a_hook_in_progress_and_both_sides_scaling() {
        use crate::traffic::phases::scaling::{SavedScaling, SuspendedState};
        use crate::traffic::setup::hooks::{HookRun, LifecycleStage, MAX_DETAILS_CHARS};
        let mut d = deployment(&"f".repeat(255), &"j".repeat(64));
        let state = SuspendedState {
            dynamic_scaling_in: true,
            dynamic_scaling_out: true,
            scheduled_scaling: true,
        };
        d.scaling = SavedScaling {
            blue: Some(state),
            green: Some(state),
        };
        d.tests = true;
        // hookDetails at the limit, every character one JSON escapes (so each counts twice).
        d.hook = Some(HookRun {
            stage: LifecycleStage::PostProductionTrafficShift,
            index: 19,
            calls: u16::MAX,
            due_ms: 4_102_444_800_000,
            since_ms: 4_102_444_800_000,
            details: Some("\"".repeat(MAX_DETAILS_CHARS / 2)),
        });
        let token = d.to_token().unwrap();
        assert!(token.len() <= MAX_TOKEN_CHARS, "{} chars", token.len());
    }

    #[test]
    fn a_typical_token_is_small() {
        let token = deployment("shop", "11111111-abcd-1111-abcd-111111abcdef")
            .to_token()
            .unwrap();
        assert!(token.len() < 400, "{} chars: {token}", token.len());
    }

    #[test]
    fn foreign_and_future_tokens_are_refused() {
        assert!(matches!(
            Deployment::from_token("A continuation token if continuing job"),
            Err(TokenError::Unreadable { .. })
        ));
        let mut v: serde_json::Value =
            serde_json::from_str(&deployment("shop", "j").to_token().unwrap()).unwrap();
        v["v"] = serde_json::json!(2);
        assert_eq!(
            Deployment::from_token(&v.to_string()),
            Err(TokenError::Version { found: 2 })
        );
    }
}
