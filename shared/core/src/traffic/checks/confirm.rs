//! Is this invocation's job one CodePipeline issued, to this function, with these parameters?
//!
//! Anyone allowed `lambda:InvokeFunction` can hand the shifter a `CodePipeline.job` event with a
//! made-up job id, or a real job's id with other `UserParameters` (another image, no approval).
//! So before anything moves, the shifter believes only what CodePipeline itself says: the job
//! exists and carries exactly these parameters and this continuation token (`GetJobDetails`), it
//! belongs to a running execution (`GetPipelineExecution`), and the pipeline declares that
//! action as a Lambda invoke of this function whose `UserParameters`, once CodePipeline has
//! resolved its `#{…}` variables, are the ones received (`GetPipeline`). AWS documents
//! `GetJobDetails` for custom actions, so the declaration and the execution are checked too,
//! and a pipeline may also name its execution in the parameters (`"execution_id":
//! "#{codepipeline.PipelineExecutionId}"`), which must then be the job's. When the answer
//! names no execution (`pipelineExecutionId` is optional), that parameter names it; when
//! neither does, the job is failed saying what to add (`check_placed`).
//!
//! These are pure checks over what the ports read; `flow` calls them first.

use crate::traffic::setup::job::{Job, PipelineContext};

/// What CodePipeline says about a job (`GetJobDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuedJob {
    /// `pipelineContext`. AWS documents `pipelineExecutionId` there as optional (the call is
    /// documented for custom actions): `execution_id` is empty when the answer has none.
    pub context: Option<PipelineContext>,
    /// The action type's provider (`Lambda` for a Lambda invoke action).
    pub provider: Option<String>,
    /// The action's `UserParameters`, variables resolved.
    pub user_parameters: Option<String>,
    pub continuation_token: Option<String>,
}

/// An action as the pipeline declares it (`GetPipeline`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeDeclaration {
    pub provider: String,
    pub function_name: Option<String>,
    /// As written in the declaration, `#{…}` variables unresolved.
    pub user_parameters: Option<String>,
}

/// Why an invocation's job is not one to act on. Nothing moves, and nothing is reported to
/// CodePipeline (the job is not one it issued for these parameters; failing a real job on a
/// forged invocation would let anyone who can invoke the function stop deployments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forged {
    #[error("CodePipeline has no job {job}: the invocation was not sent by CodePipeline")]
    UnknownJob { job: String },
    #[error("CodePipeline does not say which pipeline job {job} belongs to")]
    NoContext { job: String },
    #[error("job {job} is not a Lambda invoke action's job")]
    NotLambda { job: String },
    #[error(
        "the invocation's UserParameters differ from the ones CodePipeline holds for job {job}"
    )]
    ParametersDiffer { job: String },
    #[error(
        "the invocation's continuation token differs from the one CodePipeline holds for job {job}"
    )]
    TokenDiffers { job: String },
    #[error("{pipeline} declares no Lambda invoke action {stage}/{action}")]
    NotDeclared {
        pipeline: String,
        stage: String,
        action: String,
    },
    #[error("{pipeline}'s action {stage}/{action} invokes another function ({declared})")]
    OtherFunction {
        pipeline: String,
        stage: String,
        action: String,
        declared: String,
    },
    #[error("the UserParameters do not fit {pipeline}'s declaration of {stage}/{action}")]
    NotAsDeclared {
        pipeline: String,
        stage: String,
        action: String,
    },
    #[error("the UserParameters name execution {named}, but the job belongs to {actual}")]
    OtherExecution { named: String, actual: String },
    #[error("execution {execution} of {pipeline} is {status}, not in progress")]
    NotInProgress {
        pipeline: String,
        execution: String,
        status: String,
    },
}

