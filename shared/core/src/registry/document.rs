//! One service's document, `{GANTRY_SERVICES_PATH}<pipeline>`, parsed and checked. Every error
//! names the parameter and the field, so the log line (and the alarm it feeds) says what to fix.

use crate::config::approvers::{self, ApproverRules, StageApprovers};
use crate::config::{PipelineNotify, Verbosity};
use crate::ingest::push::Provider;
use crate::ingest::routing::{RouteSpec, RouteTable};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A service document that cannot be used: the service is skipped, the others are not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service document {parameter} is invalid at `{field}`: {reason}")]
pub struct DocumentError {
    /// The parameter's full name, as Parameter Store shows it.
    pub parameter: String,
    /// Where in the document: `routes[1].branches`, `approvers.Prod`, `(document)`, …
    pub field: String,
    pub reason: String,
}

/// Who may run a stage's operations from Slack (the `/gantry` commands of a later issue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageOperators {
    /// Slack user ids (`U…`, `W…`).
    #[serde(default)]
    pub users: Vec<String>,
    /// Slack user group ids (`S…`).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One service, as its document declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The pipeline: the parameter's last segment.
    pub pipeline: String,
    /// Its routes, each naming `pipeline`.
    pub routes: Vec<RouteSpec>,
    /// Absent: the default channel at `stages`.
    pub notify: Option<PipelineNotify>,
    /// By stage; absent: no approval from Slack.
    pub approvers: BTreeMap<String, StageApprovers>,
    /// By stage; a stage absent here falls back to its approvers.
    pub operators: BTreeMap<String, StageOperators>,
}

/// A route as a service document writes it: a `GANTRY_ROUTES` route without `pipeline`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRoute {
    provider: Provider,
    repository: String,
    #[serde(default)]
    branches: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    ignore_paths: Vec<String>,
    source_action: String,
}

/// The pipeline a parameter configures: its last segment.
pub fn pipeline_of(parameter: &str) -> &str {
    parameter.rsplit('/').next().unwrap_or(parameter)
}

impl Service {
    /// Parses and checks the document `text` of `parameter`.
    pub fn parse(parameter: &str, text: &str) -> Result<Service, DocumentError> {
        match serde_json::from_str(text) {
            Ok(value) => Service::from_document(parameter, value),
            Err(e) => Err(DocumentError {
                parameter: parameter.to_string(),
                field: "(document)".into(),
                reason: e.to_string(),
            }),
        }
    }

    /// Checks the document `value` of `parameter`, already parsed as JSON (a view's entry).
    pub fn from_document(parameter: &str, value: Value) -> Result<Service, DocumentError> {
        let fail = |field: &str, reason: String| DocumentError {
            parameter: parameter.to_string(),
            field: field.to_string(),
            reason,
        };
        let pipeline = pipeline_of(parameter).to_string();
        if !crate::ingest::routing::is_pipeline_name(&pipeline) {
            return Err(fail(
                "(name)",
                format!("{pipeline:?} is not a CodePipeline name (1-100 of A-Z a-z 0-9 . @ - _)"),
            ));
        }
        let document: Map<String, Value> = match value {
            Value::Object(map) => map,
            _ => return Err(fail("(document)", "expected a JSON object".into())),
        };
        // A misspelt key would silently mean "no approvers" or "default channel": refuse it.
        if let Some(key) = document
            .keys()
            .find(|k| !["routes", "notify", "approvers", "operators"].contains(&k.as_str()))
        {
            return Err(fail(
                key,
                "unknown field (expected routes, notify, approvers, operators)".into(),
            ));
        }
        let mut routes: Vec<RouteSpec> = match document.get("routes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    route(&pipeline, item).map_err(|e| fail(&format!("routes[{i}]"), e))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail("routes", "expected an array of routes".into())),
        };
        // Collected through `Result`, the vector starts at four routes' room: most services have
        // one, and a warm function holds every service's.
        routes.shrink_to_fit();
        let notify = match document.get("notify") {
            None | Some(Value::Null) => None,
            Some(value) => Some(notify(value).map_err(|(field, e)| fail(&field, e))?),
        };
        let approvers: BTreeMap<String, StageApprovers> =
            section(&document, "approvers").map_err(|(field, e)| fail(&field, e))?;
        ApproverRules::from_pipelines(BTreeMap::from([(pipeline.clone(), approvers.clone())]))
            .validate()
            .map_err(|e| {
                // The rules say `<pipeline>/<stage>: …`; the document knows it as `approvers.<stage>`.
                let e = e.strip_prefix(&format!("{pipeline}/")).unwrap_or(&e);
                let (stage, reason) = e.split_once(": ").unwrap_or(("", e));
                fail(&format!("approvers.{stage}"), reason.to_string())
            })?;
        let operators: BTreeMap<String, StageOperators> =
            section(&document, "operators").map_err(|(field, e)| fail(&field, e))?;
        for (stage, who) in &operators {
            let field = format!("operators.{stage}");
            if let Some(u) = who.users.iter().find(|u| !approvers::is_user_id(u)) {
                return Err(fail(
                    &field,
                    format!("{u:?} is not a Slack user id (U… or W…)"),
                ));
            }
            if let Some(g) = who.groups.iter().find(|g| !approvers::is_group_id(g)) {
                return Err(fail(
                    &field,
                    format!("{g:?} is not a Slack user group id (S…)"),
                ));
            }
        }
        Ok(Service {
            pipeline,
            routes,
            notify,
            approvers,
            operators,
        })
    }
}

