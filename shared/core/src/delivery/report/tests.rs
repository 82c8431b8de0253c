use super::*;
use crate::delivery::history::Failure;
use crate::delivery::RunKind;
use crate::slack::shown;

const HOUR_MS: i64 = 3600 * 1000;
/// 2026-11-30 00:00 UTC.
const NOW: i64 = 1_796_000_000_000 - 1_796_000_000_000 % DAY_MS;

fn stage(name: &str, deployments: u64, failed: u64, lead: Option<(f64, f64)>) -> StageFigures {
    StageFigures {
        stage: name.into(),
        deployments,
        failed,
        change_failure_rate: (deployments > 0).then(|| failed as f64 / deployments as f64),
        lead_time_p50: lead.map(|l| l.0),
        lead_time_p90: lead.map(|l| l.1),
        time_to_restore_p50: None,
        time_to_restore_p90: None,
    }
}

fn service(current: Vec<StageFigures>, previous: Vec<StageFigures>, days: i64) -> ServiceFigures {
    let now = Period::days_before(NOW, days);
    ServiceFigures {
        current: Figures {
            pipeline: "shop".into(),
            window: Some(now),
            stages: current,
        },
        previous: Figures {
            pipeline: "shop".into(),
            window: Some(Period::days_before(now.from_ms, days)),
            stages: previous,
        },
    }
}

fn all_text(message: &Value) -> String {
    shown::texts(message).join("\n")
}

#[test]
fn stats_show_each_stage_against_the_window_before() {
    let f = service(
        vec![stage("Prod", 3, 1, Some((2400.0, 3000.0)))],
        vec![
            stage("Prod", 2, 0, Some((600.0, 5400.0))),
            stage("Staging", 1, 0, None),
        ],
        30,
    );
    let m = stats_message(&f);
    let text = all_text(&m);
    assert!(
        text.contains("last 30 days against the 30 before"),
        "{text}"
    );
    assert!(
        text.contains("*Prod*\nDeployments: 3 (before: 2)"),
        "{text}"
    );
    assert!(
        text.contains("Lead time: p50 40m, p90 50m (before: p50 10m, p90 1h 30m)"),
        "{text}"
    );
    assert!(
        text.contains("Change failure rate: 33% (1 of 3) (before: 0% (0 of 2))"),
        "{text}"
    );
    assert!(text.contains("Time to restore: — (before: —)"), "{text}");
    // A stage deployed only in the window before still shows, at zero now.
    assert!(
        text.contains("*Staging*\nDeployments: 0 (before: 1)"),
        "{text}"
    );
    assert_eq!(
        m["text"],
        "Delivery of shop: last 30 days against the 30 before: Prod 3 deployments, 1 failed"
    );
}

#[test]
fn stats_of_a_service_without_deployments_say_so() {
    let m = stats_message(&service(vec![stage("Build", 0, 0, None)], vec![], 30));
    let text = all_text(&m);
    assert!(text.contains("No deployments of *shop* recorded"), "{text}");
    assert!(!text.contains("*Build*"), "{text}");
}

#[test]
fn stats_stay_within_slacks_block_limit() {
    let many: Vec<StageFigures> = (0..60)
        .map(|i| stage(&format!("S{i:02}"), 1, 0, None))
        .collect();
    let m = stats_message(&service(many, vec![], 30));
    let blocks = m["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= MAX_BLOCKS);
    assert!(all_text(&m).contains("…and 20 more stages"));
}

#[test]
fn the_window_length_comes_from_the_figures() {
    let m = stats_message(&service(vec![], vec![], 7));
    assert!(all_text(&m).contains("last 7 days against the 7 before"));
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration(42), "42s");
    assert_eq!(duration(2400), "40m");
    assert_eq!(duration(3600), "1h");
    assert_eq!(duration(5400), "1h 30m");
    assert_eq!(duration(85_500), "23h 45m");
    assert_eq!(duration(2 * 86_400 + 3 * 3600), "2d 3h");
}

fn deployment(
    stage: &str,
    commit: &str,
    end: i64,
    lead_h: Option<i64>,
    failed: bool,
) -> CountedDeployment {
    CountedDeployment {
        pipeline: "shop".into(),
        stage: stage.into(),
        key: commit.into(),
        commit: Some(commit.into()),
        executions: [format!("x-{commit}")].into(),
        first_end_ms: end,
        succeeded: (!failed).then(|| (end, format!("x-{commit}"))),
        failure: failed.then(|| Failure {
            at_ms: end,
            cause: FailureCause::Failed,
            execution_id: format!("x-{commit}"),
        }),
        lead_time_ms: lead_h.map(|h| h * HOUR_MS),
        thread: Some(format!("C1/{end}.000100")),
    }
}

