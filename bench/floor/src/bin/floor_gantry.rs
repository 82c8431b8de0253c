//! The floor's work (one SDK configuration, one Secrets Manager read, then `{"hello": "world"}`)
//! with Gantry's SDK configuration (`gantry_adapters::sdk::load`) in place of `aws-config`'s
//! defaults: the same run measures the start-up work Gantry removed
//! (docs/performance.md#start-up-below-the-naive-floor), before (`bench-floor`) and
//! after (this).

use gantry_bench_floor::read_the_secret_then_answer;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    read_the_secret_then_answer(gantry_adapters::sdk::load().await).await
}
