//! What is checked before and while traffic moves: the job is CodePipeline's own
//! (`confirm`), the pre-flight reads (`preflight`), target health, and the time left (`budget`).

pub mod budget;
pub mod confirm;
pub mod health;
pub mod preflight;
