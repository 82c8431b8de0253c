//! Globs as Git users write them: `*` stays within one path segment, `**` crosses segments.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A compiled list of globs; matches when any of them does.
#[derive(Debug, Clone)]
pub struct Globs {
    /// The patterns as written. Those without glob syntax (`main`) are matched by equality, not
    /// compiled: most branch lists are names, and a compiled `GlobSet` costs about a kilobyte
    /// even for one name or none (a thousand registered services' routes held 3 MiB of them).
    patterns: Vec<String>,
    /// The other patterns, compiled; `None` when there are none. Boxed: five of these make a
    /// route, most of them `None`, and a route table of 1,000 services is held whole.
    set: Option<Box<GlobSet>>,
}

impl Globs {
    /// Compiles `patterns`; the error names the pattern that does not compile.
    pub fn new(patterns: &[String]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        let mut globs = 0;
        for p in patterns {
            let glob = compile(p)?;
            if !is_literal(p) {
                builder.add(glob);
                globs += 1;
            }
        }
        let set = match globs {
            0 => None,
            _ => Some(Box::new(builder.build().map_err(|e| e.to_string())?)),
        };
        Ok(Self {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p == candidate && is_literal(p))
            || self.set.as_ref().is_some_and(|s| s.is_match(candidate))
    }

    /// The patterns as written, for messages.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Whether `pattern` matches only itself: no glob syntax (`*`, `?`, `[`, `{`, or an escape).
fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

pub(super) fn compile(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("glob {pattern:?}: {}", e.kind()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(p: &[&str]) -> Globs {
        Globs::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn star_stays_within_a_segment() {
        let g = globs(&["release/*"]);
        assert!(g.matches("release/1.2"));
        assert!(!g.matches("release/1.2/hotfix"));
        assert!(!g.matches("release"));
    }

    #[test]
    fn double_star_crosses_segments_and_matches_the_root() {
        let g = globs(&["**/*.md"]);
        assert!(g.matches("README.md"));
        assert!(g.matches("docs/guide/setup.md"));
        assert!(!g.matches("src/main.rs"));
        let g = globs(&["services/api/**"]);
        assert!(g.matches("services/api/src/lib.rs"));
        assert!(!g.matches("services/apiary/x"));
    }

    #[test]
    fn a_name_matches_itself_only_and_mixes_with_globs() {
        let g = globs(&["main", "release/*", "hotfix"]);
        assert!(g.matches("main") && g.matches("hotfix") && g.matches("release/2"));
        assert!(!g.matches("mai") && !g.matches("main/x") && !g.matches("hotfix2"));
        assert!(!globs(&[]).matches(""));
        // A name with glob syntax escaped is still a glob, matched as globset does.
        assert!(globs(&["v\\*"]).matches("v*"));
        assert!(!globs(&["v\\*"]).matches("v1"));
    }

    #[test]
    fn exact_names_and_character_classes() {
        let g = globs(&["main", "v[0-9]*"]);
        assert!(g.matches("main"));
        assert!(!g.matches("mainline"));
        assert!(g.matches("v1.0.0"));
        assert!(!g.matches("version"));
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let err = Globs::new(&["a[".to_string()]).unwrap_err();
        assert!(err.contains("a["), "{err}");
    }
}