/// One route, checked as `GANTRY_ROUTES` checks its routes (globs, refs, source action).
fn route(pipeline: &str, item: &Value) -> Result<RouteSpec, String> {
    let r = ServiceRoute::deserialize(item).map_err(|e| e.to_string())?;
    let spec = RouteSpec {
        provider: r.provider,
        repository: r.repository,
        branches: r.branches,
        tags: r.tags,
        paths: r.paths,
        ignore_paths: r.ignore_paths,
        pipeline: pipeline.to_string(),
        source_action: r.source_action,
    };
    RouteTable::compile_each([&spec])
        .map_err(|e| e.strip_prefix("route 0: ").unwrap_or(&e).to_string())?;
    Ok(spec)
}

/// `notify`: `channel` and `verbosity`, nothing else (unlike `GANTRY_NOTIFY`, which other
/// functions share, a document is read by Gantry alone, so a stray key is a mistake).
fn notify(value: &Value) -> Result<PipelineNotify, (String, String)> {
    let Value::Object(map) = value else {
        return Err(("notify".into(), "expected an object".into()));
    };
    if let Some(key) = map.keys().find(|k| *k != "channel" && *k != "verbosity") {
        return Err((
            format!("notify.{key}"),
            "unknown field (expected channel, verbosity)".into(),
        ));
    }
    let channel = match map.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if !c.trim().is_empty() => Some(c.trim().to_string()),
        Some(_) => {
            return Err((
                "notify.channel".into(),
                "expected a Slack channel id".into(),
            ))
        }
    };
    let verbosity = match map.get("verbosity") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            Verbosity::deserialize(v)
                .map_err(|e| ("notify.verbosity".to_string(), e.to_string()))?,
        ),
    };
    Ok(PipelineNotify { channel, verbosity })
}