/// Checks the invocation against CodePipeline's record of the job (`None`: CodePipeline has
/// no such job); gives the job's place in its pipeline.
pub fn check_issued(job: &Job, issued: Option<&IssuedJob>) -> Result<PipelineContext, Forged> {
    let id = || job.id.clone();
    let issued = issued.ok_or_else(|| Forged::UnknownJob { job: id() })?;
    if issued.provider.as_deref().is_some_and(|p| p != "Lambda") {
        return Err(Forged::NotLambda { job: id() });
    }
    if issued.user_parameters.as_deref().unwrap_or_default() != job.user_parameters {
        return Err(Forged::ParametersDiffer { job: id() });
    }
    if issued.continuation_token != job.continuation_token {
        return Err(Forged::TokenDiffers { job: id() });
    }
    let mut context = issued
        .context
        .clone()
        .filter(|c| !c.pipeline.is_empty())
        .ok_or_else(|| Forged::NoContext { job: id() })?;
    match named_execution(&job.user_parameters) {
        Some(named) if context.execution_id.is_empty() => {
            // CodePipeline resolved `#{codepipeline.PipelineExecutionId}` into the parameters
            // it holds for the job (just compared with these): its own word for the execution.
            context.execution_id = named;
        }
        Some(named) if named != context.execution_id => {
            return Err(Forged::OtherExecution {
                named,
                actual: context.execution_id,
            });
        }
        _ => {}
    }
    Ok(context)
}

/// Why a job CodePipeline confirmed cannot be placed in an execution (the job is failed at
/// once, saying what to add, rather than left to run into the action's timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "CodePipeline's job details for {pipeline} {stage}/{action} do not name the pipeline execution, \
     and the UserParameters name none: add \"execution_id\": \"#{{codepipeline.PipelineExecutionId}}\" \
     to the action's UserParameters"
)]
pub struct NoExecution {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
}

/// The execution the job belongs to must be known (from `GetJobDetails`, else from the
/// parameters' `execution_id`): Gantry checks that it runs, and threads its Slack progress
/// and records by it.
pub fn check_placed(context: &PipelineContext) -> Result<(), NoExecution> {
    if context.execution_id.is_empty() {
        return Err(NoExecution {
            pipeline: context.pipeline.clone(),
            stage: context.stage.clone(),
            action: context.action.clone(),
        });
    }
    Ok(())
}

/// Checks the job against the pipeline's declaration of its action (`None`: not declared).
/// `own_function`: this function's name (`AWS_LAMBDA_FUNCTION_NAME`), when known.
pub fn check_declared(
    job: &Job,
    context: &PipelineContext,
    declared: Option<&InvokeDeclaration>,
    own_function: Option<&str>,
) -> Result<(), Forged> {
    let (pipeline, stage, action) = (
        context.pipeline.clone(),
        context.stage.clone(),
        context.action.clone(),
    );
    let Some(declared) = declared.filter(|d| d.provider == "Lambda") else {
        return Err(Forged::NotDeclared {
            pipeline,
            stage,
            action,
        });
    };
    if let (Some(name), Some(own)) = (declared.function_name.as_deref(), own_function) {
        if !names_function(name, own) {
            return Err(Forged::OtherFunction {
                pipeline,
                stage,
                action,
                declared: name.to_string(),
            });
        }
    }
    let pattern = declared.user_parameters.as_deref().unwrap_or_default();
    if !fits_declaration(pattern, &job.user_parameters) {
        return Err(Forged::NotAsDeclared {
            pipeline,
            stage,
            action,
        });
    }
    Ok(())
}

/// The job's execution must still be running (`status` from `GetPipelineExecution`; `None`
/// when CodePipeline could not say, which is no evidence either way).
pub fn check_running(context: &PipelineContext, status: Option<&str>) -> Result<(), Forged> {
    match status {
        None | Some("InProgress") => Ok(()),
        Some(other) => Err(Forged::NotInProgress {
            pipeline: context.pipeline.clone(),
            execution: context.execution_id.clone(),
            status: other.to_string(),
        }),
    }
}

