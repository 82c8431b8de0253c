//! Which routes a push's changed files concern, in one pass over the files
//! (docs/performance.md#how-the-cost-grows-with-the-work).
//!
//! Checking each route against each changed file costs routes × files glob matches: a push of
//! 2,048 commits × 100 files against 1,000 monorepo routes is ~10⁸ of them. Instead every route's
//! `paths` and `ignore_paths` patterns are compiled once, when the table is, into two `GlobSet`s
//! whose matches name their route. A push's files are then walked once, each distinct file matched
//! against both sets (two automaton runs, whatever the number of routes), and the walk stops as
//! soon as every route still in question is known to be concerned.

use super::Route;
use globset::{Candidate, GlobSet, GlobSetBuilder};
use rustc_hash::FxHashSet;

/// Every route's path patterns, in two sets; `*_owner[i]` is the route of the set's pattern `i`.
#[derive(Debug, Clone, Default)]
pub struct PathIndex {
    paths: GlobSet,
    paths_owner: Vec<usize>,
    ignore: GlobSet,
    ignore_owner: Vec<usize>,
}

impl PathIndex {
    pub fn new(routes: &[Route]) -> Result<Self, String> {
        let (paths, paths_owner) = union(routes, |r| r.paths.patterns())?;
        let (ignore, ignore_owner) = union(routes, |r| r.ignore_paths.patterns())?;
        Ok(Self {
            paths,
            paths_owner,
            ignore,
            ignore_owner,
        })
    }

    /// For each of `routes` (indexes into the table), whether a changed file concerns it: a file
    /// its `paths` match (any file when it has none) that its `ignore_paths` do not. Also the
    /// number of distinct files seen, which is all of them unless the walk stopped early.
    pub fn concerned<'a>(
        &self,
        routes: &[(usize, &Route)],
        files: impl Iterator<Item = &'a str>,
    ) -> (Vec<bool>, usize) {
        let mut concerned = vec![false; routes.len()];
        let mut open = routes.len();
        // Table index → position in `routes`, for the sets' matches.
        let slots = routes.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        let mut positions: Vec<Option<usize>> = vec![None; slots];
        for (p, (i, _)) in routes.iter().enumerate() {
            positions[*i] = Some(p);
        }
        let position = |table_index: usize| positions.get(table_index).copied().flatten();
        let mut unfiltered: Vec<usize> = routes
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| r.paths.is_empty())
            .map(|(p, _)| p)
            .collect();
        // Paths come from a signed delivery: a fast non-cryptographic hash is enough, and a
        // collision costs a comparison, never a wrong answer.
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let (mut hits, mut ignored) = (Vec::new(), Vec::new());
        let mut ignored_here = vec![false; routes.len()];
        for file in files {
            if open == 0 {
                break;
            }
            if !seen.insert(file) {
                continue;
            }
            let candidate = Candidate::new(file);
            self.paths.matches_candidate_into(&candidate, &mut hits);
            // Only a route still open can be newly concerned: when the file matches none, its
            // ignore patterns need not be run.
            let matched_open = hits
                .iter()
                .filter_map(|&g| position(self.paths_owner[g]))
                .any(|p| !concerned[p]);
            if !matched_open && unfiltered.is_empty() {
                continue;
            }
            self.ignore.matches_candidate_into(&candidate, &mut ignored);
            for &g in &ignored {
                if let Some(p) = position(self.ignore_owner[g]) {
                    ignored_here[p] = true;
                }
            }
            let owners = hits.iter().map(|&g| self.paths_owner[g]);
            let matched = owners.filter_map(position);
            for p in matched.chain(unfiltered.iter().copied()) {
                if !concerned[p] && !ignored_here[p] {
                    concerned[p] = true;
                    open -= 1;
                }
            }
            for &g in &ignored {
                if let Some(p) = position(self.ignore_owner[g]) {
                    ignored_here[p] = false;
                }
            }
            if !unfiltered.is_empty() {
                unfiltered.retain(|&p| !concerned[p]);
            }
        }
        (concerned, seen.len())
    }
}

fn union<'r>(
    routes: &'r [Route],
    patterns: impl Fn(&'r Route) -> &'r [String],
) -> Result<(GlobSet, Vec<usize>), String> {
    let mut builder = GlobSetBuilder::new();
    let mut owner = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        for pattern in patterns(route) {
            builder.add(super::glob::compile(pattern)?);
            owner.push(i);
        }
    }
    let set = builder.build().map_err(|e| e.to_string())?;
    Ok((set, owner))
}
