//! Structured JSON logs, one line per event, as CloudWatch Logs Insights expects.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The level comes from `RUST_LOG` (or Lambda's `AWS_LAMBDA_LOG_LEVEL`),
/// `info` by default. Calling it twice is harmless (the second call is ignored).
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    install(filter, std::io::stdout);
}

/// Installs the functions' JSON log format with `filter`, writing to `writer`: the functions
/// write to stdout, the warm benchmark pays for the same formatting into a sink. Ignored when a
/// subscriber is already installed.
pub fn install<W>(filter: EnvFilter, writer: W)
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
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
}