/// Whether `resolved` is what CodePipeline makes of `declared`: the text between `#{…}`
/// variables is the same, in order; each variable stands for any text.
pub fn fits_declaration(declared: &str, resolved: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = declared;
    while let Some(start) = rest.find("#{") {
        match rest[start..].find('}') {
            Some(end) => {
                literals.push(&rest[..start]);
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    literals.push(rest);
    let Some((first, others)) = literals.split_first() else {
        return false;
    };
    let Some(mut tail) = resolved.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = others.split_last() else {
        return tail.is_empty();
    };
    for literal in middle {
        match tail.find(literal) {
            Some(at) => tail = &tail[at + literal.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// The execution a pipeline named in the parameters (`execution_id`), if it did.
fn named_execution(user_parameters: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(user_parameters).ok()?;
    value.get("execution_id")?.as_str().map(str::to_string)
}

/// Whether a declared `FunctionName` (a name, a partial or full ARN, possibly qualified with
/// a version or alias) names the function called `own`.
fn names_function(declared: &str, own: &str) -> bool {
    if declared == own {
        return true;
    }
    let parts: Vec<&str> = declared.split(':').collect();
    // name:qualifier, …:function:name, …:function:name:qualifier
    match parts.iter().position(|p| *p == "function") {
        Some(at) => parts.get(at + 1) == Some(&own),
        None => parts.first() == Some(&own) && parts.len() == 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(params: &str, token: Option<&str>) -> Job {
        Job {
            id: "job-1".into(),
            user_parameters: params.into(),
            continuation_token: token.map(str::to_string),
            input_artifacts: vec![],
            credentials: None,
        }
    }

    fn context() -> PipelineContext {
        PipelineContext {
            pipeline: "shop".into(),
            stage: "Prod".into(),
            action: "Deploy".into(),
            execution_id: "exec-1".into(),
        }
    }

    fn issued(params: &str) -> IssuedJob {
        IssuedJob {
            context: Some(context()),
            provider: Some("Lambda".into()),
            user_parameters: Some(params.into()),
            continuation_token: None,
        }
    }

    fn declared(params: &str) -> InvokeDeclaration {
        InvokeDeclaration {
            provider: "Lambda".into(),
            function_name: Some("gantry-traffic-shifter".into()),
            user_parameters: Some(params.into()),
        }
    }

    #[test]
    fn a_job_codepipeline_does_not_know_is_forged() {
        let err = check_issued(&job("{}", None), None).unwrap_err();
        assert_eq!(
            err,
            Forged::UnknownJob {
                job: "job-1".into()
            }
        );
    }

    #[test]
    fn a_real_job_with_other_parameters_is_forged() {
        let real = issued(r#"{"image":"shop:1"}"#);
        let err = check_issued(&job(r#"{"image":"evil:1"}"#, None), Some(&real)).unwrap_err();
        assert!(matches!(err, Forged::ParametersDiffer { .. }));
        assert!(check_issued(&job(r#"{"image":"shop:1"}"#, None), Some(&real)).is_ok());
    }

    #[test]
    fn a_continuation_token_codepipeline_did_not_hand_over_is_forged() {
        let mut real = issued("{}");
        real.continuation_token = Some("t1".into());
        let err = check_issued(&job("{}", Some("t2")), Some(&real)).unwrap_err();
        assert!(matches!(err, Forged::TokenDiffers { .. }));
        let err = check_issued(&job("{}", None), Some(&real)).unwrap_err();
        assert!(matches!(err, Forged::TokenDiffers { .. }));
        assert_eq!(
            check_issued(&job("{}", Some("t1")), Some(&real)),
            Ok(context())
        );
    }

    #[test]
    fn another_action_types_job_or_one_without_a_pipeline_is_refused() {
        let mut custom = issued("{}");
        custom.provider = Some("MyCustomAction".into());
        assert!(matches!(
            check_issued(&job("{}", None), Some(&custom)),
            Err(Forged::NotLambda { .. })
        ));
        let mut loose = issued("{}");
        loose.context = None;
        assert!(matches!(
            check_issued(&job("{}", None), Some(&loose)),
            Err(Forged::NoContext { .. })
        ));
    }

    #[test]
    fn parameters_naming_another_execution_are_refused() {
        let params = r#"{"execution_id":"exec-0"}"#;
        assert_eq!(
            check_issued(&job(params, None), Some(&issued(params))),
            Err(Forged::OtherExecution {
                named: "exec-0".into(),
                actual: "exec-1".into()
            })
        );
        let params = r#"{"execution_id":"exec-1"}"#;
        assert!(check_issued(&job(params, None), Some(&issued(params))).is_ok());
    }

    #[test]
    fn without_an_execution_in_the_job_details_the_parameters_name_it() {
        let params = r#"{"execution_id":"exec-7"}"#;
        let mut real = issued(params);
        if let Some(c) = real.context.as_mut() {
            c.execution_id = String::new();
        }
        let context = check_issued(&job(params, None), Some(&real)).unwrap();
        assert_eq!(context.execution_id, "exec-7");
        assert_eq!(check_placed(&context), Ok(()));
    }

    #[test]
    fn without_an_execution_anywhere_the_job_cannot_be_placed_and_says_what_to_add() {
        let mut real = issued("{}");
        if let Some(c) = real.context.as_mut() {
            c.execution_id = String::new();
        }
        let unplaced = check_issued(&job("{}", None), Some(&real)).unwrap();
        let err = check_placed(&unplaced).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(r##""execution_id": "#{codepipeline.PipelineExecutionId}""##)
                && message.contains("shop Prod/Deploy"),
            "{message}"
        );
        assert_eq!(check_placed(&context()), Ok(()));
    }

    #[test]
    fn resolved_variables_fit_their_declaration_and_other_text_does_not() {
        let declared = r##"{"image":"shop:#{Build.TAG}","cluster":"prod","x":"#{a.b}#{c.d}"}"##;
        assert!(fits_declaration(
            declared,
            r#"{"image":"shop:abc123","cluster":"prod","x":"12"}"#
        ));
        assert!(fits_declaration(
            declared,
            r#"{"image":"shop:","cluster":"prod","x":""}"#
        ));
        assert!(!fits_declaration(
            declared,
            r#"{"image":"evil:abc","cluster":"prod","x":"1"}"#
        ));
        assert!(!fits_declaration(
            declared,
            r#"{"image":"shop:a","cluster":"dev","x":"1"}"#
        ));
        assert!(!fits_declaration(
            declared,
            r#"{"image":"shop:a","cluster":"prod","x":"1"} "#
        ));
        assert!(fits_declaration("{}", "{}"));
        assert!(!fits_declaration("{}", "{} "));
        assert!(fits_declaration("#{a.b}", "anything"));
        // The last literal may not overlap one already matched.
        assert!(!fits_declaration("ab#{x.y}ba", "aba"));
    }

    #[test]
    fn the_declaration_must_be_a_lambda_invoke_of_this_function_with_these_parameters() {
        let params = r#"{"image":"shop:7"}"#;
        let decl = declared(r##"{"image":"shop:#{Build.TAG}"}"##);
        let own = Some("gantry-traffic-shifter");
        assert!(check_declared(&job(params, None), &context(), Some(&decl), own).is_ok());
        assert!(matches!(
            check_declared(&job(params, None), &context(), None, own),
            Err(Forged::NotDeclared { .. })
        ));
        let build = InvokeDeclaration {
            provider: "CodeBuild".into(),
            ..decl.clone()
        };
        assert!(matches!(
            check_declared(&job(params, None), &context(), Some(&build), own),
            Err(Forged::NotDeclared { .. })
        ));
        assert!(matches!(
            check_declared(
                &job(params, None),
                &context(),
                Some(&decl),
                Some("other-fn")
            ),
            Err(Forged::OtherFunction { .. })
        ));
        assert!(matches!(
            check_declared(
                &job(r#"{"image":"evil:7"}"#, None),
                &context(),
                Some(&decl),
                own
            ),
            Err(Forged::NotAsDeclared { .. })
        ));
    }

    #[test]
    fn a_function_is_named_by_name_arn_or_qualified_name() {
        let own = "gantry-traffic-shifter";
        assert!(names_function(own, own));
        assert!(names_function("gantry-traffic-shifter:live", own));
        assert!(names_function(
            "arn:aws:lambda:us-east-1:123456789012:function:gantry-traffic-shifter",
            own
        ));
        assert!(names_function(
            "arn:aws:lambda:us-east-1:123456789012:function:gantry-traffic-shifter:7",
            own
        ));
        assert!(names_function(
            "123456789012:function:gantry-traffic-shifter",
            own
        ));
        assert!(!names_function("gantry-traffic-shifter-evil", own));
        assert!(!names_function(
            "arn:aws:lambda:us-east-1:123456789012:function:other",
            own
        ));
    }

    #[test]
    fn only_a_running_execution_is_acted_for() {
        assert!(check_running(&context(), Some("InProgress")).is_ok());
        assert!(check_running(&context(), None).is_ok());
        assert!(matches!(
            check_running(&context(), Some("Stopped")),
            Err(Forged::NotInProgress { .. })
        ));
    }
}