fn week() -> Period {
    Period::days_before(NOW, 7)
}

#[test]
fn the_slowest_are_the_longest_lead_times_of_the_week() {
    let t = NOW - 2 * DAY_MS;
    let derived = Derived {
        deployments: vec![
            deployment("Prod", "a1", t, Some(1), false),
            deployment("Prod", "b1", t + HOUR_MS, Some(9), false),
            deployment("Staging", "c1", t, Some(5), false),
            deployment("Prod", "d1", t + 2 * HOUR_MS, Some(3), false),
            // Slowest of all, but the week before: not this week's.
            deployment("Prod", "e1", NOW - 8 * DAY_MS, Some(50), false),
            // Another service's.
            CountedDeployment {
                pipeline: "cart".into(),
                ..deployment("Prod", "f1", t, Some(80), false)
            },
        ],
        restorations: vec![],
    };
    let h = highlights(&derived, "shop", week());
    let slowest: Vec<(&str, Option<i64>)> = h
        .slowest
        .iter()
        .map(|n| (n.label.as_str(), n.lead_time_s))
        .collect();
    assert_eq!(
        slowest,
        [
            ("b1", Some(9 * 3600)),
            ("c1", Some(5 * 3600)),
            ("d1", Some(3 * 3600))
        ]
    );
    assert!(h.failed.is_empty());
}

#[test]
fn every_failed_deployment_of_the_week_is_named_oldest_first() {
    let t = NOW - 3 * DAY_MS;
    let mut rolled = deployment("Prod", "r1", t + HOUR_MS, Some(1), false);
    rolled.failure = Some(Failure {
        at_ms: t + 2 * HOUR_MS,
        cause: FailureCause::RolledBack(RunKind::ManualRollback),
        execution_id: "rb".into(),
    });
    let derived = Derived {
        deployments: vec![
            rolled,
            deployment("Prod", "x1", t, None, true),
            deployment("Prod", "ok", t, Some(1), false),
            deployment("Prod", "old", NOW - 9 * DAY_MS, None, true),
        ],
        restorations: vec![],
    };
    let h = highlights(&derived, "shop", week());
    let failed: Vec<&str> = h.failed.iter().map(|n| n.label.as_str()).collect();
    assert_eq!(failed, ["x1", "r1"]);
}

#[test]
fn the_weekly_post_links_each_named_deployment_to_its_thread() {
    let t = NOW - DAY_MS;
    let derived = Derived {
        deployments: vec![
            deployment("Prod", "slow1234567", t, Some(26), false),
            deployment("Prod", "bad1", t + HOUR_MS, None, true),
            CountedDeployment {
                thread: None,
                ..deployment("Prod", "nothread", t, None, true)
            },
        ],
        restorations: vec![],
    };
    let h = highlights(&derived, "shop", week());
    let f = service(
        vec![stage("Prod", 3, 2, Some((93_600.0, 93_600.0)))],
        vec![],
        7,
    );
    let link = |thread: &str| Some(format!("https://acme.slack.com/archives/{thread}"));
    let m = weekly_message(&f, &h, &link);
    let text = all_text(&m);
    assert!(text.contains("last 7 days against the 7 before"), "{text}");
    assert!(
        text.contains(&format!(
            "*Slowest deployments*\n• `slow1234` in *Prod* (<https://acme.slack.com/archives/C1/{t}.000100|thread>) — lead time 1d 2h"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "• `bad1` in *Prod* (<https://acme.slack.com/archives/C1/{}.000100|thread>) — failed 2026-",
            t + HOUR_MS
        )),
        "{text}"
    );
    // No thread, no link; the deployment is still named.
    assert!(text.contains("• `nothread` in *Prod* — failed"), "{text}");
}

#[test]
fn a_quiet_week_posts_the_figures_alone() {
    let f = service(vec![], vec![stage("Prod", 1, 0, None)], 7);
    let m = weekly_message(&f, &Highlights::default(), &|_| None);
    let text = all_text(&m);
    assert!(!text.contains("Slowest"), "{text}");
    assert!(!text.contains("Failed deployments"), "{text}");
    assert!(
        text.contains("*Prod*\nDeployments: 0 (before: 1)"),
        "{text}"
    );
}
