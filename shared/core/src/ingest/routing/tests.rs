//! Tests of `routing`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::ingest::push::testing::push;
use crate::ingest::push::Commit;

fn table(json: &str) -> RouteTable {
    RouteTable::parse(json).unwrap()
}

const API_ROUTES: &str = r#"[
  {"provider": "github", "repository": "octo-org/*", "branches": ["main", "release/*"], "tags": ["v*"],
   "paths": ["services/api/**"], "ignore_paths": ["**/*.md"], "pipeline": "api", "source_action": "Source"},
  {"provider": "github", "repository": "octo-org/shop", "branches": ["main"],
   "pipeline": "shop", "source_action": "Source"},
  {"provider": "gitlab", "repository": "octo-org/shop", "branches": ["main"],
   "pipeline": "gitlab-only", "source_action": "Source"}
]"#;

fn started(decisions: &[RouteDecision]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| matches!(d, RouteDecision::Start { .. }))
        .map(|d| d.pipeline())
        .collect()
}

#[test]
fn one_push_can_start_several_pipelines() {
    let d = route(
        &push("refs/heads/main", &["services/api/src/lib.rs"], "fix"),
        &table(API_ROUTES),
    );
    assert_eq!(started(&d), vec!["api", "shop"]);
}

#[test]
fn other_provider_routes_are_left_out() {
    let d = route(&push("refs/heads/main", &["x"], "fix"), &table(API_ROUTES));
    assert!(d.iter().all(|d| d.pipeline() != "gitlab-only"));
}

#[test]
fn changes_outside_the_paths_skip_with_a_reason() {
    let d = route(
        &push("refs/heads/main", &["web/index.html"], "fix"),
        &table(API_ROUTES),
    );
    assert_eq!(started(&d), vec!["shop"]);
    let RouteDecision::Skip { reason, .. } = &d[0] else {
        panic!("api should be skipped: {d:?}")
    };
    assert!(reason.contains("changed files"), "{reason}");
}

#[test]
fn ignored_paths_do_not_count() {
    let d = route(
        &push("refs/heads/main", &["services/api/README.md"], "docs"),
        &table(API_ROUTES),
    );
    assert_eq!(started(&d), vec!["shop"]);
    let d = route(
        &push(
            "refs/heads/main",
            &["services/api/README.md", "services/api/src/a.rs"],
            "x",
        ),
        &table(API_ROUTES),
    );
    assert_eq!(started(&d), vec!["api", "shop"]);
}

#[test]
fn branch_globs_do_not_cross_slashes() {
    let t = table(API_ROUTES);
    let d = route(
        &push("refs/heads/release/2.0", &["services/api/a"], "x"),
        &t,
    );
    assert_eq!(started(&d), vec!["api"]);
    let d = route(
        &push("refs/heads/release/2.0/rc", &["services/api/a"], "x"),
        &t,
    );
    assert!(started(&d).is_empty());
}

#[test]
fn tags_route_by_tag_patterns_only() {
    let d = route(
        &push("refs/tags/v1.2.0", &["web/x"], "release"),
        &table(API_ROUTES),
    );
    assert_eq!(started(&d), vec!["api"]);
    let d = route(&push("refs/tags/nightly", &[], "x"), &table(API_ROUTES));
    assert!(started(&d).is_empty());
}

#[test]
fn a_branch_named_like_a_tag_pattern_does_not_match_it() {
    let t = table(
        r#"[{"provider":"github","repository":"octo-org/shop","tags":["v*"],"pipeline":"p","source_action":"S"}]"#,
    );
    assert!(started(&route(&push("refs/heads/v1", &["a"], "x"), &t)).is_empty());
}

#[test]
fn skip_markers_skip_every_route() {
    for marker in ["[skip ci]", "[ci skip]", "[skip pipeline]", "[SKIP CI]"] {
        let d = route(
            &push(
                "refs/heads/main",
                &["services/api/a"],
                &format!("wip {marker}"),
            ),
            &table(API_ROUTES),
        );
        assert!(started(&d).is_empty(), "{marker}: {d:?}");
        assert!(
            matches!(&d[0], RouteDecision::Skip { reason, .. } if reason.contains("skip") || reason.contains("SKIP") || reason.contains("ci"))
        );
    }
}

