//! Who may operate what: the services Gantry knows, their stages, and each stage's operators
//! (the registry's `operators`, by default the stage's approvers).

use crate::approval::{ApproverRules, StageApprovers};
use std::collections::{BTreeMap, BTreeSet};

/// The operators of one stage: who may roll it back or restart it, and deploy the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// The stage's four-eyes rule: a rollback or restart needs a second operator's Confirm.
    pub four_eyes: bool,
}

impl Operators {
    /// A stage's approvers, as its operators (what a registry document without `operators` means).
    pub fn of_approvers(rule: &StageApprovers) -> Self {
        Operators {
            users: rule.users.clone(),
            groups: rule.groups.clone(),
            four_eyes: rule.four_eyes,
        }
    }

    /// Who may act, as Slack shows it: `<@U…>, <!subteam^S…>`.
    pub fn mentions(&self) -> String {
        let users = self.users.iter().map(|u| format!("<@{u}>"));
        let groups = self.groups.iter().map(|g| format!("<!subteam^{g}>"));
        let all: Vec<String> = users.chain(groups).collect();
        if all.is_empty() {
            "nobody".into()
        } else {
            all.join(", ")
        }
    }
}

/// One service (a pipeline) as the slash command sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatedService {
    pub pipeline: String,
    /// The source action whose revision `deploy` pins.
    pub source_action: String,
    /// The stages that have operators, by name.
    pub operators: BTreeMap<String, Operators>,
}

impl OperatedService {
    /// Everyone who operates any stage: who may `deploy` the service (its approval gates
    /// still decide whether the commit reaches a stage).
    pub fn deployers(&self) -> Operators {
        let mut users = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for o in self.operators.values() {
            users.extend(o.users.iter().cloned());
            groups.extend(o.groups.iter().cloned());
        }
        Operators {
            users: users.into_iter().collect(),
            groups: groups.into_iter().collect(),
            four_eyes: false,
        }
    }
}

/// The port: the services, their stages, approvers and operators. Bound to the static
/// configuration (`GANTRY_APPROVERS`, operators = approvers) by `StaticServices`, and to the
/// service registry where there is one.
pub trait ServiceCatalog {
    /// Every service's pipeline name, sorted.
    fn names(&self) -> Vec<String>;
    /// One service, if Gantry knows it.
    fn service(&self, pipeline: &str) -> Option<OperatedService>;
}

/// The source action `deploy` pins when the configuration names none.
pub const DEFAULT_SOURCE_ACTION: &str = "Source";

/// `ServiceCatalog` from `GANTRY_APPROVERS`: each stage's operators are its approvers.
#[derive(Debug, Clone, Default)]
pub struct StaticServices {
    services: BTreeMap<String, OperatedService>,
}

impl StaticServices {
    pub fn from_approvers(rules: &ApproverRules) -> Self {
        let services = rules
            .pipelines()
            .map(|(pipeline, stages)| {
                let operators = stages
                    .iter()
                    .map(|(stage, rule)| (stage.clone(), Operators::of_approvers(rule)))
                    .collect();
                let service = OperatedService {
                    pipeline: pipeline.clone(),
                    source_action: DEFAULT_SOURCE_ACTION.into(),
                    operators,
                };
                (pipeline.clone(), service)
            })
            .collect();
        StaticServices { services }
    }

    /// The services of the static configuration and the service registry: `approvers` are the
    /// merged approvers (`registry::approvers`), and a stage's operators are its document's
    /// `operators` where it names them, else that stage's approvers (`registry::operators`).
    pub fn from_registry(approvers: &ApproverRules, registry: &crate::registry::Registry) -> Self {
        let mut known = Self::from_approvers(approvers);
        for document in registry.services() {
            let service = known
                .services
                .entry(document.pipeline.clone())
                .or_insert_with(|| OperatedService {
                    pipeline: document.pipeline.clone(),
                    source_action: DEFAULT_SOURCE_ACTION.into(),
                    operators: BTreeMap::new(),
                });
            if let Some(route) = document.routes.first() {
                service.source_action = route.source_action.clone();
            }
            let stages: BTreeSet<String> = service
                .operators
                .keys()
                .chain(document.operators.keys())
                .cloned()
                .collect();
            for stage in stages {
                let Some(named) =
                    crate::registry::operators(registry, approvers, &document.pipeline, &stage)
                else {
                    continue;
                };
                let four_eyes = approvers
                    .stage(&document.pipeline, &stage)
                    .is_some_and(|rule| rule.four_eyes);
                service.operators.insert(
                    stage,
                    Operators {
                        users: named.users,
                        groups: named.groups,
                        four_eyes,
                    },
                );
            }
        }
        known
    }
}

impl ServiceCatalog for StaticServices {
    fn names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    fn service(&self, pipeline: &str) -> Option<OperatedService> {
        self.services.get(pipeline).cloned()
    }
}

/// Whether a user may act: listed, or in one of the groups (`member_of`, resolved by the caller).
pub fn may_act(operators: &Operators, user: &str, member_of: &BTreeSet<String>) -> bool {
    operators.users.iter().any(|u| u == user)
        || operators.groups.iter().any(|g| member_of.contains(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> StaticServices {
        let rules = ApproverRules::parse(
            r#"{"shop": {"Prod": {"users": ["U0LEAD"], "groups": ["S0REL"], "four_eyes": true},
                         "Staging": {"users": ["U0DEV"]}}}"#,
        )
        .unwrap();
        StaticServices::from_approvers(&rules)
    }

    #[test]
    fn operators_default_to_the_approvers() {
        let shop = catalog().service("shop").unwrap();
        let prod = &shop.operators["Prod"];
        assert!(prod.four_eyes);
        assert!(may_act(prod, "U0LEAD", &BTreeSet::new()));
        assert!(!may_act(prod, "U0DEV", &BTreeSet::new()));
        assert!(may_act(
            prod,
            "U0MIA",
            &BTreeSet::from(["S0REL".to_string()])
        ));
        assert_eq!(prod.mentions(), "<@U0LEAD>, <!subteam^S0REL>");
        assert_eq!(shop.source_action, "Source");
        assert_eq!(catalog().names(), vec!["shop"]);
        assert!(catalog().service("cart").is_none());
    }

    #[test]
    fn anyone_who_operates_a_stage_may_deploy() {
        let d = catalog().service("shop").unwrap().deployers();
        assert!(may_act(&d, "U0DEV", &BTreeSet::new()));
        assert!(may_act(&d, "U0LEAD", &BTreeSet::new()));
        assert!(!may_act(&d, "U0STRANGER", &BTreeSet::new()));
    }
}
