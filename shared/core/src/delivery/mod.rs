//! Delivery metrics: DORA's four keys (deployments, lead time, failed deployments, time to
//! restore) per pipeline and stage, computed exactly from facts Gantry already records.
//!
//! - [`model`]: the facts (a stage run; a push is the webhook's [`StartedPush`]) and the figures.
//! - [`history`]: the pure derivation: facts in any order, any number of times → deployments,
//!   restorations and figures over a window (p50/p90 by nearest rank).
//! - [`emf`]: the CloudWatch Embedded Metric Format line of one figure.
//! - [`ports`]: where facts are kept and figures claimed once (the state table in production).
//! - [`flow`]: the notifier's part (record a stage's end, emit each figure once) and
//!   [`flow::service_figures`], what `/gantry stats` reads.
//! - [`report`]: the Slack messages: `/gantry stats` ([`report::stats_message`]) and the weekly
//!   post ([`report::weekly_message`], naming the slowest and the failed deployments).
//! - [`weekly`]: the weekly post on EventBridge's schedule, once per pipeline and week.
//!
//! Definitions, sources and limits: `docs/metrics.md`.
//!
//! [`StartedPush`]: crate::ingest::StartedPush

pub mod emf;
pub mod flow;
pub mod history;
pub mod model;
pub mod ports;
pub mod report;
pub mod weekly;

#[cfg(test)]
pub(crate) mod testing;

pub use flow::{measure, observe, service_figures, ServiceFigures};
pub use history::{derive, figures, CountedDeployment, Derived, Restoration};
pub use model::{Figures, Metric, Period, RunKind, RunOutcome, StageFigures, StageRun};
pub use ports::{DeliveryHistory, FigureClaims, Permalinks, WeeklyClaims};
pub use report::{highlights, stats_message, weekly_message, Highlights};
pub use weekly::{weekly_post, WeeklyError, WeeklyOutcome, WeeklyTick};
