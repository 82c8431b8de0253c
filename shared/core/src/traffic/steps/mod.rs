//! What the flow's steps apply around a decision: whose turn it is (`turn`), the Slack
//! progress message and job details (`progress`, `report`), and retries that must not give up.

pub mod progress;
pub mod report;
pub mod retry;
pub mod turn;
