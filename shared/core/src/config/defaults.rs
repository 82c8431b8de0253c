//! Each optional variable's default, in the words `docs/configuration.md` states it:
//! `tests/docs/test_docs.py` reads this list and fails when the page's row for a variable does
//! not say `default <text>`; the test below holds each text to the constant the code falls back
//! to, so neither the page nor the list can drift from the code.

use super::Var;

/// (variable, its default as the docs write it). A variable not listed has no default: it is
/// required, or its absence turns a feature off.
pub const DOCUMENTED_DEFAULTS: &[(Var, &str)] = &[
    (Var::MaxBodyBytes, "6 MiB"),
    (Var::SlackApiUrl, "https://slack.com/api"),
    (Var::AnalysisSettleSeconds, "120"),
    (Var::OrphanAfterSeconds, "600"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn documented(var: Var) -> &'static str {
        DOCUMENTED_DEFAULTS
            .iter()
            .find(|(v, _)| *v == var)
            .map(|(_, text)| *text)
            .unwrap_or_default()
    }

    #[test]
    fn every_documented_default_is_the_one_the_code_falls_back_to() {
        assert_eq!(
            documented(Var::MaxBodyBytes),
            format!(
                "{} MiB",
                crate::ingest::DEFAULT_MAX_BODY_BYTES / (1024 * 1024)
            )
        );
        assert_eq!(
            crate::ingest::DEFAULT_MAX_BODY_BYTES % (1024 * 1024),
            0,
            "a whole number of MiB"
        );
        assert_eq!(documented(Var::SlackApiUrl), crate::slack::DEFAULT_API_URL);
        assert_eq!(
            documented(Var::AnalysisSettleSeconds),
            crate::traffic::phases::judged::DEFAULT_SETTLE_SECONDS.to_string()
        );
        assert_eq!(
            documented(Var::OrphanAfterSeconds),
            crate::traffic::phases::sweep::DEFAULT_ORPHAN_AFTER_SECONDS.to_string()
        );
        assert_eq!(
            DOCUMENTED_DEFAULTS.len(),
            4,
            "a new default is checked here too"
        );
    }
}
