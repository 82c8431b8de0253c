//! Manual approvals decided in Slack, as plain data: the approval record and its states, who may
//! decide (`authorize`), the request message (Block Kit), Slack's interactivity payload, and the
//! CodePipeline events that open and close an approval.
//!
//! The feature's shape: plain data and pure decisions (`authorize`, `claim`, `message`,
//! `events`, `interaction`, `pipeline`); its ports (`ports`); its flows, generic over the
//! ports (`flow` holds `Approvals` and the event dispatch): `request` (an approval started:
//! post the request), `click` (an Approve / Reject click is decided there), `close` (ended
//! outside Slack), `deploy_controls` (the traffic shifter's Promote / Roll back buttons).
//! In-memory fakes of every port, for the unit tests, are in `testing`.

pub mod authorize;
pub mod change;
pub mod claim;
pub mod click;
pub mod close;
pub mod deploy_controls;
pub mod events;
pub mod flow;
pub mod interaction;
pub mod message;
pub mod pipeline;
pub mod ports;
pub mod request;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::config::approvers::{ApproverRules, StageApprovers};
pub use authorize::{
    author_lookup, authorize, owners_plan, Act, AuthorLookup, ChangeOwners, Clicker, Denial,
    OwnersPlan, Verdict,
};
pub use change::{change_since, Provenance, PushedChange, StageSuccesses};
pub use click::ClickReply;
pub use events::{ActionFinished, ApprovalEvent, ApprovalNotice};
pub use flow::{ApprovalPorts, Approvals};
pub use interaction::{Button, Interaction, InteractionError};
pub use message::{render_closed, render_request};
pub use pipeline::{
    commit_of, ActionOutcome, ApprovalCallError, ApprovalSettings, WaitingApproval,
};
pub use request::RequestError;

use crate::slack::PostedMessage;
use sha2::{Digest, Sha256};

/// CodePipeline expires a manual approval seven days after it starts.
pub const APPROVAL_LIFETIME_SECONDS: i64 = 7 * 24 * 3600;

/// CodePipeline's limit on `PutApprovalResult`'s summary.
pub const MAX_SUMMARY_CHARS: usize = 512;

/// The commit an execution runs, as far as the approval message shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitSummary {
    pub id: String,
    /// The first line of the commit message.
    pub message: Option<String>,
    /// The Git author: username, name or email, as the webhook recorded it.
    pub author: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// The `PUSHER` variable, shown when the stage has no four-eyes rule. Whoever starts an
    /// execution may set it, so four-eyes reads the webhook's record instead (`Provenance`).
    pub pusher: Option<String>,
    /// The `COMMIT_AUTHORS` variable, kept for the audit trail only, as `pusher`.
    pub authors: Vec<String>,
}

impl CommitSummary {
    /// The first seven characters of a Git SHA, as Git shows it; other revisions unchanged.
    pub fn short_id(&self) -> &str {
        let looks_like_sha = self.id.len() >= 12 && self.id.bytes().all(|b| b.is_ascii_hexdigit());
        if looks_like_sha {
            &self.id[..7]
        } else {
            &self.id
        }
    }
}

/// How an approval was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Rejected,
}

impl Outcome {
    /// `PutApprovalResult`'s status value.
    pub fn as_status(self) -> &'static str {
        match self {
            Outcome::Approved => "Approved",
            Outcome::Rejected => "Rejected",
        }
    }
}

/// A Slack user who decided (or is deciding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub id: String,
    /// The Slack username, for the summary CodePipeline keeps.
    pub name: String,
}

/// A decision made in Slack: the audit trail keeps all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDecision {
    pub outcome: Outcome,
    pub by: Approver,
    pub at: i64,
    pub reason: Option<String>,
}

impl ApprovalDecision {
    /// The summary given to `PutApprovalResult`: `Approved by @jane via Slack`, with the reason
    /// typed (for a rejection, or a comment on an approval), within CodePipeline's 512 characters.
    pub fn summary(&self) -> String {
        let verb = match self.outcome {
            Outcome::Approved => "Approved",
            Outcome::Rejected => "Rejected",
        };
        let mut text = format!("{verb} by @{} via Slack", self.by.name);
        if let Some(reason) = self
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            text.push_str(": ");
            text.push_str(reason);
        }
        crate::text::truncate(&text, MAX_SUMMARY_CHARS)
    }
}

