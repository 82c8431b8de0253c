//! `template.yaml` checked against the code: each function's environment is exactly what its
//! configuration reads (the core's own list, `Var::need`), each function is built by cargo-lambda
//! from this workspace, and every IAM statement is least privilege.
//!
//! The stages, events and URLs of the resolved template are checked in Python, with SAM's own
//! translator: `tests/template/test_template.py`.

use gantry_core::config::{Function, Need, Var, WebhookConfig};
use gantry_tests::root;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Actions the template may grant on `Resource: "*"`, each for a reason its comment gives:
/// AWS has no resource-level permission for them, or (DescribeAlarms) the resources are named at
/// run time, in the pipeline's UserParameters.
const STAR_ONLY: [&str; 13] = [
    "application-autoscaling:DescribeScalableTargets",
    "codepipeline:GetJobDetails",
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

fn template_text() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml")
}

fn template() -> Value {
    serde_yaml::from_str(&template_text()).expect("template.yaml is YAML")
}

/// A value with any CloudFormation short-form tag (`!Ref`, `!If`…) taken off.
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(t) => untagged(&t.value),
        v => v,
    }
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    untagged(value).as_mapping().and_then(|m| m.get(key))
}

fn resources(template: &Value) -> &Mapping {
    get(template, "Resources")
        .and_then(Value::as_mapping)
        .expect("Resources")
}

