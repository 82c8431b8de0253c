//! Where a deployment stands: its state (`Deployment`, the continuation token), the state
//! machine (`Phase`, `next_step`), its record in the table and the sweep of orphaned ones.

pub mod deployment;
pub mod judged;
pub mod phase;
pub mod record;
pub mod scaling;
pub mod sweep;
