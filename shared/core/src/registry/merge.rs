//! The registry merged with the static configuration (`GANTRY_ROUTES`, `GANTRY_NOTIFY`,
//! `GANTRY_APPROVERS`).
//!
//! **On a clash, the static variable wins, for the whole pipeline.** A pipeline that
//! `GANTRY_ROUTES` routes to takes none of its document's routes; one with an entry in
//! `GANTRY_NOTIFY`'s `pipelines` takes none of its document's `notify`; one in
//! `GANTRY_APPROVERS` takes none of its document's `approvers`. The static variables are the hub
//! operator's, set on the hub's own stack: they are how a one-stack deployment keeps working
//! while its document is added (migration), and how the hub's owner pins a pipeline (during an
//! incident, say) without touching the service's stack. And a service's own stack, which writes
//! its document, cannot widen who may approve a pipeline the hub's owner has pinned.
//! Whole-pipeline rather than field by field: who may approve Prod is then read in one place.

use super::document::{Service, StageOperators};
use crate::config::approvers::{ApproverRules, StageApprovers};
use crate::config::NotifyConfig;
use crate::ingest::routing::{RouteSpec, RouteTable};
use std::collections::{BTreeMap, BTreeSet};

/// The valid services of the registry, by pipeline.
/// A sorted `Vec`, not a map: it is held whole by every warm function, and at 1,000 services a
/// map's nodes and its second copy of each name are a fifth of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    /// By pipeline, each once.
    services: Vec<Service>,
}

impl Registry {
    /// The registry of `services`; of two with one pipeline, the later.
    pub fn new(services: impl IntoIterator<Item = Service>) -> Self {
        let mut services: Vec<Service> = services.into_iter().collect();
        services.reverse();
        // Stable: of equal pipelines the later (now first) stays, as a map's insert would keep.
        services.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
        services.dedup_by(|later, earlier| later.pipeline == earlier.pipeline);
        services.shrink_to_fit();
        Registry { services }
    }

