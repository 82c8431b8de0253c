//! Tests of `render`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::notify::execution::Execution;
use crate::notify::status::Status;
use crate::notify::testing::*;
use crate::notify::Trigger;
use crate::slack::shown::texts;

fn finished() -> Execution {
    let mut e = execution_of(&successful_run());
    e.set_trigger(trigger());
    e.set_layout(layout());
    e
}

/// Slack's limits, as the stand-in and Slack check them.
fn assert_within_limits(message: &Value) {
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
    for b in blocks {
        let limit = if b["type"] == "header" {
            MAX_HEADER_TEXT
        } else {
            MAX_SECTION_TEXT
        };
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(!t.is_empty());
            assert!(
                t.chars().count() <= limit,
                "{} > {limit}",
                t.chars().count()
            );
        }
        for el in b["elements"].as_array().into_iter().flatten() {
            assert!(el["text"].as_str().unwrap().chars().count() <= MAX_SECTION_TEXT);
        }
    }
    assert!(message["text"].as_str().unwrap().chars().count() <= MAX_FALLBACK_TEXT);
}

#[test]
fn a_rollback_from_slack_says_who_rolled_back_not_a_push() {
    let mut e = execution_of(&successful_run());
    e.set_trigger(Trigger {
        kind: Some("ManualRollback".into()),
        from_slack: Some("U0JANE".into()),
        ..trigger()
    });
    let line = texts(&execution_message(&e, Verbosity::Stages))[1].clone();
    assert!(
        line.ends_with("_rolled back from Slack by_ <@U0JANE>"),
        "{line}"
    );
    assert!(!line.contains("push"), "{line}");
    // Without Gantry's record (a rollback from the console): a rollback, nobody named.
    e.trigger = None;
    e.set_trigger(Trigger {
        kind: Some("ManualRollback".into()),
        ..trigger()
    });
    let line = texts(&execution_message(&e, Verbosity::Stages))[1].clone();
    assert!(line.ends_with("_a rollback_"), "{line}");
}

#[test]
fn a_finished_execution_shows_outcome_trigger_stages_duration_and_console_link() {
    let m = execution_message(&finished(), Verbosity::Stages);
    let t = texts(&m);
    assert_eq!(t[0], ":white_check_mark: shop succeeded");
    assert_eq!(
        t[1],
        "*<https://github.com/octo/shop/commit/9fceb02d0ae598e95dc970b74767f19372d61af8|`9fceb02d`>* Fix the cart total\nby *ada* on `main` in octo/shop _started by API_"
    );
    assert_eq!(
        t[2],
        ":white_check_mark: Source  ›  :white_check_mark: Build  ›  :white_check_mark: Deploy"
    );
    assert!(
        t[3].starts_with(":white_check_mark: Succeeded in 4m 12s"),
        "{}",
        t[3]
    );
    assert!(t[3].contains(
        "<https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/shop/executions/4f1e2d3c-0000-1111-2222-333344445555/timeline?region=eu-west-1|Execution 4f1e2d3c>"
    ));
    assert_eq!(
        m["text"],
        "shop succeeded in 4m 12s (9fceb02d Fix the cart total)"
    );
    assert_within_limits(&m);
}

#[test]
fn a_running_execution_shows_elapsed_time_and_the_running_stage() {
    let mut e = execution_of(&successful_run()[..7]);
    e.set_layout(layout());
    let t = texts(&execution_message(&e, Verbosity::Stages));
    assert_eq!(t[0], ":large_blue_circle: shop running");
    assert_eq!(
        t[2],
        ":white_check_mark: Source  ›  :large_blue_circle: Build _running_  ›  :white_circle: Deploy"
    );
    assert!(t[3].starts_with(":stopwatch: Elapsed 11s"), "{}", t[3]);
}

