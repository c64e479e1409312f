# tern — the two commands of the README's quick start, and a few helpers.
.PHONY: demo decode-demo test build fmt lint

build:
	cargo build --release

# Quick start 1: install what the lab needs, build tern, run the three-host lab
# (BIRD top-of-rack, tern mesh, containers pinging across hosts), clean up.
demo:
	./scripts/install-deps.sh
	./scripts/lab.sh

# Decode a shipped capture of a real BIRD<->GoBGP session with `tern bgp decode`.
decode-demo:
	./scripts/decode-demo.sh

# Quick start 2: install the system packages the tests need, then run every test.
test:
	./scripts/install-deps.sh
	cargo test --workspace --all-targets --no-fail-fast

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
