//! Judging the new side against the live side (docs/analysis.md): from both target groups'
//! load-balancer metrics over the same windows, a verdict per window (Pass, Inconclusive, Fail),
//! and what the verdicts do to a traffic step. Pure: the shifter fetches the metrics and carries
//! the state.
//!
//! The shifter's loop, per check:
//! 1. `AnalysisConfig::from_json(&user_parameters["analysis"])` (refuse the job on `Err`);
//! 2. one `GetMetricData` with `metric_queries` (dimensions from `AlbDimensions::from_arns`) for
//!    both sides' series since the new side started taking traffic, `series_from_results`,
//!    `windows_from_series`, then `settled` (drop windows CloudWatch is still filling);
//! 3. `judge(&config, &state, &windows)` -> (new state, verdicts for the windows not judged before);
//! 4. `decide_step(&config, &state.bake, &verdicts, BakeTime::at(..))` -> Advance / Wait / RollBack / AskPerson;
//! 5. carry `JudgeState` in the continuation token (`state.start_step()` when a new step begins).
//!
//! docs/analysis.md explains the statistics.

pub mod bake;
pub mod binomial;
pub mod config;
pub mod judge;
pub mod metrics;
pub mod spending;
pub mod verdict;
pub mod window;

pub use bake::{decide_step, BakeTime, StepDecision};
pub use config::{AnalysisConfig, AnalysisConfigError, OnInconclusive};
pub use judge::{error_p_value, judge, settled, BakeTally, CriticalLook, JudgeState};
pub use metrics::{metric_queries, series_from_results, AlbDimensions, ArnError, MetricQuery};
pub use verdict::{CanaryVerdict, Evidence, Reason};
pub use window::{windows_from_series, SideSeries, SideStats, Window};
