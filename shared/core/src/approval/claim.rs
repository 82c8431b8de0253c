//! Pure decisions of a click on an approval: whether the request is open to it (the claim and
//! its lease), what CodePipeline's refusal of `PutApprovalResult` means for the request, and
//! what the clicker is told when nothing changed.

use super::{ActionOutcome, ApprovalCallError, ApprovalState, Closure, Outcome};

/// Where a request stands for one click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickGate {
    /// Waiting, or its decider's lease ran out (it crashed): this click may claim it.
    Open,
    /// Someone else is deciding it right now.
    InFlight { by: String },
    /// This user's own click (or a Slack retry) is deciding it: say nothing more.
    Quiet,
    /// Decided or closed: bring the message up to date; `tell` unless a Slack retry.
    Over { tell: bool },
}

/// Decides whether a click by `clicker` may try to claim a request in `state`.
pub fn gate(state: &ApprovalState, clicker: &str, retry: bool, now: i64) -> ClickGate {
    match state {
        ApprovalState::Waiting => ClickGate::Open,
        ApprovalState::Deciding { until, .. } if *until < now => ClickGate::Open,
        ApprovalState::Deciding { by, .. } if !retry && by.id != clicker => {
            ClickGate::InFlight { by: by.id.clone() }
        }
        ApprovalState::Deciding { .. } => ClickGate::Quiet,
        ApprovalState::Decided(_) | ApprovalState::Closed(_) => ClickGate::Over { tell: !retry },
    }
}

/// What a refused `PutApprovalResult` means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickRefusal {
    /// The request is over: record and show this.
    Closed(Closure),
    /// CodePipeline could not be reached: nothing was decided; release the claim.
    TryAgain,
}

/// What CodePipeline says of an approval whose `PutApprovalResult` was refused: read only
/// for a refusal (`AlreadyDecided`, `TokenInvalid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedAs {
    /// How this execution's approval action last ended, if CodePipeline could say.
    pub last: Option<ActionOutcome>,
    /// Another approval of the action (a newer attempt) waits now.
    pub newer_waiting: bool,
}

/// Maps CodePipeline's refusal to what the request shows, as what it is: decided outside
/// Slack (with the outcome CodePipeline keeps), expired, replaced by a newer request, or, when
/// CodePipeline can say no more, a token it no longer accepts. `expires_at` is the expiry.
pub fn refusal(
    error: &ApprovalCallError,
    seen: RefusedAs,
    expires_at: i64,
    now: i64,
) -> ClickRefusal {
    let decided = seen.last.filter(|l| l.outcome.is_some());
    let elsewhere = |last: Option<ActionOutcome>| {
        ClickRefusal::Closed(Closure::DecidedElsewhere {
            outcome: last.as_ref().and_then(|l| l.outcome),
            summary: last.and_then(|l| l.summary),
            at: now,
        })
    };
    match error {
        ApprovalCallError::AlreadyDecided => elsewhere(decided),
        // A minute's slack: CodePipeline expires the token when it notices (and shows the
        // expired action as failed, which is no rejection).
        ApprovalCallError::TokenInvalid if now >= expires_at - 60 => {
            ClickRefusal::Closed(Closure::Expired { at: now })
        }
        // Answered elsewhere (the console, the CLI, another tool): CodePipeline says how.
        ApprovalCallError::TokenInvalid if decided.is_some() => elsewhere(decided),
        ApprovalCallError::TokenInvalid if seen.newer_waiting => {
            ClickRefusal::Closed(Closure::Superseded { at: now })
        }
        ApprovalCallError::TokenInvalid => ClickRefusal::Closed(Closure::TokenRefused { at: now }),
        ApprovalCallError::NotFound { .. } => ClickRefusal::Closed(Closure::Superseded { at: now }),
        ApprovalCallError::Unavailable { .. } => ClickRefusal::TryAgain,
    }
}