/// A section keyed by stage (`approvers`, `operators`); absent is empty. The error names the
/// stage.
fn section<T: for<'de> Deserialize<'de>>(
    document: &Map<String, Value>,
    name: &str,
) -> Result<BTreeMap<String, T>, (String, String)> {
    let stages = match document.get(name) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(stages)) => stages,
        Some(_) => return Err((name.into(), "expected an object keyed by stage".into())),
    };
    stages
        .iter()
        .map(|(stage, v)| {
            T::deserialize(v)
                .map(|t| (stage.clone(), t))
                .map_err(|e| (format!("{name}.{stage}"), e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "/gantry/services/shop";

    /// The contract's example document.
    const DOCUMENT: &str = r#"{"routes": [{"provider": "github", "repository": "acme/shop", "branches": ["main"], "tags": [],
             "paths": [], "ignore_paths": [], "source_action": "Source"}],
 "notify": {"channel": "C0SHOP", "verbosity": "stages"},
 "approvers": {"Prod": {"users": ["U0LEAD"], "groups": ["S0RELEASE"], "four_eyes": true}},
 "operators": {"Prod": {"users": ["U0ONCALL"], "groups": []}}}"#;

    fn field_of(text: &str) -> String {
        Service::parse(SHOP, text).unwrap_err().field
    }

    #[test]
    fn the_documented_shape_parses_with_the_pipeline_from_the_name() {
        let s = Service::parse(SHOP, DOCUMENT).unwrap();
        assert_eq!(s.pipeline, "shop");
        assert_eq!(s.routes.len(), 1);
        assert_eq!(s.routes[0].pipeline, "shop");
        assert_eq!(s.routes[0].repository, "acme/shop");
        let notify = s.notify.unwrap();
        assert_eq!(notify.channel.as_deref(), Some("C0SHOP"));
        assert_eq!(notify.verbosity, Some(Verbosity::Stages));
        assert!(s.approvers["Prod"].four_eyes);
        assert_eq!(s.operators["Prod"].users, vec!["U0ONCALL"]);
    }

    #[test]
    fn an_empty_document_is_a_service_with_nothing_configured() {
        let s = Service::parse(SHOP, "{}").unwrap();
        assert!(s.routes.is_empty() && s.notify.is_none());
        assert!(s.approvers.is_empty() && s.operators.is_empty());
    }

    #[test]
    fn errors_name_the_parameter_and_the_field() {
        let err = Service::parse(
            SHOP,
            r#"{"routes": [{"provider": "github", "repository": "a/b", "branches": ["main"], "source_action": "Source"},
                           {"provider": "github", "repository": "a/b", "source_action": "Source"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.parameter, SHOP);
        assert_eq!(err.field, "routes[1]");
        let text = err.to_string();
        assert!(text.contains(SHOP) && text.contains("routes[1]"), "{text}");
        assert!(text.contains("neither branches nor tags"), "{text}");
    }

    #[test]
    fn each_kind_of_mistake_is_placed() {
        for (text, field) in [
            ("not json", "(document)"),
            ("[]", "(document)"),
            (r#"{"approver": {}}"#, "approver"),
            (r#"{"routes": {}}"#, "routes"),
            (
                r#"{"routes": [{"provider": "github", "repository": "a/b", "branches": ["main"], "source_action": "Source", "pipeline": "other"}]}"#,
                "routes[0]",
            ),
            (
                r#"{"routes": [{"provider": "github", "repository": "a/b", "branches": ["[oops"], "source_action": "Source"}]}"#,
                "routes[0]",
            ),
            (
                r#"{"notify": {"channel": "C1", "verbosity": "loud"}}"#,
                "notify.verbosity",
            ),
            (r#"{"notify": {"chanel": "C1"}}"#, "notify.chanel"),
            (r#"{"notify": {"channel": ""}}"#, "notify.channel"),
            (
                r#"{"approvers": {"Prod": {"users": ["jane"]}}}"#,
                "approvers.Prod",
            ),
            (
                r#"{"approvers": {"Prod": {"user": ["U1"]}}}"#,
                "approvers.Prod",
            ),
            (r#"{"approvers": ["U1"]}"#, "approvers"),
            (
                r#"{"operators": {"Prod": {"groups": ["@oncall"]}}}"#,
                "operators.Prod",
            ),
            (
                r#"{"operators": {"Prod": {"users": ["jane"]}}}"#,
                "operators.Prod",
            ),
        ] {
            assert_eq!(field_of(text), field, "{text}");
        }
    }

    #[test]
    fn a_name_that_is_no_pipeline_name_is_refused() {
        let err = Service::parse("/gantry/services/shop front", "{}").unwrap_err();
        assert_eq!(err.field, "(name)");
    }
}
