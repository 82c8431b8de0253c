//! Test-only: `Var::need` is the one list the template test checks every function's environment
//! against, so it must say exactly what each function's configuration reads. These tests hold it
//! to the code: they record the variables each `from_env` asks for.

use super::*;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

/// A valid value for every variable, and a record of the names asked for.
struct Recording {
    values: HashMap<&'static str, &'static str>,
    asked: RefCell<BTreeSet<String>>,
}

impl Recording {
    fn all_set() -> Self {
        Self::without(None)
    }

    fn without(missing: Option<Var>) -> Self {
        let mut values = HashMap::new();
        for var in Var::ALL {
            if Some(var) != missing {
                values.insert(var.name(), valid_value(var));
            }
        }
        Self {
            values,
            asked: RefCell::default(),
        }
    }
}

impl Env for Recording {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_string());
        self.values.get(name).map(|v| v.to_string())
    }
}

fn valid_value(var: Var) -> &'static str {
    match var {
        Var::SecretsArn => "arn:aws:secretsmanager:us-east-1:123456789012:secret:gantry",
        Var::Table => "gantry",
        Var::Routes => {
            r#"[{"provider":"github","repository":"o/r","branches":["main"],"pipeline":"p","source_action":"Source"}]"#
        }
        Var::TopicArn => "arn:aws:sns:us-east-1:123456789012:gantry",
        Var::Notify => r#"{"default_channel":"C0DEPLOYS"}"#,
        Var::Approvers => r#"{"shop":{"Prod":{"users":["U0ALLOWED"]}}}"#,
        Var::SlackApiUrl => "http://127.0.0.1:9/api",
        Var::MaxBodyBytes => "1024",
        Var::RetryQueueUrl => "https://sqs.us-east-1.amazonaws.com/123456789012/gantry-retry",
        Var::People => r#"{"github:mona":"U0MONA"}"#,
        Var::AnalysisSettleSeconds => "-60",
        Var::OrphanAfterSeconds => "900",
        Var::ServicesPath => "/gantry/services/",
    }
}

/// Runs `function`'s configuration loader; `Err` carries the message.
fn load(function: Function, env: &Recording) -> Result<(), String> {
    let result = match function {
        Function::Webhook => WebhookConfig::from_env(env).map(drop),
        Function::Notifier => NotifierConfig::from_env(env).map(drop),
        Function::Approval => ApprovalConfig::from_env(env).map(drop),
        Function::TrafficShifter => TrafficShifterConfig::from_env(env).map(drop),
    };
    result.map_err(|e| e.to_string())
}

#[test]
fn each_function_reads_exactly_the_variables_the_list_gives_it() {
    for function in Function::ALL {
        let env = Recording::all_set();
        load(function, &env).unwrap_or_else(|e| panic!("{function:?}: {e}"));
        let listed: BTreeSet<String> = Var::read_by(function)
            .into_iter()
            .map(|(v, _)| v.name().to_string())
            .collect();
        // Lambda itself sets its `AWS_LAMBDA_*` variables; the list is what the template sets.
        let asked: BTreeSet<String> = env
            .asked
            .borrow()
            .iter()
            .filter(|name| !name.starts_with("AWS_LAMBDA_"))
            .cloned()
            .collect();
        assert_eq!(asked, listed, "{function:?}");
    }
}

#[test]
fn required_variables_are_required_and_optional_ones_are_not() {
    for function in Function::ALL {
        for (var, need) in Var::read_by(function) {
            let result = load(function, &Recording::without(Some(var)));
            match need {
                Need::Required => {
                    let err = result.expect_err(var.name());
                    assert!(err.contains(var.name()), "{function:?}: {err}");
                }
                Need::Optional => {
                    assert_eq!(result, Ok(()), "{function:?} without {}", var.name())
                }
            }
        }
    }
}