/// Why a request that is over changed nothing, as the clicker reads it.
pub fn unchanged_because(state: &ApprovalState) -> String {
    let verb = |o: Option<Outcome>| match o {
        Some(Outcome::Approved) => "approved",
        Some(Outcome::Rejected) => "rejected",
        None => "decided",
    };
    match state {
        ApprovalState::Decided(d) => format!(
            "Already {} by <@{}>: nothing was changed.",
            verb(Some(d.outcome)),
            d.by.id
        ),
        ApprovalState::Closed(Closure::DecidedElsewhere { outcome, .. }) => {
            format!("Already {} outside Slack: nothing was changed.", verb(*outcome))
        }
        ApprovalState::Closed(Closure::Expired { .. }) => {
            "This approval expired before anyone decided: nothing was changed.".into()
        }
        ApprovalState::Closed(Closure::Superseded { .. }) => {
            "This approval was superseded (a newer request replaced it, or the execution stopped): nothing was changed.".into()
        }
        ApprovalState::Closed(Closure::TokenRefused { .. }) => {
            "CodePipeline no longer accepts this approval: it expired, was answered outside Slack, or its execution stopped. Nothing was changed.".into()
        }
        ApprovalState::Waiting | ApprovalState::Deciding { .. } => "Nothing was changed.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{ApprovalDecision, Approver};

    fn deciding(by: &str, until: i64) -> ApprovalState {
        ApprovalState::Deciding {
            by: Approver {
                id: by.into(),
                name: by.into(),
            },
            until,
        }
    }

    #[test]
    fn a_waiting_request_is_open_to_any_click() {
        assert_eq!(
            gate(&ApprovalState::Waiting, "U1", false, 100),
            ClickGate::Open
        );
        assert_eq!(
            gate(&ApprovalState::Waiting, "U1", true, 100),
            ClickGate::Open
        );
    }

    #[test]
    fn a_lease_that_ran_out_may_be_taken_over() {
        assert_eq!(gate(&deciding("U2", 99), "U1", false, 100), ClickGate::Open);
    }

    #[test]
    fn someone_elses_click_in_flight_is_named() {
        assert_eq!(
            gate(&deciding("U2", 130), "U1", false, 100),
            ClickGate::InFlight { by: "U2".into() }
        );
    }

    #[test]
    fn ones_own_click_in_flight_or_a_slack_retry_stays_quiet() {
        assert_eq!(
            gate(&deciding("U1", 130), "U1", false, 100),
            ClickGate::Quiet
        );
        assert_eq!(
            gate(&deciding("U2", 130), "U1", true, 100),
            ClickGate::Quiet
        );
    }

    #[test]
    fn a_decided_or_closed_request_is_over_and_a_retry_says_nothing() {
        let decided = ApprovalState::Decided(ApprovalDecision {
            outcome: Outcome::Approved,
            by: Approver {
                id: "U2".into(),
                name: "b".into(),
            },
            at: 1,
            reason: None,
        });
        assert_eq!(
            gate(&decided, "U1", false, 100),
            ClickGate::Over { tell: true }
        );
        let closed = ApprovalState::Closed(Closure::Expired { at: 1 });
        assert_eq!(
            gate(&closed, "U1", true, 100),
            ClickGate::Over { tell: false }
        );
        assert_eq!(
            unchanged_because(&decided),
            "Already approved by <@U2>: nothing was changed."
        );
    }

    fn saw(outcome: Option<Outcome>, newer_waiting: bool) -> RefusedAs {
        RefusedAs {
            last: Some(ActionOutcome {
                outcome,
                summary: outcome.map(|_| "no".into()),
            }),
            newer_waiting,
        }
    }

    #[test]
    fn already_decided_shows_what_codepipeline_says_happened() {
        assert_eq!(
            refusal(
                &ApprovalCallError::AlreadyDecided,
                saw(Some(Outcome::Rejected), false),
                1000,
                10
            ),
            ClickRefusal::Closed(Closure::DecidedElsewhere {
                outcome: Some(Outcome::Rejected),
                summary: Some("no".into()),
                at: 10
            })
        );
        assert_eq!(
            refusal(
                &ApprovalCallError::AlreadyDecided,
                RefusedAs::default(),
                1000,
                10
            ),
            ClickRefusal::Closed(Closure::DecidedElsewhere {
                outcome: None,
                summary: None,
                at: 10
            })
        );
    }

    #[test]
    fn an_invalid_token_is_shown_as_what_codepipeline_says_it_is() {
        let invalid = ApprovalCallError::TokenInvalid;
        // Answered in the console: the outcome CodePipeline keeps.
        assert_eq!(
            refusal(&invalid, saw(Some(Outcome::Approved), false), 1000, 10),
            ClickRefusal::Closed(Closure::DecidedElsewhere {
                outcome: Some(Outcome::Approved),
                summary: Some("no".into()),
                at: 10
            })
        );
        // At the expiry CodePipeline shows the action failed: an expiry, not a rejection.
        assert_eq!(
            refusal(&invalid, saw(Some(Outcome::Rejected), false), 1000, 990),
            ClickRefusal::Closed(Closure::Expired { at: 990 })
        );
        // A newer attempt of the action waits: this one was replaced.
        assert_eq!(
            refusal(&invalid, saw(None, true), 1000, 10),
            ClickRefusal::Closed(Closure::Superseded { at: 10 })
        );
        assert_eq!(
            refusal(&invalid, saw(None, false), 1000, 950),
            ClickRefusal::Closed(Closure::Expired { at: 950 })
        );
        // Nothing more known: not called superseded, but what it is.
        assert_eq!(
            refusal(&invalid, RefusedAs::default(), 1000, 10),
            ClickRefusal::Closed(Closure::TokenRefused { at: 10 })
        );
        assert!(
            unchanged_because(&ApprovalState::Closed(Closure::TokenRefused { at: 10 }))
                .contains("no longer accepts this approval")
        );
        let gone = ApprovalCallError::NotFound {
            what: "pipeline shop".into(),
        };
        assert_eq!(
            refusal(&gone, RefusedAs::default(), 1000, 10),
            ClickRefusal::Closed(Closure::Superseded { at: 10 })
        );
    }

    #[test]
    fn codepipeline_unavailable_decides_nothing() {
        let down = ApprovalCallError::Unavailable {
            operation: "PutApprovalResult",
            reason: "throttled".into(),
        };
        assert_eq!(
            refusal(&down, RefusedAs::default(), 1000, 10),
            ClickRefusal::TryAgain
        );
    }
}
