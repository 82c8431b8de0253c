//! The shifter's target accounts: STS `AssumeRole` into the role `UserParameters` name, with
//! the credentials cached for their lifetime and renewed before they expire (a bake can
//! outlast them), and the environment's clients (ECS, ELB, CloudWatch, Application Auto
//! Scaling, Lambda) built on them.
//!
//! Why not aws-config's `AssumeRoleProvider`: it caches nothing itself (the SDK's identity
//! cache does, per client, five clients here), and a refusal reaches us as a boxed error whose
//! code we could not show. One small provider here assumes once for all five clients and
//! keeps STS's error code.
//!
//! The selection is task-local: `within` opens a scope for one invocation (or one orphan of
//! the sweep), `enter` points it at an account, and the environment adapters ask
//! [`in_target`] for their client. Outside a scope, and in a scope pointed at no account,
//! they use their own (the pipeline's account).

use aws_config::identity::IdentityCache;
use aws_config::SdkConfig;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use gantry_core::traffic::{Accounts, ShiftError, TargetAccount};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The environment's clients in one target account.
#[derive(Debug)]
pub struct Environment {
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub lambda: aws_sdk_lambda::Client,
    credentials: Arc<RoleCredentials>,
}

type Selected = Arc<Mutex<Option<Arc<Environment>>>>;

/// One set of clients per role and session (a deployment).
type Environments = HashMap<(TargetAccount, String), Arc<Environment>>;

tokio::task_local! {
    static SELECTED: Selected;
}

/// What `pick` gives from the target account's clients, when the current scope is pointed at
/// one; `None` otherwise (the caller then uses the pipeline's account).
pub(crate) fn in_target<T>(pick: impl FnOnce(&Environment) -> T) -> Option<T> {
    SELECTED
        .try_with(|s| {
            s.lock()
                .ok()
                .and_then(|e| e.as_ref().map(|e| pick(e.as_ref())))
        })
        .ok()
        .flatten()
}

/// The accounts the shifter acts in, through STS from the pipeline's account. Cheap to clone:
/// clones share the cache of assumed roles, so a warm Lambda instance reuses credentials.
#[derive(Debug, Clone)]
pub struct StsAccounts {
    hub: SdkConfig,
    sts: aws_sdk_sts::Client,
    cache: Arc<Mutex<Environments>>,
}

impl StsAccounts {
    pub fn new(hub: &SdkConfig) -> Self {
        Self {
            hub: hub.clone(),
            sts: aws_sdk_sts::Client::new(hub),
            cache: Arc::default(),
        }
    }

    /// The clients for `target`, one set per role and session (a deployment), built once.
    fn environment(&self, target: &TargetAccount, session: &str) -> Arc<Environment> {
        let key = (target.clone(), session.to_string());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&key) {
            return e.clone();
        }
        // Roles of finished deployments are not needed again: keep the cache small.
        if cache.len() >= 16 {
            cache.clear();
        }
        let credentials = Arc::new(RoleCredentials {
            sts: self.sts.clone(),
            target: target.clone(),
            session: session.to_string(),
            cached: tokio::sync::Mutex::new(None),
        });
        let config = self
            .hub
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(Shared(credentials.clone())))
            // `RoleCredentials` is the one cache: every request asks it, and it answers from
            // memory until the credentials near their end.
            .identity_cache(IdentityCache::no_cache())
            .build();
        let e = Arc::new(Environment {
            ecs: aws_sdk_ecs::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            credentials,
        });
        cache.insert(key, e.clone());
        e
    }
}

