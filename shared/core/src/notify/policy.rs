//! What each sink tells at each verbosity (`GANTRY_NOTIFY`).

use super::execution::{Execution, Notice, Scope};
use super::status::Status;
use crate::config::Verbosity;

/// Whether SNS publishes `notice`:
/// `pipeline`: the execution's transitions; `stages`: and its stages', and failed actions;
/// `actions`: every transition; `failures`: failures only.
pub fn publishes(verbosity: Verbosity, notice: &Notice) -> bool {
    let failed = notice.status == Status::Failed;
    match verbosity {
        Verbosity::Pipeline => notice.scope == Scope::Pipeline,
        Verbosity::Stages => !matches!(notice.scope, Scope::Action { .. }) || failed,
        Verbosity::Actions => true,
        Verbosity::Failures => failed,
    }
}

/// Whether `notice` gets a reply in the Slack thread: every failed action, at any verbosity.
pub fn replies(notice: &Notice) -> bool {
    notice.status == Status::Failed && matches!(notice.scope, Scope::Action { .. })
}

/// Whether the execution has a Slack message at all (`failures`: only once something failed).
pub fn posts(verbosity: Verbosity, execution: &Execution) -> bool {
    verbosity != Verbosity::Failures || execution.has_failure()
}
