//! Day-2 operations from Slack: the `/gantry` slash command (`status`, `deploy`, `rollback`,
//! `restart`, `help`), sent to the approval function's URL and signed as its clicks are.
//!
//! The feature's shape: what the command asks (`command`), who may operate what (`services`,
//! whose `ServiceCatalog` port the static configuration or the service registry satisfies),
//! the status projection the notifier keeps (`board`), whose change a deploy carries
//! (`deploy`), the work left for after Slack's three
//! seconds (`task`), the ports (`ports`) and the flow (`flow`). In-memory fakes: `testing`.

pub mod board;
pub mod command;
pub mod confirm;
pub mod deploy;
pub mod flow;
pub mod ports;
pub mod restart;
pub mod services;
pub mod task;
#[cfg(test)]
pub(crate) mod testing;

pub use board::{project, shift_row, BoardRun, RowKind, StageState};
pub use command::{is_slash_command, parse_text, Operation, SlashCommand};
pub use flow::{OperatePorts, Operations};
pub use ports::{
    Confirmations, DeferError, Later, RollbackError, RollbackTarget, StageRollbacks, StatusBoard,
};
pub use restart::{EcsDeployment, EcsService, RestartError, Restarts};
pub use services::{OperatedService, Operators, ServiceCatalog, StaticServices};
pub use task::Task;
