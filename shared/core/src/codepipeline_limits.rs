//! CodePipeline's own limits on what its events name: a leaf, shared by the two features that read
//! CodePipeline's EventBridge events (the notifier's and the approval function's).
//!
//! A name or id longer than these was not sent by CodePipeline, and the state table would refuse
//! it as part of a key (at most 2,048 bytes) on every retry: the readers refuse it at once.

/// Pipeline, stage and action names: at most 100 characters.
pub const NAME_LIMIT: usize = 100;
/// Execution and event ids are UUIDs (36 characters); 128 leaves room and keeps a key small.
pub const ID_LIMIT: usize = 128;

/// The first of `fields` (name, value if present, limit) whose value is longer than its limit, as
/// (name, limit).
pub fn first_too_long(
    fields: &[(&'static str, Option<&str>, usize)],
) -> Option<(&'static str, usize)> {
    fields
        .iter()
        .find(|(_, value, limit)| value.is_some_and(|v| v.chars().count() > *limit))
        .map(|&(name, _, limit)| (name, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_over_its_limit_is_named() {
        let long = "x".repeat(NAME_LIMIT + 1);
        let exact = "x".repeat(NAME_LIMIT);
        assert_eq!(
            first_too_long(&[
                ("a", Some(exact.as_str()), NAME_LIMIT),
                ("b", None, NAME_LIMIT),
                ("c", Some(long.as_str()), NAME_LIMIT),
            ]),
            Some(("c", NAME_LIMIT))
        );
        assert_eq!(
            first_too_long(&[("a", Some(exact.as_str()), NAME_LIMIT)]),
            None
        );
    }
}
