//! An AWS SDK error in the shifter's words: the operation, and the service's error code and
//! message when it sent one (for the job's failure message and logs).

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use gantry_core::traffic::ShiftError;

/// `ShiftError::Aws` from any SDK error.
pub(crate) fn shift_error<E>(operation: &str, e: E) -> ShiftError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reason = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(&e).to_string(),
    };
    ShiftError::Aws {
        operation: operation.to_string(),
        reason,
    }
}
