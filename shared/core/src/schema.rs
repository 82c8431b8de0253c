//! The schema version every stored record carries, and the one decision about a record a
//! release reads: readable, or written by a newer release than this one.
//!
//! During a stack update the functions switch to new code one by one, so for a while two
//! releases read each other's records (the table's items, the retry queue's messages, the
//! values on Slack buttons). Gantry keeps that safe by expand, then contract
//! (`docs/release.md`): a release that changes a record's shape first ships a reader of the
//! new shape that still writes the old one, and only the release after writes the new shape.
//! So a release meets a version newer than its own only when it is run against a table a
//! release two or more ahead of it wrote (a rollback of Gantry itself past a contract). That
//! record is never guessed at: what holds work ends it safely (`TooNew`), and nothing panics.
//!
//! The version is a whole number starting at 1 (0.1.0's shape). A record without one is
//! version 1: nothing Gantry ever stored lacks a version except what 0.1.0's predecessors
//! wrote, and those are 0.1.0's shape.

/// The newest record shape this release reads, and the one it writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The version of a record that carries none: 0.1.0's shape.
pub const UNVERSIONED: u32 = 1;

/// The state table attribute (a number) that holds a record's version.
pub const ATTRIBUTE: &str = "schema";

/// The JSON field (a number) that holds a message body's or a button value's version.
pub const FIELD: &str = "v";

/// A record written by a release newer than this one, in a shape this release may misread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "recorded by a newer Gantry (record version {found}; this release reads up to {SCHEMA_VERSION})"
)]
pub struct TooNew {
    /// The version as stored (its text, so an unreadable one is shown as it is).
    pub found: String,
}

/// Reads a record's version as stored: `None` when the record carries none. A version this
/// release knows is returned; one newer, or one that is not a whole number from 1 (written by
/// nothing this release knows), is `TooNew`.
pub fn check(stored: Option<&str>) -> Result<u32, TooNew> {
    let Some(raw) = stored else {
        return Ok(UNVERSIONED);
    };
    match raw.trim().parse::<u32>() {
        Ok(v) if (1..=SCHEMA_VERSION).contains(&v) => Ok(v),
        _ => Err(TooNew {
            found: raw.to_string(),
        }),
    }
}

/// `check` on a JSON body's `v` field (a queue message): absent is version 1, anything but a
/// known whole number is `TooNew`.
pub fn check_json(body: &serde_json::Value) -> Result<u32, TooNew> {
    match body.get(FIELD) {
        None => Ok(UNVERSIONED),
        Some(serde_json::Value::Number(n)) => check(Some(&n.to_string())),
        Some(other) => Err(TooNew {
            found: other.to_string(),
        }),
    }
}

/// The separator between a button value's version and its payload (`v1~<payload>`): no
/// payload Gantry puts on a button starts with `v<digits>~` (ids, job ids, pipeline names).
const STAMP_END: char = '~';

/// A Slack button value as this release writes it: its payload, prefixed with the version.
pub fn stamp(payload: &str) -> String {
    format!("v{SCHEMA_VERSION}{STAMP_END}{payload}")
}

/// A button value's payload. A value without the prefix is version 1's (a button posted
/// before values were stamped); one with a newer version is `TooNew`, so the click is answered
/// rather than its payload misread.
pub fn unstamp(value: &str) -> Result<&str, TooNew> {
    let prefixed = value
        .strip_prefix('v')
        .and_then(|rest| rest.split_once(STAMP_END))
        .filter(|(version, _)| !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()));
    match prefixed {
        None => Ok(value),
        Some((version, payload)) => check(Some(version)).map(|_| payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_a_version_is_read_as_the_first_shape() {
        assert_eq!(check(None), Ok(1));
        assert_eq!(check_json(&serde_json::json!({"pipeline": "p"})), Ok(1));
        assert_eq!(unstamp("a1b2"), Ok("a1b2"));
    }

    #[test]
    fn this_release_reads_what_it_writes() {
        assert_eq!(check(Some(&SCHEMA_VERSION.to_string())), Ok(SCHEMA_VERSION));
        assert_eq!(
            check_json(&serde_json::json!({"v": SCHEMA_VERSION})),
            Ok(SCHEMA_VERSION)
        );
        assert_eq!(unstamp(&stamp("job-1|4")), Ok("job-1|4"));
    }

    #[test]
    fn a_newer_version_is_too_new_and_says_so() {
        let newer = (SCHEMA_VERSION + 1).to_string();
        let e = check(Some(&newer)).unwrap_err();
        assert_eq!(e.found, newer);
        assert!(e.to_string().contains("newer Gantry"), "{e}");
        assert!(check_json(&serde_json::json!({"v": SCHEMA_VERSION + 1})).is_err());
        assert!(unstamp(&format!("v{newer}~job-1")).is_err());
    }

    #[test]
    fn a_version_nothing_wrote_is_never_read_as_a_known_one() {
        for raw in ["0", "-1", "1.5", "x", "", "99999999999"] {
            assert!(check(Some(raw)).is_err(), "{raw:?}");
        }
        assert!(check_json(&serde_json::json!({"v": "1"})).is_err());
        assert!(check_json(&serde_json::json!({"v": 1.5})).is_err());
    }

    #[test]
    fn a_value_that_only_looks_stamped_is_a_payload() {
        // No `~`, or letters where the version goes: an unversioned payload, read whole.
        assert_eq!(unstamp("v2"), Ok("v2"));
        assert_eq!(unstamp("vx~a"), Ok("vx~a"));
        assert_eq!(unstamp("v~a"), Ok("v~a"));
    }
}
