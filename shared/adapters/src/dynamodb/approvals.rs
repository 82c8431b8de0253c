//! Approval records (`APPROVAL#{id}`): what was asked in Slack, and the audit trail of how it
//! was decided. Every state change is a conditional write, so two clicks, a Slack retry and a
//! CodePipeline event racing each other still decide once.

use super::attributes::{conditional_failed, n, number, s, text, DynamoItem};
use super::{conditional_write, store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use gantry_core::approval::pipeline::split_authors;
use gantry_core::approval::ports::{ApprovalStore, Created, DecisionClaim};
use gantry_core::approval::{
    ApprovalDecision, ApprovalRecord, ApprovalState, Approver, ChangeOwners, Closure,
    CommitSummary, Outcome, Provenance, PushedChange, StageSuccesses,
};
use gantry_core::ingest::StartedPush;
use gantry_core::slack::PostedMessage;

impl Key {
    /// An approval record: `APPROVAL#{id}`.
    pub fn approval(id: &str) -> Self {
        Key {
            pk: format!("APPROVAL#{id}"),
            sk: "APPROVAL".to_string(),
        }
    }

    /// The latest approval record of one approval action in one execution, found by the
    /// CodePipeline event that ends it (which carries no token).
    pub fn approval_action(pipeline: &str, execution_id: &str, stage: &str, action: &str) -> Self {
        Key {
            pk: format!("APPROVAL_ACTION#{pipeline}#{execution_id}#{stage}#{action}"),
            sk: "APPROVAL_ACTION".to_string(),
        }
    }
}

/// A new record, or one whose request was never posted and whose poster's lease ran out.
const UNPOSTED: &str =
    "attribute_not_exists(pk) OR (attribute_not_exists(ts) AND post_lease_until < :now)";
/// Taking the right to decide.
const CLAIM: &str =
    "SET #s = :deciding, deciding_by = :by, deciding_by_name = :name, deciding_until = :until";
/// Waiting, or held by a decider whose lease ran out.
const CLAIMABLE: &str =
    "attribute_exists(pk) AND (#s = :waiting OR (#s = :deciding AND deciding_until < :now))";

mod status {
    pub const WAITING: &str = "waiting";
    pub const DECIDING: &str = "deciding";
    pub const APPROVED: &str = "approved";
    pub const REJECTED: &str = "rejected";
    pub const APPROVED_ELSEWHERE: &str = "approved_elsewhere";
    pub const REJECTED_ELSEWHERE: &str = "rejected_elsewhere";
    pub const DECIDED_ELSEWHERE: &str = "decided_elsewhere";
    pub const EXPIRED: &str = "expired";
    pub const SUPERSEDED: &str = "superseded";
    pub const TOKEN_REFUSED: &str = "token_refused";
}

/// Approval records on the state table.
#[derive(Debug, Clone)]
pub struct DynamoApprovals {
    pub table: StateTable,
    /// How long a click may hold an approval while it decides (several times CodePipeline's
    /// answer time, well under a user's patience).
    pub lease_seconds: i64,
    /// How long the audit trail is kept after the approval's expiry.
    pub retain_seconds: i64,
}

impl DynamoApprovals {
    pub fn new(table: StateTable) -> Self {
        Self {
            table,
            lease_seconds: 30,
            retain_seconds: 400 * 24 * 3600,
        }
    }

    async fn read_item(&self, key: &Key) -> Result<Option<DynamoItem>, StoreError> {
        self.table.read(key).await
    }

    async fn finish(
        &self,
        id: &str,
        state: &ApprovalState,
        condition: &str,
        claimant: Option<&str>,
    ) -> Result<bool, StoreError> {
        let t = &self.table;
        let (set, values) = ending_attributes(state);
        let mut request = t
            .update(&Key::approval(id))
            .update_expression(format!(
                "SET {set} REMOVE deciding_by, deciding_by_name, deciding_until"
            ))
            .condition_expression(condition)
            .expression_attribute_names("#s", "status");
        for (k, v) in values {
            request = request.expression_attribute_values(k, v);
        }
        if condition.contains(":waiting") {
            request = request.expression_attribute_values(":waiting", s(status::WAITING));
        }
        if let Some(by) = claimant {
            request = request
                .expression_attribute_values(":deciding", s(status::DECIDING))
                .expression_attribute_values(":by", s(by));
        }
        conditional_write(&t.name, request.send().await)
    }
}

impl ApprovalStore for DynamoApprovals {
    /// Writes a new waiting record, unless it exists. A record whose request was never posted
    /// (the poster crashed) is taken over once `lease_seconds` have passed.
    async fn create(&self, r: &ApprovalRecord, now: i64) -> Result<Created, StoreError> {
        let t = &self.table;
        let mut item = to_item(r);
        item.insert("post_lease_until".into(), n(now + self.lease_seconds));
        item.insert("expires_at".into(), n(r.expires_at + self.retain_seconds));
        let result = t
            .client
            .put_item()
            .table_name(&t.name)
            .set_item(Some(item))
            .condition_expression(UNPOSTED)
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) if out.attributes().is_some_and(|a| !a.is_empty()) => Ok(Created::TakenOver),
            Ok(_) => Ok(Created::New),
            Err(e) if conditional_failed(&e) => Ok(Created::Exists),
            Err(e) => Err(store_error(&t.name, e)),
        }
    }

    /// Reads a record (strongly consistent: a click must see the latest decision).
    async fn read(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let t = &self.table;
        let item = t.read(&Key::approval(id)).await?;
        item.as_ref().map(|i| from_item(&t.name, i)).transpose()
    }

    /// Remembers where the request was posted.
    async fn set_message(&self, id: &str, at: &PostedMessage) -> Result<(), StoreError> {
        let t = &self.table;
        t.update(&Key::approval(id))
            .update_expression("SET channel = :c, ts = :ts REMOVE post_lease_until")
            .expression_attribute_values(":c", s(&at.channel))
            .expression_attribute_values(":ts", s(&at.ts))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(&t.name, e))
    }

    /// Makes `r` the latest approval of its action in its execution; returns the id it
    /// replaces, if another.
    async fn link_action(&self, r: &ApprovalRecord) -> Result<Option<String>, StoreError> {
        let t = &self.table;
        let key = Key::approval_action(&r.pipeline, &r.execution_id, &r.stage, &r.action);
        let mut item = key.attributes();
        item.insert("kind".into(), s("approval_action"));
        item.insert(
            gantry_core::schema::ATTRIBUTE.into(),
            super::attributes::version(),
        );
        item.insert("approval_id".into(), s(&r.id));
        item.insert("expires_at".into(), n(r.expires_at + self.retain_seconds));
        let out = t
            .client
            .put_item()
            .table_name(&t.name)
            .set_item(Some(item))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error(&t.name, e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get("approval_id"))
            .and_then(|v| v.as_s().ok())
            .filter(|previous| **previous != r.id)
            .cloned())
    }

    /// The latest approval record id of an approval action in an execution.
    async fn latest_for_action(
        &self,
        pipeline: &str,
        execution_id: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<String>, StoreError> {
        let item = self
            .read_item(&Key::approval_action(pipeline, execution_id, stage, action))
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("approval_id"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    /// Takes the right to decide: only a waiting record (or one whose decider's lease ran out).
    async fn claim(&self, id: &str, by: &Approver, now: i64) -> Result<DecisionClaim, StoreError> {
        let t = &self.table;
        let result = t
            .update(&Key::approval(id))
            .update_expression(CLAIM)
            .condition_expression(CLAIMABLE)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":deciding", s(status::DECIDING))
            .expression_attribute_values(":waiting", s(status::WAITING))
            .expression_attribute_values(":by", s(&by.id))
            .expression_attribute_values(":name", s(&by.name))
            .expression_attribute_values(":until", n(now + self.lease_seconds))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(DecisionClaim::Claimed),
            Err(e) if conditional_failed(&e) => Ok(match self.read(id).await? {
                Some(r) => DecisionClaim::Lost(Box::new(r)),
                None => DecisionClaim::Missing,
            }),
            Err(e) => Err(store_error(&t.name, e)),
        }
    }

    /// Records how a claimed approval ended (decided, or found expired or superseded). Only
    /// the claimant may: a lease taken over by someone else is not overwritten.
    async fn settle(
        &self,
        id: &str,
        claimant: &str,
        state: &ApprovalState,
    ) -> Result<bool, StoreError> {
        self.finish(
            id,
            state,
            "#s = :deciding AND deciding_by = :by",
            Some(claimant),
        )
        .await
    }

    /// Gives a claimed approval back (CodePipeline could not be reached): others may try.
    async fn release(&self, id: &str, claimant: &str) -> Result<(), StoreError> {
        let t = &self.table;
        let result = t
            .update(&Key::approval(id))
            .update_expression(
                "SET #s = :waiting REMOVE deciding_by, deciding_by_name, deciding_until",
            )
            .condition_expression("#s = :deciding AND deciding_by = :by")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":waiting", s(status::WAITING))
            .expression_attribute_values(":deciding", s(status::DECIDING))
            .expression_attribute_values(":by", s(claimant))
            .send()
            .await;
        // Not (or no longer) this claimant's to give back: nothing to do.
        conditional_write(&t.name, result).map(|_| ())
    }

    /// Closes a waiting approval that ended outside Slack. False when it was not waiting.
    async fn close_waiting(&self, id: &str, closure: &Closure) -> Result<bool, StoreError> {
        self.finish(
            id,
            &ApprovalState::Closed(closure.clone()),
            "#s = :waiting",
            None,
        )
        .await
    }

    async fn execution_thread(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<PostedMessage>, StoreError> {
        super::executions::execution_thread(&self.table, pipeline, execution_id).await
    }

    async fn started(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<StartedPush>, StoreError> {
        super::pushes::started(&self.table, pipeline, execution_id).await
    }

    async fn pushes_before(
        &self,
        own: &StartedPush,
        ran: &StageSuccesses,
    ) -> Result<Vec<StartedPush>, StoreError> {
        super::pushes::pushes_before(&self.table, own, ran).await
    }
}

/// Where the execution came from, as four-eyes found it when the request was posted:
/// `change_origin` (`webhook` or `unknown`), and for the webhook's, the change's pushers and
/// authors (lists) and whether it reaches back to the stage's last success.
fn change_attributes(change: &Provenance) -> Vec<(&'static str, AttributeValue)> {
    let list = |v: &[String]| AttributeValue::L(v.iter().map(s).collect());
    match change {
        Provenance::NotStartedByGantry => vec![("change_origin", s("unknown"))],
        Provenance::Pushed(c) => vec![
            ("change_origin", s("webhook")),
            ("change_pushers", list(&c.pushers)),
            ("change_authors", list(&c.authors)),
            (
                "change_since_success",
                AttributeValue::Bool(c.since_success),
            ),
        ],
    }
}

fn change_of(i: &DynamoItem) -> Option<Provenance> {
    let list = |name: &str| -> Vec<String> {
        i.get(name)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default()
    };
    match text(i, "change_origin")?.as_str() {
        "unknown" => Some(Provenance::NotStartedByGantry),
        "webhook" => Some(Provenance::Pushed(PushedChange {
            pushers: list("change_pushers"),
            authors: list("change_authors"),
            since_success: i
                .get("change_since_success")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
        })),
        _ => None,
    }
}

/// The owners' Slack ids, comma-separated (`-` for none); only a settled answer is kept, so
/// anything else (an unmapped pusher, a failed lookup) is asked again at the click.
fn owners_attribute(owners: &ChangeOwners) -> Option<String> {
    match owners {
        ChangeOwners::Slack(ids) if ids.is_empty() => Some("-".into()),
        ChangeOwners::Slack(ids) => Some(ids.iter().cloned().collect::<Vec<_>>().join(",")),
        _ => None,
    }
}

/// The `SET` clause and values that record how an approval ended.
fn ending_attributes(state: &ApprovalState) -> (String, Vec<(&'static str, AttributeValue)>) {
    let mut set = vec!["#s = :status"];
    let mut values = vec![];
    let status = match state {
        ApprovalState::Decided(d) => {
            set.extend([
                "decided_by = :by_id",
                "decided_by_name = :by_name",
                "decided_at = :at",
                "summary = :summary",
            ]);
            values.extend([
                (":by_id", s(&d.by.id)),
                (":by_name", s(&d.by.name)),
                (":at", n(d.at)),
                (":summary", s(d.summary())),
            ]);
            if let Some(reason) = &d.reason {
                set.push("reason = :reason");
                values.push((":reason", s(reason)));
            }
            match d.outcome {
                Outcome::Approved => status::APPROVED,
                Outcome::Rejected => status::REJECTED,
            }
        }
        ApprovalState::Closed(c) => match c {
            Closure::DecidedElsewhere {
                outcome,
                summary,
                at,
            } => {
                set.push("closed_at = :at");
                values.push((":at", n(*at)));
                if let Some(summary) = summary {
                    set.push("summary = :summary");
                    values.push((":summary", s(summary)));
                }
                match outcome {
                    Some(Outcome::Approved) => status::APPROVED_ELSEWHERE,
                    Some(Outcome::Rejected) => status::REJECTED_ELSEWHERE,
                    None => status::DECIDED_ELSEWHERE,
                }
            }
            Closure::Expired { at } => {
                set.push("closed_at = :at");
                values.push((":at", n(*at)));
                status::EXPIRED
            }
            Closure::Superseded { at } => {
                set.push("closed_at = :at");
                values.push((":at", n(*at)));
                status::SUPERSEDED
            }
            Closure::TokenRefused { at } => {
                set.push("closed_at = :at");
                values.push((":at", n(*at)));
                status::TOKEN_REFUSED
            }
        },
        // Not an ending; kept total so a mistake writes a readable record, not garbage.
        ApprovalState::Waiting => status::WAITING,
        ApprovalState::Deciding { .. } => status::DECIDING,
    };
    values.push((":status", s(status)));
    (set.join(", "), values)
}

fn to_item(r: &ApprovalRecord) -> DynamoItem {
    let mut item = Key::approval(&r.id).attributes();
    let mut put = |k: &str, v: AttributeValue| {
        item.insert(k.to_string(), v);
    };
    put("kind", s("approval"));
    put(gantry_core::schema::ATTRIBUTE, super::attributes::version());
    put("id", s(&r.id));
    put("pipeline", s(&r.pipeline));
    put("stage", s(&r.stage));
    put("action", s(&r.action));
    put("token", s(&r.token));
    put("execution_id", s(&r.execution_id));
    put("requested_at", n(r.requested_at));
    put("approval_expires_at", n(r.expires_at));
    put("status", s(status::WAITING));
    if let Some(v) = &r.custom_data {
        put("custom_data", s(v));
    }
    if let Some(v) = &r.review_url {
        put("review_url", s(v));
    }
    if let Some(c) = &r.commit {
        put("commit_id", s(&c.id));
        for (k, v) in [
            ("commit_message", &c.message),
            ("commit_author", &c.author),
            ("repository", &c.repository),
            ("branch", &c.branch),
            ("pusher", &c.pusher),
        ] {
            if let Some(v) = v {
                put(k, s(v));
            }
        }
    }
    if let Some(c) = r.commit.as_ref().filter(|c| !c.authors.is_empty()) {
        put("commit_authors", s(c.authors.join(",")));
    }
    for (name, value) in r.change.iter().flat_map(change_attributes) {
        put(name, value);
    }
    if let Some(o) = r.owners.as_ref().and_then(owners_attribute) {
        put("owners_slack", s(&o));
    }
    if let Some(m) = &r.message {
        put("channel", s(&m.channel));
        put("ts", s(&m.ts));
    }
    item
}

fn from_item(table: &str, i: &DynamoItem) -> Result<ApprovalRecord, StoreError> {
    // A newer release's approval is not guessed at: the click is told, nothing is decided.
    super::attributes::schema(i)
        .map_err(|e| StoreError::too_new(&format!("table {table}: approval"), e))?;
    let need = |name: &str| {
        text(i, name)
            .ok_or_else(|| StoreError::new(format!("table {table}: approval record lacks {name}")))
    };
    let need_n = |name: &str| {
        number(i, name)
            .ok_or_else(|| StoreError::new(format!("table {table}: approval record lacks {name}")))
    };
    let at = number(i, "closed_at")
        .or(number(i, "decided_at"))
        .unwrap_or(0);
    let decision = |outcome| {
        ApprovalState::Decided(ApprovalDecision {
            outcome,
            by: Approver {
                id: text(i, "decided_by").unwrap_or_default(),
                name: text(i, "decided_by_name").unwrap_or_default(),
            },
            at,
            reason: text(i, "reason"),
        })
    };
    let elsewhere = |outcome| {
        ApprovalState::Closed(Closure::DecidedElsewhere {
            outcome,
            summary: text(i, "summary"),
            at,
        })
    };
    let state = match need("status")?.as_str() {
        status::WAITING => ApprovalState::Waiting,
        status::DECIDING => ApprovalState::Deciding {
            by: Approver {
                id: text(i, "deciding_by").unwrap_or_default(),
                name: text(i, "deciding_by_name").unwrap_or_default(),
            },
            until: number(i, "deciding_until").unwrap_or(0),
        },
        status::APPROVED => decision(Outcome::Approved),
        status::REJECTED => decision(Outcome::Rejected),
        status::APPROVED_ELSEWHERE => elsewhere(Some(Outcome::Approved)),
        status::REJECTED_ELSEWHERE => elsewhere(Some(Outcome::Rejected)),
        status::DECIDED_ELSEWHERE => elsewhere(None),
        status::EXPIRED => ApprovalState::Closed(Closure::Expired { at }),
        status::SUPERSEDED => ApprovalState::Closed(Closure::Superseded { at }),
        status::TOKEN_REFUSED => ApprovalState::Closed(Closure::TokenRefused { at }),
        other => {
            return Err(StoreError::new(format!(
                "table {table}: approval record has unknown status {other:?}"
            )));
        }
    };
    let commit = text(i, "commit_id").map(|id| CommitSummary {
        id,
        message: text(i, "commit_message"),
        author: text(i, "commit_author"),
        repository: text(i, "repository"),
        branch: text(i, "branch"),
        pusher: text(i, "pusher"),
        authors: text(i, "commit_authors")
            .map(|a| split_authors(&a))
            .unwrap_or_default(),
    });
    let owners = text(i, "owners_slack").map(|o| {
        ChangeOwners::Slack(
            o.split(',')
                .filter(|id| !id.is_empty() && *id != "-")
                .map(str::to_string)
                .collect(),
        )
    });
    let message = match (text(i, "channel"), text(i, "ts")) {
        (Some(channel), Some(ts)) => Some(PostedMessage { channel, ts }),
        _ => None,
    };
    Ok(ApprovalRecord {
        id: need("id")?,
        pipeline: need("pipeline")?,
        stage: need("stage")?,
        action: need("action")?,
        token: need("token")?,
        execution_id: need("execution_id")?,
        requested_at: need_n("requested_at")?,
        expires_at: need_n("approval_expires_at")?,
        custom_data: text(i, "custom_data"),
        review_url: text(i, "review_url"),
        commit,
        change: change_of(i),
        owners,
        message,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record() -> ApprovalRecord {
        ApprovalRecord {
            id: "abc".into(),
            pipeline: "shop".into(),
            stage: "Prod".into(),
            action: "Approve".into(),
            token: "t".into(),
            execution_id: "e".into(),
            requested_at: 10,
            expires_at: 20,
            custom_data: Some("look".into()),
            review_url: None,
            commit: Some(CommitSummary {
                id: "c0ffee".into(),
                message: Some("m".into()),
                author: Some("octocat".into()),
                repository: None,
                branch: Some("main".into()),
                pusher: Some("mona".into()),
                authors: vec!["mona".into(), "ghost@example.invalid".into()],
            }),
            change: Some(Provenance::Pushed(PushedChange {
                pushers: vec!["mona".into(), "lee".into()],
                authors: vec!["mona".into(), "ghost, the@example.invalid".into()],
                since_success: true,
            })),
            owners: Some(ChangeOwners::Slack(
                ["U0MONA".to_string(), "U0ADA".to_string()].into(),
            )),
            message: Some(PostedMessage {
                channel: "C1".into(),
                ts: "1.2".into(),
            }),
            state: ApprovalState::Waiting,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = record();
        assert_eq!(from_item("t", &to_item(&r)).unwrap(), r);
    }

    #[test]
    fn every_ending_reads_back_as_written() {
        let by = Approver {
            id: "U1".into(),
            name: "jane".into(),
        };
        for state in [
            ApprovalState::Decided(ApprovalDecision {
                outcome: Outcome::Rejected,
                by: by.clone(),
                at: 7,
                reason: Some("no".into()),
            }),
            ApprovalState::Decided(ApprovalDecision {
                outcome: Outcome::Approved,
                by,
                at: 7,
                reason: None,
            }),
            ApprovalState::Closed(Closure::DecidedElsewhere {
                outcome: Some(Outcome::Approved),
                summary: Some("cli".into()),
                at: 7,
            }),
            ApprovalState::Closed(Closure::DecidedElsewhere {
                outcome: None,
                summary: None,
                at: 7,
            }),
            ApprovalState::Closed(Closure::Expired { at: 7 }),
            ApprovalState::Closed(Closure::Superseded { at: 7 }),
            ApprovalState::Closed(Closure::TokenRefused { at: 7 }),
        ] {
            // Apply the update expression's assignments to the item, as DynamoDB would.
            let mut item = to_item(&record());
            let (set, values) = ending_attributes(&state);
            let values: HashMap<_, _> = values.into_iter().collect();
            for assignment in set.split(", ") {
                let (name, value) = assignment.split_once(" = ").unwrap();
                let name = if name == "#s" { "status" } else { name };
                item.insert(name.to_string(), values[value].clone());
            }
            assert_eq!(from_item("t", &item).unwrap().state, state);
        }
    }

    #[test]
    fn a_record_missing_its_token_is_an_error_not_a_panic() {
        let mut item = to_item(&record());
        item.remove("token");
        let err = from_item("gantry", &item).unwrap_err().to_string();
        assert!(err.contains("lacks token"), "{err}");
    }

    #[test]
    fn a_record_carries_its_version_and_reads_with_unknown_attributes_or_none() {
        let r = record();
        let mut item = to_item(&r);
        assert_eq!(
            item.get("schema"),
            Some(&n(gantry_core::schema::SCHEMA_VERSION))
        );
        // What a later release may add is ignored; 0.1.0's unversioned shape reads as version 1.
        item.insert("added_later".into(), s("x"));
        assert_eq!(from_item("t", &item).unwrap(), r);
        item.remove("schema");
        assert_eq!(from_item("t", &item).unwrap(), r);
    }

    #[test]
    fn a_record_a_newer_release_wrote_is_too_new_not_misread() {
        let mut item = to_item(&record());
        item.insert("schema".into(), n(gantry_core::schema::SCHEMA_VERSION + 1));
        let err = from_item("gantry", &item).unwrap_err();
        assert!(err.too_new.is_some(), "{err}");
    }

    #[test]
    fn keys_are_the_agreed_ones() {
        assert_eq!(Key::approval("abc").pk, "APPROVAL#abc");
        assert_eq!(Key::approval("abc").sk, "APPROVAL");
        assert_eq!(Key::execution("shop", "e-1").pk, "EXECUTION#shop#e-1");
        assert_eq!(Key::execution("shop", "e-1").sk, "EXECUTION");
    }
}