impl Accounts for StsAccounts {
    fn within<F>(&self, work: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
    {
        SELECTED.scope(Selected::default(), work)
    }

    async fn enter(&self, target: Option<&TargetAccount>, session: &str) -> Result<(), ShiftError> {
        let selected = match target {
            None => None,
            Some(target) => {
                let e = self.environment(target, session);
                // At once, not at the first call: a refused role fails the job before
                // anything is read or moved, with a message that names it.
                e.credentials.get().await?;
                Some(e)
            }
        };
        let set = SELECTED.try_with(|s| {
            *s.lock().unwrap_or_else(|p| p.into_inner()) = selected;
        });
        if set.is_err() && target.is_some() {
            // Outside a scope the calls would go to the pipeline's account: refuse instead.
            return Err(ShiftError::Setup(
                "the target account was entered outside its scope (a bug in the shifter)".into(),
            ));
        }
        Ok(())
    }
}

/// How long before they expire assumed credentials are renewed, at most: a call signed just
/// before the end must still reach AWS in time.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// A role's credentials, assumed on first use and again as they near their end.
#[derive(Debug)]
struct RoleCredentials {
    sts: aws_sdk_sts::Client,
    target: TargetAccount,
    session: String,
    /// The credentials and when they were issued.
    cached: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl RoleCredentials {
    async fn get(&self) -> Result<Credentials, ShiftError> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some((c, issued)) = cached.as_ref() {
            if fresh(c, *issued, now) {
                return Ok(c.clone());
            }
        }
        let c = self.assume().await?;
        tracing::info!(role = %self.target.role_arn, session = %self.session, expires = ?c.expiry(), "assumed the target account's role");
        *cached = Some((c.clone(), now));
        Ok(c)
    }

    async fn assume(&self) -> Result<Credentials, ShiftError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.target.role_arn)
            .set_external_id(self.target.external_id.clone())
            .role_session_name(&self.session)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(role = %self.target.role_arn, error = %DisplayErrorContext(&e), "STS AssumeRole failed");
                let reason = crate::aws_error::short_reason(e.code());
                match e.code() {
                    // STS answered (the role, its trust, the external id): a person must fix it.
                    Some(_) => self.target.refused(&reason),
                    // No answer (network, STS down): an outage, tried again.
                    None => ShiftError::Aws {
                        operation: "STS AssumeRole".into(),
                        reason,
                    },
                }
            })?;
        let c = out.credentials.ok_or_else(|| ShiftError::Aws {
            operation: "STS AssumeRole".into(),
            reason: "no credentials in the answer".into(),
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            SystemTime::try_from(c.expiration).ok(),
            "GantryTargetAccount",
        ))
    }
}

/// Whether credentials issued at `issued` are still good to sign with at `now`: renewed a
/// quarter of their lifetime before they expire, and never later than `RENEW_BEFORE`.
fn fresh(c: &Credentials, issued: SystemTime, now: SystemTime) -> bool {
    let Some(expiry) = c.expiry() else {
        return true;
    };
    let lifetime = expiry.duration_since(issued).unwrap_or_default();
    let margin = (lifetime / 4).min(RENEW_BEFORE);
    expiry.duration_since(now).is_ok_and(|left| left > margin)
}

/// `RoleCredentials` as the SDK's credentials provider.
#[derive(Debug)]
struct Shared(Arc<RoleCredentials>);

impl ProvideCredentials for Shared {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.0.get().await.map_err(|e| {
                provider::error::CredentialsError::provider_error(Box::<
                    dyn std::error::Error + Send + Sync,
                >::from(
                    e.to_string()
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(expiry: SystemTime) -> Credentials {
        Credentials::new("a", "b", None, Some(expiry), "test")
    }

    #[test]
    fn credentials_are_renewed_before_they_expire() {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = credentials(issued + Duration::from_secs(3600));
        assert!(fresh(&hour, issued, issued + Duration::from_secs(3000)));
        // Five minutes before the end of an hour's credentials: renewed.
        assert!(!fresh(&hour, issued, issued + Duration::from_secs(3301)));
        // Short-lived ones are renewed with a quarter of their life left.
        let short = credentials(issued + Duration::from_secs(20));
        assert!(fresh(&short, issued, issued + Duration::from_secs(14)));
        assert!(!fresh(&short, issued, issued + Duration::from_secs(16)));
        assert!(!fresh(&short, issued, issued + Duration::from_secs(30)));
    }
}
