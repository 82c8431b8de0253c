//! Whose change an approval releases: every push to the execution's ref since the stage last
//! succeeded, as the webhook recorded them. Approving execution C sends the stage everything
//! between the commit it last ran and C, so a push whose own execution never got there (it
//! failed, was rejected, expired or was superseded) is part of C's change: its pusher and
//! authors may not approve C. Once the stage runs C, the next change starts after C.

use crate::ingest::StartedPush;
use std::collections::BTreeSet;

/// The executions that recently succeeded in a stage (`ListPipelineExecutions` filtered by
/// `succeededInStage`), and the commits they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSuccesses {
    pub executions: BTreeSet<String>,
    pub commits: BTreeSet<String>,
}

impl StageSuccesses {
    /// True when the stage ran this push's execution, or its commit, successfully.
    pub fn ran(&self, push: &StartedPush) -> bool {
        self.executions.contains(&push.execution_id) || self.commits.contains(&push.commit_id)
    }
}

/// Everyone a change belongs to: the accounts that pushed it and the authors of its commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushedChange {
    /// The pushers, oldest push first, each once. An empty login stands for a push whose
    /// payload named no pusher.
    pub pushers: Vec<String>,
    /// Every commit author of every push, each once.
    pub authors: Vec<String>,
    /// False when the ref's retained history ended before a push the stage ran: older pushes
    /// (beyond the history's TTL) are not counted.
    pub since_success: bool,
}

/// Where an execution came from, as four-eyes sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Started by Gantry's webhook: the change it carries.
    Pushed(PushedChange),
    /// Gantry's webhook did not start it (the console's *Release change*, the CLI, a source
    /// action): nobody can say whose change it is, whatever its pipeline variables claim.
    NotStartedByGantry,
}

/// The change `own` carries: `own`, then the ref's older pushes (`older`, newest first) down to
/// the first one the stage ran, which is not part of it.
pub fn change_since(
    own: &StartedPush,
    older: &[StartedPush],
    ran: &StageSuccesses,
) -> PushedChange {
    let mut pushes = vec![own];
    let mut since_success = ran.ran(own);
    if !since_success {
        for push in older.iter().filter(|p| p.execution_id != own.execution_id) {
            if ran.ran(push) {
                since_success = true;
                break;
            }
            pushes.push(push);
        }
    }
    let mut change = PushedChange {
        since_success,
        ..PushedChange::default()
    };
    // Oldest first, as people read a history.
    for push in pushes.iter().rev() {
        let pusher = push.facts.pusher.clone().unwrap_or_default();
        if !change.pushers.contains(&pusher) {
            change.pushers.push(pusher);
        }
        for carried in &push.facts.carried_pushers {
            if !change.pushers.contains(carried) {
                change.pushers.push(carried.clone());
            }
        }
        for author in &push.facts.authors {
            if !change.authors.contains(author) {
                change.authors.push(author.clone());
            }
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(execution: &str, commit: &str, pusher: &str, authors: &[&str]) -> StartedPush {
        crate::ingest::testing::pushed(execution, &[commit], pusher, authors, 0)
    }

    fn ran(executions: &[&str], commits: &[&str]) -> StageSuccesses {
        StageSuccesses {
            executions: executions.iter().map(|e| e.to_string()).collect(),
            commits: commits.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_push_that_never_reached_the_stage_is_part_of_the_next_change() {
        // mona pushes A (never reached prod), lee pushes C on top; prod last ran Z.
        let z = pushed("e-z", "zzz", "kim", &["kim"]);
        let a = pushed("e-a", "aaa", "mona", &["mona"]);
        let c = pushed("e-c", "ccc", "lee", &["lee"]);
        let change = change_since(&c, &[a, z], &ran(&["e-z"], &["zzz"]));
        assert_eq!(change.pushers, vec!["mona", "lee"]);
        assert_eq!(change.authors, vec!["mona", "lee"]);
        assert!(change.since_success);
    }

    #[test]
    fn the_pushers_a_slash_deploy_carries_are_pushers_so_an_unmapped_one_fails_closed() {
        // Jane deploys from Slack what "ghost" pushed: ghost is a pusher of the change, not
        // merely an author, so four-eyes refuses everyone if ghost maps to no Slack user.
        let mut deploy = pushed("e-d", "ddd", "slack:UJANE", &["ada"]);
        deploy.facts.carried_pushers = vec!["ghost".into()];
        let change = change_since(&deploy, &[], &ran(&[], &[]));
        assert_eq!(change.pushers, vec!["slack:UJANE", "ghost"]);
        let rule = crate::approval::StageApprovers {
            four_eyes: true,
            ..Default::default()
        };
        let plan = crate::approval::owners_plan(
            &crate::approval::Provenance::Pushed(change),
            &rule,
            &crate::config::people::People::default(),
        );
        assert!(
            matches!(
                plan,
                crate::approval::OwnersPlan::Known(crate::approval::ChangeOwners::PusherUnmapped { ref login, .. }) if login == "ghost"
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn once_the_stage_ran_a_push_it_is_no_longer_part_of_the_change() {
        let a = pushed("e-a", "aaa", "mona", &["mona"]);
        let c = pushed("e-c", "ccc", "lee", &["lee"]);
        let d = pushed("e-d", "ddd", "kim", &["kim", "ghost@example.invalid"]);
        let change = change_since(&d, &[c, a], &ran(&["e-c"], &[]));
        assert_eq!(change.pushers, vec!["kim"]);
        assert_eq!(change.authors, vec!["kim", "ghost@example.invalid"]);
    }

    #[test]
    fn a_commit_the_stage_ran_from_another_execution_ends_the_change_too() {
        // The console re-ran C's commit in prod: prod runs C whoever started it.
        let c = pushed("e-c", "ccc", "lee", &["lee"]);
        let d = pushed("e-d", "ddd", "kim", &["kim"]);
        let change = change_since(&d, &[c], &ran(&["e-console"], &["ccc"]));
        assert_eq!(change.pushers, vec!["kim"]);
        assert!(change.since_success);
    }

    #[test]
    fn without_a_success_in_the_history_every_retained_push_counts() {
        let a = pushed("e-a", "aaa", "mona", &["mona"]);
        let b = pushed("e-b", "bbb", "mona", &["ada"]);
        let c = pushed("e-c", "ccc", "lee", &["lee"]);
        let change = change_since(&c, &[b, a], &StageSuccesses::default());
        assert_eq!(change.pushers, vec!["mona", "lee"]);
        assert_eq!(change.authors, vec!["mona", "ada", "lee"]);
        assert!(!change.since_success);
    }

    #[test]
    fn an_execution_the_stage_already_ran_carries_only_its_own_push() {
        let a = pushed("e-a", "aaa", "mona", &["mona"]);
        let c = pushed("e-c", "ccc", "lee", &["lee"]);
        let change = change_since(&c, &[c.clone(), a], &ran(&["e-c"], &[]));
        assert_eq!(change.pushers, vec!["lee"]);
    }
}