/// The `AWS::Serverless::Function` resources, by the binary their Metadata names.
fn functions(template: &Value) -> BTreeMap<String, (String, &Value)> {
    resources(template)
        .iter()
        .filter(|(_, r)| {
            get(r, "Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
        })
        .map(|(id, r)| {
            let id = id.as_str().expect("logical id").to_string();
            let binary = get(r, "Metadata")
                .and_then(|m| get(m, "BuildProperties"))
                .and_then(|b| get(b, "Binary"))
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{id} names no binary in Metadata.BuildProperties"));
            (binary.to_string(), (id, r))
        })
        .collect()
}

/// A function property, or the one `Globals.Function` gives every function.
fn property<'a>(template: &'a Value, function: &'a Value, key: &str) -> Option<&'a Value> {
    get(function, "Properties")
        .and_then(|p| get(p, key))
        .or_else(|| {
            get(template, "Globals")
                .and_then(|g| get(g, "Function"))
                .and_then(|f| get(f, key))
        })
}

/// The names of a function's environment variables: `Globals` merged with its own.
fn environment(template: &Value, function: &Value) -> BTreeSet<String> {
    let names = |env: Option<&Value>| -> Vec<String> {
        env.and_then(|e| get(e, "Variables"))
            .and_then(|v| untagged(v).as_mapping())
            .map(|m| {
                m.keys()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let global = get(template, "Globals")
        .and_then(|g| get(g, "Function"))
        .and_then(|f| get(f, "Environment"));
    let own = get(function, "Properties").and_then(|p| get(p, "Environment"));
    names(global).into_iter().chain(names(own)).collect()
}

/// Every IAM statement in the template (roles, resource policies, inside `!If` too).
fn statements(value: &Value, out: &mut Vec<Mapping>) {
    match untagged(value) {
        Value::Mapping(m) => {
            if m.contains_key("Effect") && (m.contains_key("Action") || m.contains_key("NotAction"))
            {
                out.push(m.clone());
            }
            m.values().for_each(|v| statements(v, out));
        }
        Value::Sequence(s) => s.iter().for_each(|v| statements(v, out)),
        _ => {}
    }
}

fn allow_statements() -> Vec<Mapping> {
    let mut all = Vec::new();
    statements(&Value::Mapping(resources(&template()).clone()), &mut all);
    all.into_iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .collect()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value.map(untagged) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| untagged(v).as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

fn sid(statement: &Mapping) -> String {
    statement
        .get("Sid")
        .and_then(Value::as_str)
        .unwrap_or("(no Sid)")
        .to_string()
}

fn function_of(binary: &str) -> Function {
    Function::ALL
        .into_iter()
        .find(|f| f.name() == binary)
        .unwrap_or_else(|| panic!("template function {binary:?} is not a Gantry function"))
}

#[test]
fn the_template_deploys_the_four_functions_built_by_cargo_lambda_from_this_workspace() {
    let template = template();
    let functions = functions(&template);
    let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        functions.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut sorted = names.clone();
            sorted.sort();
            sorted
        },
        "one template function per Gantry function"
    );
    for (binary, (id, function)) in &functions {
        let metadata = get(function, "Metadata").expect("Metadata");
        assert_eq!(
            get(metadata, "BuildMethod").and_then(Value::as_str),
            Some("rust-cargolambda"),
            "{id}"
        );
        let is = |key: &str, expected: &str| {
            let value = property(&template, function, key).map(untagged);
            assert_eq!(
                value.and_then(Value::as_str),
                Some(expected),
                "{id} ({binary}): {key}"
            );
        };
        // The workspace root: cargo-lambda builds `--bin <Binary>` there, sharing one target dir.
        is("CodeUri", ".");
        is("Runtime", "provided.al2023");
        is("Handler", "bootstrap");
        let architectures = strings(property(&template, function, "Architectures"));
        assert_eq!(architectures, ["arm64"], "{id}: Architectures");
    }
}

#[test]
fn each_function_gets_exactly_the_variables_its_configuration_reads() {
    let template = template();
    let known: BTreeSet<&str> = Var::ALL.iter().map(|v| v.name()).collect();
    let mut problems = Vec::new();
    for (binary, (id, function)) in functions(&template) {
        let f = function_of(&binary);
        let env = environment(&template, function);
        for var in Var::ALL {
            match (var.need(f), env.contains(var.name())) {
                (Some(Need::Required), false) => problems.push(format!(
                    "{id}: lacks {}, which {binary} requires",
                    var.name()
                )),
                (None, true) => problems.push(format!(
                    "{id}: sets {}, which {binary} does not read",
                    var.name()
                )),
                _ => {}
            }
        }
        for name in env.iter().filter(|n| !known.contains(n.as_str())) {
            problems.push(format!(
                "{id}: sets {name}, which no Gantry function reads (not in Var::ALL)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn slack_calls_go_to_slack_itself() {
    // SLACK_API_URL exists for the tests and the demo; in AWS the default (Slack) must apply.
    let template = template();
    for (binary, (_, function)) in functions(&template) {
        assert!(
            !environment(&template, function).contains(Var::SlackApiUrl.name()),
            "{binary} overrides SLACK_API_URL"
        );
    }
}

#[test]
fn each_function_has_a_role_of_its_own_that_only_lambda_assumes() {
    let template = template();
    let mut roles = BTreeSet::new();
    for (binary, (id, function)) in functions(&template) {
        let props = get(function, "Properties").expect("Properties");
        assert!(
            get(props, "Policies").is_none(),
            "{id}: SAM Policies would widen the role; grant in the role itself"
        );
        let role = get(props, "Role")
            .and_then(|r| untagged(r).as_str())
            .and_then(|r| r.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("{id}: Role is not !GetAtt <role>.Arn"))
            .to_string();
        assert!(roles.insert(role.clone()), "{binary} shares {role}");
        let trust = resources(&template)
            .get(role.as_str())
            .and_then(|r| get(r, "Properties"))
            .and_then(|p| get(p, "AssumeRolePolicyDocument"))
            .unwrap_or_else(|| panic!("{role}: no trust policy"));
        let mut trusted = Vec::new();
        statements(trust, &mut trusted);
        for s in trusted {
            let principal = s.get("Principal").and_then(|p| get(p, "Service"));
            assert_eq!(
                strings(principal),
                ["lambda.amazonaws.com"],
                "{role} trusts more than Lambda"
            );
        }
    }
}

#[test]
fn no_statement_allows_a_wildcard_action() {
    let statements = allow_statements();
    assert!(
        statements.len() > 20,
        "found only {} statements",
        statements.len()
    );
    for s in &statements {
        assert!(
            !s.contains_key("NotAction"),
            "{}: Allow with NotAction grants everything else",
            sid(s)
        );
        for action in strings(s.get("Action")) {
            assert!(!action.contains('*'), "{}: allows {action}", sid(s));
        }
    }
}

#[test]
fn resource_star_is_granted_only_where_aws_offers_nothing_narrower() {
    for s in allow_statements() {
        if !strings(s.get("Resource")).iter().any(|r| r == "*") {
            continue;
        }
        for action in strings(s.get("Action")) {
            assert!(
                STAR_ONLY.contains(&action.as_str()),
                "{}: grants {action} on \"*\"; scope it to the ARNs it touches",
                sid(&s)
            );
        }
    }
}

#[test]
fn every_resource_star_has_a_comment_saying_why() {
    let text = template_text();
    let lines: Vec<&str> = text.lines().collect();
    // `Resource: "*"`, alone or with its comment on the same line.
    let star = |l: &str| {
        let rest = l.trim().strip_prefix("Resource: ");
        let rest = rest.and_then(|r| r.strip_prefix(r#""*""#).or_else(|| r.strip_prefix("'*'")));
        rest.is_some_and(|r| r.trim().is_empty() || r.trim_start().starts_with('#'))
    };
    let comment = |l: &str| l.split_once('#').is_some_and(|(_, c)| c.trim().len() > 20);
    let mut unexplained = Vec::new();
    let mut found = 0;
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| star(l)) {
        found += 1;
        let indent = line.len() - line.trim_start().len();
        // The statement starts at the list item ("- ") that holds this Resource key.
        let start = (0..i)
            .rev()
            .find(|&j| {
                let l = lines[j];
                l.trim_start().starts_with("- ") && l.len() - l.trim_start().len() < indent
            })
            .expect("a statement around Resource");
        // Its comment: inside the statement, or the comment lines right above it.
        let above = (0..start)
            .rev()
            .take_while(|&j| lines[j].trim_start().starts_with('#'))
            .count();
        let explained = lines[start - above..=i]
            .iter()
            .any(|l| (l.trim_start().starts_with('#') || star(l)) && comment(l));
        if !explained {
            unexplained.push(format!("line {}: {}", i + 1, lines[start].trim()));
        }
    }
    assert!(
        unexplained.is_empty(),
        "Resource \"*\" without a comment saying why:\n{}",
        unexplained.join("\n")
    );
    // Every statement granting "*" was found by the text scan (none hides in flow style).
    let granted = allow_statements()
        .iter()
        .filter(|s| strings(s.get("Resource")).iter().any(|r| r == "*"))
        .count();
    assert_eq!(
        found, granted,
        "a Resource \"*\" is written in another form"
    );
}

/// Each function's environment as Lambda would receive it, resolved offline by SAM's translator
/// with the sample answers of `tests/template/resolve.py`.
fn resolved_environment() -> HashMap<String, HashMap<String, String>> {
    let python = std::env::var_os("GANTRY_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(root().join("tests/template/resolve.py"))
        .arg("env")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/bootstrap.sh)", python.display()));
    assert!(
        out.status.success(),
        "resolve.py env: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("resolve.py prints JSON")
}

#[test]
fn the_generated_configuration_is_accepted_by_the_functions() {
    let env = resolved_environment();
    let webhook = WebhookConfig::from_env(&env["webhook"]).expect("webhook configuration");
    // The hub names no service: its static routes are empty, services come from the registry.
    assert!(webhook.routes.routes().is_empty());
    for (binary, vars) in &env {
        for var in [Var::Notify, Var::Approvers] {
            if let Some(text) = vars.get(var.name()) {
                serde_json::from_str::<serde_json::Value>(text)
                    .unwrap_or_else(|e| panic!("{binary}: {} is not JSON: {e}", var.name()));
            }
        }
    }
}
