//! Structured JSON logs, one line per event, as CloudWatch Logs Insights expects.
//!
//! The level filter is tracing-subscriber's `Targets` (`level` or `target=level`, comma
//! separated), not its `EnvFilter`: `EnvFilter` parses its directives with the `regex` crate,
//! code in each function for span and field filters Gantry's logs never need (and code in the
//! binary is resident memory in a warm process; its size is in
//! docs/performance.md#peak-memory-every-function-under-12-mib-the-traffic-shifter-at-114).

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON subscriber. The level comes from `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`),
/// `info` by default or when the setting does not parse. Calling it twice is harmless (the second
/// call is ignored).
pub fn init() {
    let setting = std::env::var("RUST_LOG").ok().or_else(|| {
        std::env::var("AWS_LAMBDA_LOG_LEVEL")
            .ok()
            .map(|l| l.to_lowercase())
    });
    install(filter(setting.as_deref()), std::io::stdout);
}

/// The filter `setting` describes (`info`, `debug`, `warn,gantry_core=debug`...), `info` when it
/// is absent or does not parse.
pub fn filter(setting: Option<&str>) -> Targets {
    setting
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Installs the functions' JSON log format with `filter`, writing to `writer`: the functions
/// write to stdout, the warm benchmark pays for the same formatting into a sink. Ignored when a
/// subscriber is already installed.
pub fn install<W>(filter: Targets, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    #[test]
    fn a_level_or_per_target_levels_parse_and_anything_else_is_info() {
        assert_eq!(filter(None).default_level(), Some(LevelFilter::INFO));
        assert_eq!(
            filter(Some("debug")).default_level(),
            Some(LevelFilter::DEBUG)
        );
        let targets = filter(Some("warn,gantry_core=trace"));
        assert!(targets.would_enable("gantry_core::traffic", &Level::TRACE));
        assert!(!targets.would_enable("hyper", &Level::INFO));
        assert_eq!(
            filter(Some("gantry=notalevel")).default_level(),
            Some(LevelFilter::INFO)
        );
    }
}
