//! Gantry's pure core: every decision as a function over plain data, every outside system as a
//! port (a trait in domain words), and each feature's flow (fetch → decide → apply) generic over
//! its ports. Cargo keeps it pure: this crate depends on no AWS SDK, HTTP client or Lambda
//! runtime (`tests/architecture` checks it), so all of it runs in a unit test with nothing
//! started. The adapters (`gantry_adapters`) implement the ports; the functions wire them.
//!
//! # Map
//! The four features, each a folder with its model, decisions, ports and flow:
//! - [`ingest`]: a Git provider's push → verified → routed → de-duplicated → executions started
//!   (the webhook). Routing rules live in [`routing`], payloads in [`push`], signatures in
//!   [`signature`].
//! - [`notify`]: CodePipeline events → one live Slack message per execution, SNS notices (the
//!   notifier).
//! - [`approval`]: an approval action → a Slack request; a click → authorized → decided once
//!   (the approval function). Where an Approve click is decided: `approval::click`.
//! - [`traffic`]: blue/green on ECS behind an ALB (the traffic shifter). Where a canary step is
//!   decided: `traffic::phase::next_step`; the invocation's flow: `traffic::flow`.
//!
//! - [`operate`]: the `/gantry` slash command: status, deploy, rollback, restart (the approval
//!   function).
//!
//! - [`analysis`]: the canary judged against the live side (statistics, verdicts, what a
//!   verdict does to a step), used by `traffic`.
//!
//! Shared leaves, imported by the features and importing none of them:
//! - [`config`]: every environment variable, read and validated once.
//! - [`secrets`]: the secret's keys, redacted in logs.
//! - [`slack`]: Slack's words (`PostedMessage`, `SlackError`) and the `Chat` port.
//! - [`store`]: the error every record port returns.
//! - [`clock`]: the one wall clock and timestamp parsing.
//! - [`codepipeline_limits`]: the longest names and ids CodePipeline's events carry.
//! - [`text`]: `truncate` and such.

pub mod analysis;
pub mod approval;
pub mod clock;
pub mod codepipeline_limits;
pub mod config;
pub mod ingest;
pub mod notify;
pub mod operate;
pub mod push;
pub mod routing;
pub mod secrets;
pub mod signature;
pub mod slack;
pub mod store;
pub mod text;
pub mod traffic;
