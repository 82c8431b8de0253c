# Gantry: the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test bootstrap build bench lint fmt clean

## demo: the whole flow locally, against the AWS emulator and the Slack stand-in
demo: bootstrap
	scripts/demo.sh

## test: every test (what CI runs)
test:
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

## build: the four functions as Lambda deploys them (release, arm64)
build: bootstrap
	PATH="$$PWD/.venv/bin:$$PATH" cargo lambda build --release --arm64

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