    /// The service of `pipeline`, if registered.
    pub fn service(&self, pipeline: &str) -> Option<&Service> {
        self.services
            .binary_search_by(|s| s.pipeline.as_str().cmp(pipeline))
            .ok()
            .map(|i| &self.services[i])
    }

    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.iter()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The route table: every static route, then each service's routes unless `GANTRY_ROUTES`
/// routes to its pipeline. Documents are checked when read, so the error (a glob set that does
/// not build) is not expected; the caller keeps its previous table if it comes.
pub fn routes(statics: &[RouteSpec], registry: &Registry) -> Result<RouteTable, String> {
    let pinned: BTreeSet<&str> = statics.iter().map(|r| r.pipeline.as_str()).collect();
    let mut all: Vec<&RouteSpec> = statics.iter().collect();
    for service in registry.services() {
        if pinned.contains(service.pipeline.as_str()) {
            if !service.routes.is_empty() {
                tracing::info!(
                    pipeline = service.pipeline,
                    "GANTRY_ROUTES routes this pipeline: its service document's routes are not used"
                );
            }
            continue;
        }
        all.extend(service.routes.iter());
    }
    RouteTable::compile_each(all)
}

/// `GANTRY_NOTIFY` with each service's `notify` added, unless `pipelines` lists it.
/// `default_channel` is the static one (a document speaks for its own pipeline only).
pub fn notify(statics: &NotifyConfig, registry: &Registry) -> NotifyConfig {
    let mut merged = statics.clone();
    for service in registry.services() {
        let Some(own) = &service.notify else { continue };
        if statics.pipelines.contains_key(&service.pipeline) {
            tracing::info!(
                pipeline = service.pipeline,
                "GANTRY_NOTIFY lists this pipeline: its service document's notify is not used"
            );
            continue;
        }
        merged
            .pipelines
            .insert(service.pipeline.clone(), own.clone());
    }
    merged
}

/// `GANTRY_APPROVERS` with each service's `approvers` added, unless it lists the pipeline.
pub fn approvers(statics: &ApproverRules, registry: &Registry) -> ApproverRules {
    let pinned: BTreeSet<&str> = statics.pipeline_names().collect();
    let mut merged: BTreeMap<String, BTreeMap<String, StageApprovers>> = statics
        .pipeline_names()
        .map(|p| (p.to_string(), statics.stages(p)))
        .collect();
    for service in registry.services() {
        if service.approvers.is_empty() {
            continue;
        }
        if pinned.contains(service.pipeline.as_str()) {
            tracing::info!(
                pipeline = service.pipeline,
                "GANTRY_APPROVERS lists this pipeline: its service document's approvers are not used"
            );
            continue;
        }
        merged.insert(service.pipeline.clone(), service.approvers.clone());
    }
    ApproverRules::from_pipelines(merged)
}

/// Who may operate `pipeline`'s `stage` from Slack: the document's `operators` for the stage,
/// else the stage's approvers (merged, as `approvers` returns them). `None`: nobody.
pub fn operators(
    registry: &Registry,
    approvers: &ApproverRules,
    pipeline: &str,
    stage: &str,
) -> Option<StageOperators> {
    let own = registry
        .service(pipeline)
        .and_then(|s| s.operators.get(stage));
    match own {
        Some(operators) => Some(operators.clone()),
        None => approvers.stage(pipeline, stage).map(|a| StageOperators {
            users: a.users.clone(),
            groups: a.groups.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Verbosity;
    use crate::ingest::push::testing;
    use crate::ingest::push::Push;
    use crate::ingest::routing::{route, RouteDecision};

    fn service(pipeline: &str, text: &str) -> Service {
        Service::parse(&format!("/gantry/services/{pipeline}"), text).unwrap()
    }

    fn shop() -> Service {
        service(
            "shop",
            r#"{"routes": [{"provider": "github", "repository": "acme/shop", "branches": ["main"], "source_action": "Source"}],
                "notify": {"channel": "C0SHOP", "verbosity": "actions"},
                "approvers": {"Prod": {"users": ["U0LEAD"]}, "QA": {"groups": ["S0QA"]}},
                "operators": {"Prod": {"users": ["U0ONCALL"]}}}"#,
        )
    }

    #[test]
    fn a_registry_finds_each_service_by_pipeline_and_keeps_the_later_of_two() {
        let older = service("shop", r#"{"notify": {"channel": "C0OLD"}}"#);
        let registry = Registry::new([older, cart(), shop()]);
        assert_eq!(registry.len(), 2);
        let channel = |p: &str| registry.service(p)?.notify.as_ref()?.channel.clone();
        assert_eq!(channel("shop").as_deref(), Some("C0SHOP"));
        assert_eq!(channel("cart").as_deref(), Some("C0CART"));
        assert!(registry.service("search").is_none());
        let order: Vec<&str> = registry.services().map(|s| s.pipeline.as_str()).collect();
        assert_eq!(order, ["cart", "shop"]);
    }

    fn cart() -> Service {
        service(
            "cart",
            r#"{"routes": [{"provider": "github", "repository": "acme/cart", "branches": ["main"], "source_action": "Source"}],
                "notify": {"channel": "C0CART"},
                "approvers": {"Prod": {"users": ["U0CART"]}}}"#,
        )
    }

    fn push(repository: &str) -> Push {
        Push {
            repository: repository.into(),
            ..testing::push("refs/heads/main", &["src/lib.rs"], "change")
        }
    }

    fn started(table: &RouteTable, repository: &str) -> Vec<String> {
        route(&push(repository), table)
            .into_iter()
            .filter_map(|d| match d {
                RouteDecision::Start { pipeline, .. } => Some(pipeline),
                RouteDecision::Skip { .. } => None,
            })
            .collect()
    }

    fn static_route(repository: &str, pipeline: &str) -> RouteSpec {
        serde_json::from_value(
            serde_json::json!({"provider": "github", "repository": repository,
            "branches": ["main"], "pipeline": pipeline, "source_action": "Source"}),
        )
        .unwrap()
    }

    #[test]
    fn each_service_routes_its_own_repository_beside_the_static_routes() {
        let registry = Registry::new([shop(), cart()]);
        let table = routes(&[static_route("acme/legacy", "legacy")], &registry).unwrap();
        assert_eq!(started(&table, "acme/shop"), vec!["shop"]);
        assert_eq!(started(&table, "acme/cart"), vec!["cart"]);
        assert_eq!(started(&table, "acme/legacy"), vec!["legacy"]);
        assert!(started(&table, "acme/other").is_empty());
    }

    #[test]
    fn a_pipeline_gantry_routes_names_takes_none_of_its_documents_routes() {
        let registry = Registry::new([shop()]);
        let table = routes(&[static_route("acme/shop-monorepo", "shop")], &registry).unwrap();
        assert_eq!(started(&table, "acme/shop-monorepo"), vec!["shop"]);
        assert!(started(&table, "acme/shop").is_empty());
    }

    #[test]
    fn a_removed_service_routes_nothing() {
        let table = routes(&[], &Registry::new([cart()])).unwrap();
        assert!(started(&table, "acme/shop").is_empty());
        assert_eq!(started(&table, "acme/cart"), vec!["cart"]);
    }

    #[test]
    fn documents_give_their_channel_and_gantry_notify_wins_a_clash() {
        let statics: NotifyConfig = serde_json::from_str(
            r#"{"default_channel": "C0DEPLOYS", "pipelines": {"cart": {"channel": "C0PINNED"}}}"#,
        )
        .unwrap();
        let merged = notify(&statics, &Registry::new([shop(), cart()]));
        let shop = merged.audience("shop");
        assert_eq!(shop.channel.as_deref(), Some("C0SHOP"));
        assert_eq!(shop.verbosity, Verbosity::Actions);
        assert_eq!(merged.channel_for("cart"), Some("C0PINNED"));
        assert_eq!(merged.channel_for("unregistered"), Some("C0DEPLOYS"));
        // A document without `notify`: the default channel at `stages`.
        let bare = notify(&statics, &Registry::new([service("bare", "{}")]));
        assert_eq!(bare.audience("bare").channel.as_deref(), Some("C0DEPLOYS"));
        assert_eq!(bare.audience("bare").verbosity, Verbosity::Stages);
    }

    #[test]
    fn documents_give_their_approvers_and_gantry_approvers_wins_a_clash() {
        let statics =
            ApproverRules::parse(r#"{"cart": {"Prod": {"users": ["U0PINNED"]}}}"#).unwrap();
        let merged = approvers(&statics, &Registry::new([shop(), cart()]));
        assert!(merged.stage("shop", "Prod").unwrap().lists_user("U0LEAD"));
        let cart = merged.stage("cart", "Prod").unwrap();
        assert!(cart.lists_user("U0PINNED") && !cart.lists_user("U0CART"));
        // Deny by default: no document, no static entry, no approver.
        assert!(merged.stage("other", "Prod").is_none());
        assert!(merged.stage("shop", "Staging").is_none());
    }

    #[test]
    fn operators_default_to_the_stages_approvers() {
        let registry = Registry::new([shop(), cart()]);
        let rules = approvers(&ApproverRules::default(), &registry);
        let prod = operators(&registry, &rules, "shop", "Prod").unwrap();
        assert_eq!(prod.users, vec!["U0ONCALL"]);
        let qa = operators(&registry, &rules, "shop", "QA").unwrap();
        assert_eq!(qa.groups, vec!["S0QA"]);
        assert!(qa.users.is_empty());
        assert_eq!(
            operators(&registry, &rules, "cart", "Prod").unwrap().users,
            vec!["U0CART"]
        );
        assert!(operators(&registry, &rules, "shop", "Dev").is_none());
        assert!(operators(&registry, &rules, "other", "Prod").is_none());
    }
}