#[test]
fn unknown_changes_run_and_say_why() {
    let t = table(API_ROUTES);
    let mut p = push("refs/heads/main", &["web/x"], "x");
    p.created = true;
    let d = route(&p, &t);
    assert_eq!(started(&d), vec!["api", "shop"]);
    let RouteDecision::Start {
        note: Some(note), ..
    } = &d[0]
    else {
        panic!("{d:?}")
    };
    assert!(note.contains("new branch"), "{note}");

    let mut p = push("refs/heads/main", &["web/x"], "x");
    p.forced = true;
    assert!(
        matches!(&route(&p, &t)[0], RouteDecision::Start { note: Some(n), .. } if n.contains("forced"))
    );

    let mut p = push("refs/heads/main", &["web/x"], "x");
    p.commits_complete = false;
    assert!(
        matches!(&route(&p, &t)[0], RouteDecision::Start { note: Some(n), .. } if n.contains("cut short"))
    );
}

#[test]
fn the_same_pipeline_is_decided_once_and_start_wins() {
    let t = table(
        r#"[{"provider":"github","repository":"octo-org/shop","branches":["main"],"paths":["a/**"],"pipeline":"p","source_action":"S"},
            {"provider":"github","repository":"octo-org/shop","branches":["main"],"paths":["b/**"],"pipeline":"p","source_action":"S"}]"#,
    );
    let d = route(&push("refs/heads/main", &["b/x"], "x"), &t);
    assert_eq!(d.len(), 1);
    assert_eq!(started(&d), vec!["p"]);
}

#[test]
fn invalid_routes_are_refused_with_the_route_named() {
    for (json, needle) in [
        (
            r#"[{"provider":"github","repository":"a/b","branches":["main"],"pipeline":"bad name!","source_action":"S"}]"#,
            "route 0: pipeline",
        ),
        (
            r#"[{"provider":"github","repository":"a/b","pipeline":"p","source_action":"S"}]"#,
            "neither branches nor tags",
        ),
        (
            r#"[{"provider":"bitbucket","repository":"a/b","branches":["main"],"pipeline":"p","source_action":"S"}]"#,
            "unknown variant",
        ),
        (
            r#"[{"provider":"github","repository":"a/b","branches":["ma[in"],"pipeline":"p","source_action":"S"}]"#,
            "ma[in",
        ),
        (
            r#"[{"provider":"github","repository":"a/b","branch":["main"],"pipeline":"p","source_action":"S"}]"#,
            "unknown field",
        ),
    ] {
        let err = RouteTable::parse(json).unwrap_err();
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn a_file_one_route_ignores_still_starts_another_route() {
    let routes = r#"[
      {"provider": "github", "repository": "octo-org/shop", "branches": ["main"],
       "paths": ["services/api/**"], "ignore_paths": ["**/*.md"], "pipeline": "api", "source_action": "Source"},
      {"provider": "github", "repository": "octo-org/shop", "branches": ["main"],
       "paths": ["services/**"], "pipeline": "docs", "source_action": "Source"},
      {"provider": "github", "repository": "octo-org/shop", "branches": ["main"],
       "ignore_paths": ["**/*.md"], "pipeline": "everything-but-docs", "source_action": "Source"}
    ]"#;
    let d = route(
        &push("refs/heads/main", &["services/api/README.md"], "docs"),
        &table(routes),
    );
    assert_eq!(started(&d), vec!["docs"]);
    let d = route(
        &push(
            "refs/heads/main",
            &["services/api/README.md", "services/api/src/lib.rs"],
            "code",
        ),
        &table(routes),
    );
    assert_eq!(started(&d), vec!["api", "docs", "everything-but-docs"]);
}

/// A monorepo: a thousand routes, one per service; a push of many commits touching three
/// services starts exactly those three, and tells each other route how many files it looked at.
#[test]
fn a_thousand_routes_start_exactly_the_services_a_large_push_touched() {
    let routes: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({"provider": "github", "repository": "octo-org/shop",
                "branches": ["main"], "paths": [format!("services/svc{i}/**")],
                "ignore_paths": ["**/*.md"], "pipeline": format!("svc{i}"), "source_action": "Source"})
        })
        .collect();
    let table = table(&serde_json::Value::from(routes).to_string());
    let mut p = push("refs/heads/main", &[], "many commits");
    let touched = [7, 70, 700];
    p.commits = (0..200)
        .map(|c| Commit {
            id: format!("{c:040}"),
            paths: (0..50)
                .map(|f| format!("services/svc{}/src/f{f}.rs", touched[c % 3]))
                .chain(std::iter::once("services/svc1/README.md".to_string()))
                .collect(),
            ..p.commits[0].clone()
        })
        .collect();
    let d = route(&p, &table);
    assert_eq!(d.len(), 1000);
    assert_eq!(started(&d), vec!["svc7", "svc70", "svc700"]);
    let RouteDecision::Skip { reason, .. } = &d[1] else {
        panic!("svc1 started: {:?}", d[1]);
    };
    assert!(reason.contains("none of the 151 changed files"), "{reason}");
}
