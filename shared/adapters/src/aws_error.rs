//! An AWS SDK error in the shifter's words: the operation and a short reason. The AWS error text
//! (it can name ARNs, account ids, roles and policies) goes to the logs only: the reason is what
//! the job's failure message, the Slack thread and the deployment's status show.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use gantry_core::traffic::ShiftError;

/// `ShiftError::Aws` from any SDK error, after logging the AWS error in full.
pub(crate) fn shift_error<E>(operation: &str, e: E) -> ShiftError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    tracing::warn!(operation, error = %DisplayErrorContext(&e), "AWS call failed");
    ShiftError::Aws {
        operation: operation.to_string(),
        reason: short_reason(e.code()),
    }
}

/// `ShiftError::Aws` from an error that is not AWS's answer (a body that broke off, a request
/// that could not be built), after logging it in full.
pub(crate) fn local_error(operation: &str, e: impl std::fmt::Display) -> ShiftError {
    tracing::warn!(operation, error = %e, "AWS call failed");
    ShiftError::Aws {
        operation: operation.to_string(),
        reason: "no usable answer (details in the function's logs)".to_string(),
    }
}

/// What may be shown of an AWS error: the kind of failure and AWS's error code, an identifier
/// that names no resource; never the message.
pub(crate) fn short_reason(code: Option<&str>) -> String {
    let Some(code) = code.filter(|c| is_identifier(c)) else {
        return "no answer from AWS (details in the function's logs)".to_string();
    };
    let lower = code.to_ascii_lowercase();
    let kind = if lower.contains("throttl")
        || lower.contains("toomanyrequests")
        || lower.contains("limitexceeded")
    {
        "throttled"
    } else if lower.contains("accessdenied")
        || lower.contains("unauthorized")
        || lower.contains("notauthorized")
        || lower.contains("forbidden")
    {
        "access denied"
    } else if lower.contains("notfound") {
        "not found"
    } else if lower.contains("unavailable") || lower.contains("internal") {
        "AWS unavailable"
    } else {
        "refused"
    };
    format!("{kind} ({code}; details in the function's logs)")
}

/// An error code as AWS sends it (`AccessDeniedException`, `Throttling`…): letters, digits and
/// dots only, so no text of the message can ride along.
fn is_identifier(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_the_kind_and_the_code_never_the_message() {
        assert_eq!(
            short_reason(Some("AccessDeniedException")),
            "access denied (AccessDeniedException; details in the function's logs)"
        );
        assert!(short_reason(Some("ThrottlingException")).starts_with("throttled"));
        assert!(short_reason(Some("ServiceNotFoundException")).starts_with("not found"));
        assert!(short_reason(Some("ServiceUnavailable")).starts_with("AWS unavailable"));
        assert!(short_reason(Some("InvalidParameterException")).starts_with("refused"));
        // A code that is not an identifier could carry text: it is not shown.
        let odd = short_reason(Some("User: arn:aws:iam::123456789012:role/x"));
        assert!(
            !odd.contains("arn:") && !odd.contains("123456789012"),
            "{odd}"
        );
        assert!(short_reason(None).starts_with("no answer"));
    }
}
