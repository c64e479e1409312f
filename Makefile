# tern — the two commands of the README's quick start, and a few helpers.
.PHONY: demo test build fmt lint

build:
	cargo build --release

# Quick start 1: build and run the demo.
demo:
	./scripts/demo.sh

# Quick start 2: install the system packages the tests need, then run every test.
test:
	./scripts/install-deps.sh
	cargo test --workspace --all-targets

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
