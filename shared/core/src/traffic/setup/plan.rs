//! The traffic plan: which share of traffic the new version takes, step by step, and how long
//! each step is held. Named and shaped like CodeDeploy's ECS deployment configurations.

use serde::{Deserialize, Serialize};

/// How traffic moves to the new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Strategy {
    /// Everything at once (`CodeDeployDefault.ECSAllAtOnce`).
    #[serde(rename = "a")]
    AllAtOnce,
    /// `percent` first, held for `bake_seconds`, then the rest
    /// (`CodeDeployDefault.ECSCanary10Percent5Minutes`: percent 10, bake 300 s).
    #[serde(rename = "c")]
    Canary {
        #[serde(rename = "p")]
        percent: u8,
        #[serde(rename = "s")]
        bake_seconds: u32,
    },
    /// `step_percent` more every `interval_seconds` until all
    /// (`CodeDeployDefault.ECSLinear10PercentEvery1Minutes`: step 10, interval 60 s).
    #[serde(rename = "l")]
    Linear {
        #[serde(rename = "p")]
        step_percent: u8,
        #[serde(rename = "s")]
        interval_seconds: u32,
    },
}

impl Strategy {
    /// CodeDeploy's predefined ECS configurations, by name (with or without the
    /// `CodeDeployDefault.` prefix).
    pub fn preset(name: &str) -> Option<Strategy> {
        let name = name.strip_prefix("CodeDeployDefault.").unwrap_or(name);
        Some(match name {
            "ECSAllAtOnce" => Strategy::AllAtOnce,
            "ECSCanary10Percent5Minutes" => Strategy::Canary {
                percent: 10,
                bake_seconds: 5 * 60,
            },
            "ECSCanary10Percent15Minutes" => Strategy::Canary {
                percent: 10,
                bake_seconds: 15 * 60,
            },
            "ECSLinear10PercentEvery1Minutes" => Strategy::Linear {
                step_percent: 10,
                interval_seconds: 60,
            },
            "ECSLinear10PercentEvery3Minutes" => Strategy::Linear {
                step_percent: 10,
                interval_seconds: 3 * 60,
            },
            _ => return None,
        })
    }

    /// The names `preset` knows.
    pub const PRESETS: [&'static str; 5] = [
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
    ];
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::AllAtOnce => f.write_str("all at once"),
            Strategy::Canary {
                percent,
                bake_seconds,
            } => write!(
                f,
                "canary {percent}%, bake {}",
                duration_text(*bake_seconds as u64)
            ),
            Strategy::Linear {
                step_percent,
                interval_seconds,
            } => write!(
                f,
                "linear {step_percent}% every {}",
                duration_text(*interval_seconds as u64)
            ),
        }
    }
}

/// `90 s`, `5 min`, `1 h 30 min`: durations as people read them.
pub fn duration_text(seconds: u64) -> String {
    match seconds {
        s if s < 120 && s % 60 != 0 || s < 60 => format!("{s} s"),
        s if s < 3600 => {
            if s % 60 == 0 {
                format!("{} min", s / 60)
            } else {
                format!("{} min {} s", s / 60, s % 60)
            }
        }
        s => {
            let (h, m) = (s / 3600, (s % 3600) / 60);
            if m == 0 {
                format!("{h} h")
            } else {
                format!("{h} h {m} min")
            }
        }
    }
}

/// One step of a plan: the new version's share of traffic, and how long it is held before the
/// next step (the last step's hold is zero: what follows is the wait before scale-down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub percent: u8,
    pub hold_seconds: u32,
}

/// The steps a strategy takes. Kept as its strategy (compact in the continuation token) and
/// expanded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrafficPlan {
    pub strategy: Strategy,
}

impl TrafficPlan {
    pub fn new(strategy: Strategy) -> Self {
        Self { strategy }
    }

    /// The steps, in order; the last always sends 100% to the new version.
    pub fn steps(&self) -> Vec<Step> {
        let last = Step {
            percent: 100,
            hold_seconds: 0,
        };
        match self.strategy {
            Strategy::AllAtOnce => vec![last],
            Strategy::Canary {
                percent,
                bake_seconds,
            } => vec![
                Step {
                    percent,
                    hold_seconds: bake_seconds,
                },
                last,
            ],
            Strategy::Linear {
                step_percent,
                interval_seconds,
            } => {
                let step = step_percent.max(1);
                let mut steps: Vec<Step> = (1..)
                    .map(|k: u32| k * step as u32)
                    .take_while(|p| *p < 100)
                    .map(|p| Step {
                        percent: p as u8,
                        hold_seconds: interval_seconds,
                    })
                    .collect();
                steps.push(last);
                steps
            }
        }
    }

    /// The step at `index`, if the plan has one.
    pub fn step(&self, index: usize) -> Option<Step> {
        self.steps().get(index).copied()
    }

    /// The index of the last step (the one at 100%).
    pub fn last_index(&self) -> usize {
        self.steps().len() - 1
    }

    /// The index of the step that sends `percent` to the new version, if any.
    pub fn index_of(&self, percent: u8) -> Option<usize> {
        self.steps().iter().position(|s| s.percent == percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percents(strategy: Strategy) -> Vec<(u8, u32)> {
        TrafficPlan::new(strategy)
            .steps()
            .iter()
            .map(|s| (s.percent, s.hold_seconds))
            .collect()
    }

    #[test]
    fn canary_takes_its_share_bakes_then_takes_the_rest() {
        let plan = Strategy::preset("CodeDeployDefault.ECSCanary10Percent5Minutes").unwrap();
        assert_eq!(percents(plan), vec![(10, 300), (100, 0)]);
    }

    #[test]
    fn linear_moves_in_equal_steps_with_a_wait_between_each() {
        let plan = Strategy::preset("ECSLinear10PercentEvery1Minutes").unwrap();
        let steps = percents(plan);
        assert_eq!(steps.len(), 10);
        assert_eq!(steps[0], (10, 60));
        assert_eq!(steps[8], (90, 60));
        assert_eq!(steps[9], (100, 0));
    }

    #[test]
    fn linear_steps_that_do_not_divide_100_end_at_100() {
        let steps = percents(Strategy::Linear {
            step_percent: 30,
            interval_seconds: 2,
        });
        assert_eq!(steps, vec![(30, 2), (60, 2), (90, 2), (100, 0)]);
    }

    #[test]
    fn all_at_once_is_one_step() {
        assert_eq!(percents(Strategy::AllAtOnce), vec![(100, 0)]);
    }

    #[test]
    fn unknown_preset_is_none() {
        assert_eq!(
            Strategy::preset("CodeDeployDefault.LambdaCanary10Percent5Minutes"),
            None
        );
        for name in Strategy::PRESETS {
            assert!(Strategy::preset(name).is_some(), "{name}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(2), "2 s");
        assert_eq!(duration_text(90), "90 s");
        assert_eq!(duration_text(300), "5 min");
        assert_eq!(duration_text(5400), "1 h 30 min");
        assert_eq!(
            Strategy::preset("ECSCanary10Percent15Minutes")
                .unwrap()
                .to_string(),
            "canary 10%, bake 15 min"
        );
    }
}
