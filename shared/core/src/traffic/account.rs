//! The account a shift acts in: the pipeline's own, or another one reached through a role in
//! it (`role_arn`, with `external_id`, in the action's `UserParameters`).
//!
//! Only the calls on the environment (ECS, the load balancer, CloudWatch, Application Auto
//! Scaling, the hooks' functions) go to the target account; CodePipeline, the artifacts and the
//! state table stay in the pipeline's account. The role is taken from `UserParameters` that
//! CodePipeline confirmed (`traffic::checks::confirm`), so nobody can point the shifter at a role the
//! pipeline did not declare.

use super::ShiftError;
use std::future::Future;

/// A role in another account that the shifter assumes for the environment's calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetAccount {
    /// `arn:aws:iam::<account>:role/<name>`.
    pub role_arn: String,
    /// The external id the role's trust policy requires (`sts:ExternalId`).
    pub external_id: Option<String>,
}

impl TargetAccount {
    /// The account id the role lives in (the ARN's fifth field).
    pub fn account_id(&self) -> &str {
        self.role_arn.split(':').nth(4).unwrap_or_default()
    }

    /// What the job's failure says when STS refuses the role: the role, and what to check.
    /// `reason` is short (AWS's error code), never AWS's error text.
    pub fn refused(&self, reason: &str) -> ShiftError {
        ShiftError::Setup(format!(
            "could not assume role_arn {} ({reason}): check that the role exists in account {}, that its trust policy allows the hub's traffic-shifter role{}, and that the hub's traffic-shifter role may assume it (the hub template allows roles named gantry-target-<ServiceName>); nothing was changed",
            self.role_arn,
            self.account_id(),
            if self.external_id.is_some() {
                " with this external_id"
            } else {
                " (and whether it requires an external_id)"
            },
        ))
    }
}

/// Whether `arn` is an IAM role's ARN: `arn:<partition>:iam::<12 digits>:role/<path/name>`.
pub fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty() && !n.ends_with('/')))
}

/// `role_arn` and `external_id` as `UserParameters` give them (trimmed, never empty): the target,
/// or the field at fault and why.
pub fn parse_target(
    role_arn: Option<String>,
    external_id: Option<String>,
) -> Result<Option<TargetAccount>, (&'static str, String)> {
    match (role_arn, external_id) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err((
            "external_id",
            "is only used with role_arn: give the role to assume in the target account".into(),
        )),
        (Some(role_arn), _) if !is_role_arn(&role_arn) => Err((
            "role_arn",
            format!(
                "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), got {role_arn:?}"
            ),
        )),
        (Some(_), Some(id))
            if id.len() < 2
                || id.len() > 1224
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c)) =>
        {
            Err((
                "external_id",
                "must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (STS's rule)".into(),
            ))
        }
        (Some(role_arn), external_id) => Ok(Some(TargetAccount {
            role_arn,
            external_id,
        })),
    }
}

/// The account a declared action's `UserParameters` point the shift at (`role_arn`'s), for
/// the Slack message; `None` when they name no role (or are not JSON).
pub fn declared_account(user_parameters: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(user_parameters).ok()?;
    let role = value.get("role_arn")?.as_str()?.trim();
    is_role_arn(role).then(|| role.split(':').nth(4).unwrap_or_default().to_string())
}

/// STS's limit on a role session name.
pub const MAX_SESSION_NAME: usize = 64;

/// The role session name, which CloudTrail shows in the target account for every call the
/// shifter makes there: `<pipeline>@<execution id>`. STS allows 2 to 64 characters of
/// `[A-Za-z0-9+=,.@_-]`: others become `-`, and the pipeline's name is cut, never the execution
/// id, which is what tells one deployment from the next.
pub fn session_name(pipeline: &str, execution_id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let execution: String = clean(execution_id)
        .chars()
        .take(MAX_SESSION_NAME - 2)
        .collect();
    let room = MAX_SESSION_NAME - 1 - execution.len();
    let pipeline: String = clean(pipeline).chars().take(room).collect();
    let name = match (pipeline.is_empty(), execution.is_empty()) {
        (false, false) => format!("{pipeline}@{execution}"),
        (false, true) => pipeline,
        (true, false) => execution,
        (true, true) => String::new(),
    };
    if name.len() < 2 {
        "gantry-traffic-shifter".to_string()
    } else {
        name
    }
}

