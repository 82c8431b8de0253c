//! Gantry's core: everything more than one function needs, and every decision as plain data.
//!
//! Pure modules (`signature`, `routing`, `push`) use no AWS SDK, no Lambda runtime and no HTTP
//! client, so they run in a unit test with nothing started. The I/O modules (`aws`, `secrets`,
//! `state`, `pipeline`) depend on them, never the other way round.

pub mod approval;
pub mod aws;
pub mod config;
pub mod ingest;
pub mod notify;
pub mod pipeline;
pub mod push;
pub mod routing;
pub mod runtime;
pub mod secrets;
pub mod shifter;
pub mod signature;
pub mod slack;
pub mod state;
pub mod telemetry;
pub mod traffic;
