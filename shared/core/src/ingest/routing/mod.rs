//! Which pipelines a push starts: the route table (`GANTRY_ROUTES`) applied to a `Push`.

mod glob;
mod index;

pub use glob::Globs;

use crate::ingest::push::{Provider, Push, RefKind};
use index::PathIndex;
use serde::Deserialize;

/// One route as configured (see docs/configuration.md and the contract).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub provider: Provider,
    pub repository: String,
    #[serde(default)]
    pub branches: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub ignore_paths: Vec<String>,
    pub pipeline: String,
    pub source_action: String,
}

/// A route with its globs compiled.
#[derive(Debug, Clone)]
pub struct Route {
    pub provider: Provider,
    pub repository: Globs,
    pub branches: Globs,
    pub tags: Globs,
    pub paths: Globs,
    pub ignore_paths: Globs,
    pub pipeline: String,
    pub source_action: String,
}

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Every route's path patterns, compiled together (`index.rs` says why).
    index: PathIndex,
}

/// Skip markers honoured in the head commit's message (GitHub's and GitLab's own spellings).
pub const SKIP_MARKERS: [&str; 4] = ["[skip ci]", "[ci skip]", "[skip pipeline]", "[no ci]"];

impl RouteTable {
    /// Validates and compiles routes; the error says which route and which field is wrong.
    pub fn compile(specs: Vec<RouteSpec>) -> Result<Self, String> {
        Self::compile_each(&specs)
    }

    /// `compile` of routes held elsewhere (the registry's documents): nothing is copied but what
    /// the table keeps.
    pub fn compile_each<'a>(
        specs: impl IntoIterator<Item = &'a RouteSpec>,
    ) -> Result<Self, String> {
        let routes = specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| compile_route(s).map_err(|e| format!("route {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let index = PathIndex::new(&routes)?;
        Ok(Self { routes, index })
    }

    /// Parses the `GANTRY_ROUTES` JSON text.
    pub fn parse(json: &str) -> Result<Self, String> {
        let specs: Vec<RouteSpec> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Self::compile(specs)
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

fn compile_route(s: &RouteSpec) -> Result<Route, String> {
    if !is_pipeline_name(&s.pipeline) {
        return Err(format!(
            "pipeline {:?} is not a CodePipeline name (1-100 of A-Z a-z 0-9 . @ - _)",
            s.pipeline
        ));
    }
    if s.source_action.trim().is_empty() {
        return Err("source_action is empty".into());
    }
    if s.branches.is_empty() && s.tags.is_empty() {
        return Err("neither branches nor tags are set, so no push can match".into());
    }
    Ok(Route {
        provider: s.provider,
        repository: Globs::new(std::slice::from_ref(&s.repository))?,
        branches: Globs::new(&s.branches)?,
        tags: Globs::new(&s.tags)?,
        paths: Globs::new(&s.paths)?,
        ignore_paths: Globs::new(&s.ignore_paths)?,
        pipeline: s.pipeline.clone(),
        source_action: s.source_action.clone(),
    })
}

pub(crate) fn is_pipeline_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
}

/// What to do with one pipeline for one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    /// Start `pipeline`; `note` says why it runs without proof of a relevant change, if so.
    Start {
        pipeline: String,
        source_action: String,
        note: Option<String>,
    },
    /// The route's repository matched but this push does not start it.
    Skip { pipeline: String, reason: String },
}

impl RouteDecision {
    pub fn pipeline(&self) -> &str {
        match self {
            RouteDecision::Start { pipeline, .. } | RouteDecision::Skip { pipeline, .. } => {
                pipeline
            }
        }
    }
}

/// Applies the route table to a push. Routes of other providers or repositories are left out;
/// every route of this repository gets a decision, once per pipeline (the first route to start a
/// pipeline wins over later ones that would skip it).
pub fn route(push: &Push, table: &RouteTable) -> Vec<RouteDecision> {
    let skip_marker = push.head.as_ref().and_then(|h| {
        let message = h.message.to_lowercase();
        SKIP_MARKERS.iter().find(|m| message.contains(*m)).copied()
    });
    let unknown = push.changes_unknown();
    // Cheap filters first: provider, repository, ref; the changed files only for routes that
    // pass them and filter by path, all at once (`index.rs`).
    let candidates: Vec<(usize, &Route)> = table
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.provider == push.provider && r.repository.matches(&push.repository))
        .collect();
    let by_files: Vec<(usize, &Route)> =
        if push.git_ref.kind == RefKind::Tag || skip_marker.is_some() || unknown.is_some() {
            Vec::new()
        } else {
            candidates
                .iter()
                .filter(|(_, r)| !(r.paths.is_empty() && r.ignore_paths.is_empty()))
                .filter(|(_, r)| r.branches.matches(&push.git_ref.name))
                .copied()
                .collect()
        };
    let files = push
        .commits
        .iter()
        .flat_map(|c| c.paths.iter().map(String::as_str));
    let (concerned, file_count) = table.index.concerned(&by_files, files);
    let mut concerned_at = vec![false; table.routes.len()];
    for (&(i, _), &c) in by_files.iter().zip(&concerned) {
        concerned_at[i] = c;
    }
    let mut decisions: Vec<RouteDecision> = Vec::new();
    let mut by_pipeline: std::collections::HashMap<&str, usize> = Default::default();
    for &(i, r) in &candidates {
        let files = match unknown {
            Some(why) => Files::Unknown(why),
            None => Files::Concerned {
                concerned: concerned_at[i],
                count: file_count,
            },
        };
        let decision = decide(r, push, skip_marker, files);
        match by_pipeline.get(r.pipeline.as_str()) {
            None => {
                by_pipeline.insert(&r.pipeline, decisions.len());
                decisions.push(decision);
            }
            Some(&i) => {
                if matches!(decisions[i], RouteDecision::Skip { .. })
                    && matches!(decision, RouteDecision::Start { .. })
                {
                    decisions[i] = decision;
                }
            }
        }
    }
    decisions
}

/// What the push's changed files say about one route.
enum Files {
    Unknown(&'static str),
    /// Whether a changed file concerns the route, out of `count` distinct files.
    Concerned {
        concerned: bool,
        count: usize,
    },
}

fn decide(r: &Route, push: &Push, skip_marker: Option<&str>, files: Files) -> RouteDecision {
    let skip = |reason: String| RouteDecision::Skip {
        pipeline: r.pipeline.clone(),
        reason,
    };
    let (globs, kind) = match push.git_ref.kind {
        RefKind::Branch => (&r.branches, "branch"),
        RefKind::Tag => (&r.tags, "tag"),
    };
    if !globs.matches(&push.git_ref.name) {
        return skip(format!(
            "{kind} {} matches none of the route's {kind} patterns",
            push.git_ref.name
        ));
    }
    if let Some(marker) = skip_marker {
        return skip(format!("head commit message contains {marker}"));
    }
    let note = match files {
        // A tag names a release: its files are whatever the commit holds, so paths do not filter it.
        _ if push.git_ref.kind == RefKind::Tag => None,
        _ if r.paths.is_empty() && r.ignore_paths.is_empty() => None,
        Files::Unknown(why) => Some(format!("changed files unknown ({why}): running to be safe")),
        Files::Concerned { concerned, count } => {
            if !concerned {
                return skip(format!(
                    "none of the {count} changed files matches the route's paths (or all are ignored)"
                ));
            }
            None
        }
    };
    RouteDecision::Start {
        pipeline: r.pipeline.clone(),
        source_action: r.source_action.clone(),
        note,
    }
}

#[cfg(test)]
mod tests;
