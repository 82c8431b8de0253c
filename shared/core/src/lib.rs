//! Gantry's pure core: every decision as a function over plain data, and the ports (traits in
//! domain words) the adapters implement. Cargo keeps it pure: this crate depends on no AWS SDK,
//! HTTP client or Lambda runtime.
pub mod analysis;