/// Where the environment's calls go. The function binds it to STS; the core's fakes stay in
/// one account.
pub trait Accounts {
    /// Runs `work` in a scope of its own: what [`Accounts::enter`] selects inside it holds for
    /// every environment call `work` makes, and for nothing outside it.
    fn within<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send;

    /// From now on in this scope, the environment's calls act in `target`'s account (`None`:
    /// the pipeline's own). Assumes the role at once (or takes its cached credentials), so a
    /// refused role fails the job before anything moves; `session` names the role session.
    fn enter(
        &self,
        target: Option<&TargetAccount>,
        session: &str,
    ) -> impl Future<Output = Result<(), ShiftError>> + Send;
}

/// Every call in the pipeline's account: for fakes and stand-ins. A target account is refused,
/// so a test cannot believe it moved another account's traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneAccount;

impl Accounts for OneAccount {
    fn within<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
    {
        work
    }

    async fn enter(
        &self,
        target: Option<&TargetAccount>,
        _session: &str,
    ) -> Result<(), ShiftError> {
        match target {
            None => Ok(()),
            Some(t) => Err(t.refused("this shifter works in one account only")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_name_keeps_the_execution_whole_and_fits_sts() {
        let execution = "3137f7cb-7cf7-4c6f-9d5a-0123456789ab";
        let name = session_name(&"shop-prod-pipeline-".repeat(6), execution);
        assert_eq!(name.len(), MAX_SESSION_NAME);
        assert!(name.ends_with(&format!("@{execution}")));
        assert_eq!(session_name("shop", execution), format!("shop@{execution}"));
    }

    #[test]
    fn session_name_replaces_what_sts_refuses() {
        assert_eq!(session_name("my pipe/line", "e:1"), "my-pipe-line@e-1");
        assert_eq!(session_name("", ""), "gantry-traffic-shifter");
    }

    #[test]
    fn a_declared_role_names_the_stages_account() {
        let declared = |p: &str| declared_account(p);
        assert_eq!(
            declared(r#"{"role_arn": "arn:aws:iam::222222222222:role/gantry-target-shop"}"#),
            Some("222222222222".into())
        );
        assert_eq!(declared(r#"{"cluster": "shop"}"#), None);
        assert_eq!(declared("#{variables} not json"), None);
    }

    #[test]
    fn role_arns_are_told_from_other_arns() {
        assert!(is_role_arn(
            "arn:aws:iam::222222222222:role/gantry-target-shop"
        ));
        assert!(is_role_arn(
            "arn:aws-cn:iam::222222222222:role/path/gantry-target-shop"
        ));
        assert!(!is_role_arn("arn:aws:iam::222222222222:user/someone"));
        assert!(!is_role_arn("arn:aws:iam::2222:role/x"));
        assert!(!is_role_arn("arn:aws:sts::222222222222:role/x"));
        assert!(!is_role_arn("gantry-target-shop"));
    }

    #[test]
    fn a_refusal_names_the_role_and_what_to_check() {
        let t = TargetAccount {
            role_arn: "arn:aws:iam::222222222222:role/gantry-target-shop".into(),
            external_id: Some("x".into()),
        };
        let text = t.refused("access denied (AccessDenied)").to_string();
        assert!(text.contains("arn:aws:iam::222222222222:role/gantry-target-shop"));
        assert!(text.contains("trust policy"));
        assert!(text.contains("external_id"));
    }

    #[test]
    fn a_bad_role_or_a_lone_external_id_is_refused_by_field() {
        let role = || Some("arn:aws:iam::222222222222:role/gantry-target-shop".to_string());
        let field = |r: Option<String>, e: Option<&str>| {
            parse_target(r, e.map(String::from)).unwrap_err().0
        };
        assert_eq!(field(Some("gantry-target-shop".into()), None), "role_arn");
        assert_eq!(field(None, Some("shop-prod-7f3a")), "external_id");
        assert_eq!(field(role(), Some("a b")), "external_id");
        let t = parse_target(role(), Some("shop-prod-7f3a".into()))
            .unwrap()
            .unwrap();
        assert_eq!(t.account_id(), "222222222222");
        assert_eq!(parse_target(None, None).unwrap(), None);
    }
}