/// How an approval ended without a decision in Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closure {
    /// Decided in the console, the CLI or another tool. `outcome` when known.
    DecidedElsewhere {
        outcome: Option<Outcome>,
        summary: Option<String>,
        at: i64,
    },
    /// Nobody decided within the approval's lifetime.
    Expired { at: i64 },
    /// A newer approval of the same action replaced it, or the execution stopped.
    Superseded { at: i64 },
    /// CodePipeline refused the token (`InvalidApprovalTokenException`) and could not say more:
    /// the approval expired, was answered elsewhere, or its execution stopped.
    TokenRefused { at: i64 },
}

/// Where an approval stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for someone to decide.
    Waiting,
    /// A click is being applied (a lease, so a crash mid-way does not block the approval).
    Deciding { by: Approver, until: i64 },
    /// Decided in Slack.
    Decided(ApprovalDecision),
    /// Ended otherwise.
    Closed(Closure),
}

impl ApprovalState {
    /// True while nobody has decided and nothing has ended it.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            ApprovalState::Waiting | ApprovalState::Deciding { .. }
        )
    }
}

/// One manual approval Gantry asked about in Slack: the state table's `APPROVAL#{id}` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// Opaque; the only thing the Slack buttons carry.
    pub id: String,
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    /// The approval token. It stays in the table: never in Slack, never in a log.
    pub token: String,
    pub execution_id: String,
    pub requested_at: i64,
    /// When CodePipeline expires the approval.
    pub expires_at: i64,
    /// The approval action's custom message.
    pub custom_data: Option<String>,
    /// The approval action's "URL for review".
    pub review_url: Option<String>,
    pub commit: Option<CommitSummary>,
    /// Under four-eyes, where the execution came from and the change it carries, from the
    /// webhook's record, as found when the request was posted (`None`: not looked up, or the
    /// lookup failed; the click looks again).
    pub change: Option<Provenance>,
    /// Who the change belongs to in Slack, once resolved under four-eyes (only `Slack` is
    /// kept in the table: anything else is asked again at the click).
    pub owners: Option<ChangeOwners>,
    /// The request message, once posted.
    pub message: Option<PostedMessage>,
    pub state: ApprovalState,
}

/// The record id of an approval: a digest of what identifies it, so the EventBridge event and
/// the SNS notification of one approval find the same record, and nothing in the id can be
/// turned back into the token.
pub fn approval_id(pipeline: &str, stage: &str, action: &str, token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"gantry approval\0")
        .chain_update(pipeline.as_bytes())
        .chain_update([0u8])
        .chain_update(stage.as_bytes())
        .chain_update([0u8])
        .chain_update(action.as_bytes())
        .chain_update([0u8])
        .chain_update(token.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(outcome: Outcome, reason: Option<&str>) -> ApprovalDecision {
        ApprovalDecision {
            outcome,
            by: Approver {
                id: "U0JANE".into(),
                name: "jane".into(),
            },
            at: 0,
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn the_summary_names_the_approver_and_the_reason() {
        assert_eq!(
            decision(Outcome::Approved, None).summary(),
            "Approved by @jane via Slack"
        );
        assert_eq!(
            decision(Outcome::Rejected, Some(" p99 is up 40% ")).summary(),
            "Rejected by @jane via Slack: p99 is up 40%"
        );
        assert_eq!(
            decision(Outcome::Rejected, Some("  ")).summary(),
            "Rejected by @jane via Slack"
        );
    }

    #[test]
    fn the_summary_fits_codepipelines_limit() {
        let long = "x".repeat(2000);
        let s = decision(Outcome::Rejected, Some(&long)).summary();
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn the_id_is_stable_opaque_and_distinct() {
        let token = "0f8b8a31-7c1e-4b7e-9d7e-2d3c4b5a6f70";
        let id = approval_id("shop", "Prod", "Approve", token);
        assert_eq!(id, approval_id("shop", "Prod", "Approve", token));
        assert_eq!(id.len(), 32);
        assert!(!id.contains("0f8b8a31"));
        assert_ne!(id, approval_id("shop", "Prod", "Approve", "another-token"));
        assert_ne!(id, approval_id("shop", "Pro", "dApprove", token));
    }

    #[test]
    fn short_ids_are_for_shas_only() {
        let c = |id: &str| CommitSummary {
            id: id.into(),
            ..CommitSummary::default()
        };
        assert_eq!(
            c("6113728f27ae82c7b1a177c8d03f9e96e0adf246").short_id(),
            "6113728"
        );
        assert_eq!(c("v1.2.3").short_id(), "v1.2.3");
    }
}