#[test]
fn pipeline_verbosity_has_no_stage_line_and_actions_verbosity_lists_actions() {
    let e = finished();
    assert_eq!(
        execution_message(&e, Verbosity::Pipeline)["blocks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let t = texts(&execution_message(&e, Verbosity::Actions));
    assert_eq!(
        t[2],
        ":white_check_mark: *Source*: :white_check_mark: Source\n:white_check_mark: *Build*: :white_check_mark: Build\n:white_check_mark: *Deploy*: :white_check_mark: Deploy"
    );
}

#[test]
fn a_stage_in_another_account_names_it_on_the_stage_line_and_the_actions_line() {
    let mut e = execution_of(&successful_run());
    let mut stages = layout();
    stages[2].account = Some("222222222222".into());
    e.set_layout(stages);
    let stage_line = texts(&execution_message(&e, Verbosity::Stages));
    assert!(
        stage_line
            .iter()
            .any(|t| t.contains("Deploy (account 222222222222)") && !t.contains("Build (account")),
        "{stage_line:?}"
    );
    let t = texts(&execution_message(&e, Verbosity::Actions));
    assert!(
        t[2].ends_with(
            ":white_check_mark: *Deploy* (account 222222222222): :white_check_mark: Deploy"
        ),
        "{}",
        t[2]
    );
}

#[test]
fn user_text_is_escaped_for_mrkdwn() {
    let mut e = finished();
    let mut t = trigger();
    t.message = Some("Use <b> & <script>".into());
    e.trigger = Some(t);
    let m = execution_message(&e, Verbosity::Stages);
    let text = texts(&m)[1].clone();
    assert!(
        text.contains("Use &lt;b&gt; &amp; &lt;script&gt;"),
        "{text}"
    );
    // The fallback `text` is mrkdwn too (notifications, screen readers): escaped the same.
    let fallback = m["text"].as_str().unwrap();
    assert!(
        fallback.contains("Use &lt;b&gt; &amp; &lt;script&gt;"),
        "{fallback}"
    );
}

#[test]
fn a_failure_replys_fallback_text_is_escaped_as_its_blocks() {
    let events = vec![
        pipeline(1, Status::Started),
        failed_action(
            9,
            "Build",
            "Compile",
            "<!channel> broke & left",
            "https://x.example/",
        ),
    ];
    let e = execution_of(&events);
    let notice = e
        .notices
        .iter()
        .find(|n| n.status == Status::Failed)
        .unwrap();
    let m = failure_reply(&e, notice);
    let fallback = m["text"].as_str().unwrap();
    assert!(
        fallback.ends_with("&lt;!channel&gt; broke &amp; left"),
        "{fallback}"
    );
    assert!(texts(&m)[0].contains("&lt;!channel&gt; broke &amp; left"));
}

#[test]
fn a_huge_pipeline_is_cut_to_slacks_limits_and_says_what_was_left_out() {
    let long = "S".repeat(140);
    let mut events = vec![pipeline(1, Status::Started)];
    for i in 0..3000 {
        events.push(stage(2 + i, &format!("{long}{i:04}"), Status::Succeeded));
        events.push(action(
            2 + i,
            &format!("{long}{i:04}"),
            &format!("{long}-action"),
            "Build",
            Status::Succeeded,
        ));
    }
    let mut e = execution_of(&events);
    e.pipeline = "p".repeat(400);
    let mut t = trigger();
    t.message = Some("m".repeat(10_000));
    e.trigger = Some(t);
    for verbosity in [Verbosity::Stages, Verbosity::Actions] {
        let m = execution_message(&e, verbosity);
        assert_within_limits(&m);
        let all = texts(&m).join("\n");
        assert!(all.contains("… and "), "says how much was left out");
        assert!(all.contains("more"));
    }
}

#[test]
fn a_failure_reply_names_the_action_quotes_the_error_and_links_the_logs() {
    let events = vec![
        pipeline(1, Status::Started),
        failed_action(
            9,
            "Build",
            "Compile",
            "Build terminated with state: FAILED",
            "https://console.aws.amazon.com/codebuild/home#/builds/shop:1/view/new",
        ),
    ];
    let e = execution_of(&events);
    let notice = e
        .notices
        .iter()
        .find(|n| n.status == Status::Failed)
        .unwrap();
    let m = failure_reply(&e, notice);
    let t = texts(&m);
    assert_eq!(
        t[0],
        ":x: *Compile* failed in stage *Build*\n```Build terminated with state: FAILED```"
    );
    assert!(t[1].starts_with(
        "<https://console.aws.amazon.com/codebuild/home#/builds/shop:1/view/new|View logs>  ·  Error `JobFailed`"
    ));
    assert_within_limits(&m);
}

#[test]
fn a_huge_error_summary_is_cut_with_its_code_block_closed() {
    let events = vec![failed_action(
        9,
        "Build",
        "Compile",
        &"x".repeat(20_000),
        "https://l",
    )];
    let e = execution_of(&events);
    let m = failure_reply(&e, &e.notices[0]);
    assert_within_limits(&m);
    let text = texts(&m)[0].clone();
    assert!(text.ends_with("…```"), "{}", &text[text.len() - 10..]);
}

#[test]
fn a_failure_reply_quotes_what_failed_without_the_arns_and_account_ids_in_awss_text() {
    let events = vec![
        pipeline(1, Status::Started),
        failed_action(
            9,
            "Deploy",
            "ECS",
            "User: arn:aws:sts::123456789012:assumed-role/pipeline/x is not authorized to perform: ecs:UpdateService",
            "https://x.example/",
        ),
    ];
    let e = execution_of(&events);
    let notice = e
        .notices
        .iter()
        .find(|n| n.status == Status::Failed)
        .unwrap();
    let m = failure_reply(&e, notice);
    let shown = format!("{}\n{}", texts(&m)[0], m["text"]);
    assert!(
        !shown.contains("arn:aws") && !shown.contains("123456789012"),
        "{shown}"
    );
    assert!(
        shown.contains("User: [ARN hidden] is not authorized to perform: ecs:UpdateService"),
        "{shown}"
    );
}
