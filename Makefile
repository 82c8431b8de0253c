# Gantry: the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test bootstrap build release audit bench lint fmt clean

## demo: the whole flow locally, against the AWS emulator and the Slack stand-in
demo: bootstrap
	scripts/demo.sh

## test: every test (what CI runs)
test:
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

## build: the four functions as Lambda deploys them: `sam build` runs cargo-lambda (release, arm64)
## for each function in template.yaml, into .aws-sam/build, ready for `sam deploy`
build: bootstrap
	PATH="$$PWD/.venv/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build

## release: dist/ as docs/release.md describes it: the four functions zipped for Lambda (release,
## arm64), the templates packaged for `sam deploy`/`sam publish` with no toolchain, LICENSE, README,
## an SBOM and SHA256SUMS; the same source and SOURCE_DATE_EPOCH give the same SHA256SUMS
release: bootstrap
	scripts/release.sh

## audit: known vulnerabilities in Cargo.lock (cargo audit); needs the network to fetch the RustSec
## database, so it is a release step (docs/release.md), not part of `make test`
audit: bootstrap
	.venv/bin/cargo-audit audit

## bench: cold start, warm latency, memory, package size and bursts of the four functions as
## deployed (release builds), each figure with its goal: a table, and bench/results.json
bench: bootstrap
	scripts/bench.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
