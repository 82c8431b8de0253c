//! Gantry's pure core: every decision as a function over plain data, every outside system as a
//! port (a trait in domain words), and each feature's flow (fetch → decide → apply) generic over
//! its ports. Cargo keeps it pure: this crate depends on no AWS SDK, HTTP client or Lambda
//! runtime (`tests/architecture` checks it), so all of it runs in a unit test with nothing
//! started. The adapters (`gantry_adapters`) implement the ports; the functions wire them.
//!
//! # Map
//! Six features, each a folder of the same shape: its model and pure decisions, its ports
//! (`ports`), its flow generic over them (`flow`, with its steps in `flow/`), and in-memory
//! fakes of its ports for unit tests (`testing`):
//! - [`ingest`]: a Git provider's push → verified → routed → de-duplicated → executions started
//!   (the webhook). Where a push is routed: `ingest::routing::route`; payloads in
//!   `ingest::push`.
//! - [`notify`]: CodePipeline events → one live Slack message per execution, SNS notices (the
//!   notifier).
//! - [`approval`]: an approval action → a Slack request; a click → authorized → decided once
//!   (the approval function). Where an Approve click is decided: `approval::click`.
//! - [`traffic`]: blue/green on ECS behind an ALB (the traffic shifter). Where a canary step is
//!   decided: `traffic::phases::phase::next_step`; every reason a deployment rolls back:
//!   `traffic::RollbackReason`; the invocation's flow: `traffic::flow`.
//!
//! - [`delivery`]: DORA's four keys per pipeline and stage, from the pushes and stage runs
//!   Gantry records; emitted once each as CloudWatch EMF by the notifier, and the weekly post.
//! - [`operate`]: the `/gantry` slash command: status, deploy, rollback, restart (the approval
//!   function).
//!
//! And, not features of that shape:
//! - [`analysis`]: a pure library, the canary judged against the live side (statistics,
//!   verdicts, what a verdict does to a step), used by `traffic`.
//! - [`registry`]: the service registry: one Parameter Store document per service, its index in
//!   the state table, merged with the static configuration (a port and a cached view, no flow).
//!
//! Shared leaves, imported by the features and importing none of them (`config` excepted: it
//! parses a feature's settings into that feature's own types):
//! - [`config`]: every environment variable, read and validated once.
//! - [`signature`]: the HMAC signatures of GitHub, GitLab and Slack, checked in constant time.
//! - [`secrets`]: the secret's keys, redacted in logs.
//! - [`slack`]: Slack's words (`PostedMessage`, `SlackError`) and the `Chat` port.
//! - [`store`]: the error every record port returns.
//! - [`schema`]: the version every stored record carries, and when a record is too new to read.
//! - [`clock`]: the one wall clock and timestamp parsing.
//! - [`codepipeline_limits`]: the longest names and ids CodePipeline's events carry.
//! - [`text`]: `truncate` and such.

pub mod analysis;
pub mod approval;
pub mod clock;
pub mod codepipeline_limits;
pub mod config;
pub mod delivery;
pub mod ingest;
pub mod notify;
pub mod operate;
pub mod registry;
pub mod schema;
pub mod secrets;
pub mod signature;
pub mod slack;
pub mod store;
pub mod text;
pub mod traffic;
