# tern — the two commands of the README's quick start, and a few helpers.
.PHONY: demo decode-demo test build fmt lint install uninstall unit

build:
	cargo build --release

# Quick start 1: install what the lab needs, build tern, run the three-host lab
# (BIRD top-of-rack, tern mesh, containers pinging across hosts), clean up.
demo:
	./scripts/install-deps.sh demo
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

# Install on a host: the binary, the systemd unit, the config and state folders, the CNI
# plugin. DESTDIR for staging (packaging); PREFIX for the binary's place.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
CONFDIR ?= /etc/tern
UNITDIR ?= /etc/systemd/system
CNIBINDIR ?= /opt/cni/bin
install: build
	install -D -m 0755 target/release/tern $(DESTDIR)$(BINDIR)/tern
	install -d -m 0755 $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/policies $(DESTDIR)$(CONFDIR)/endpoints
	install -d -m 0700 $(DESTDIR)/var/lib/tern
	install -D -m 0755 target/release/tern $(DESTDIR)$(CNIBINDIR)/tern
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	target/release/tern manpage --dir $(DESTDIR)$(PREFIX)/share/man/man1
	target/release/tern completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tern
	$(MAKE) -s unit UNIT_OUT=tern.service.tmp
	install -D -m 0644 tern.service.tmp $(DESTDIR)$(UNITDIR)/tern.service
	rm -f tern.service.tmp
	@echo "installed; next: write $(CONFDIR)/node.yaml (docs/operations.md), then systemctl daemon-reload && systemctl enable --now tern"

# The systemd unit with this install's paths filled in (tests verify it with systemd-analyze).
UNIT_OUT ?= tern.service
unit:
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' dist/tern.service.in > $(UNIT_OUT)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tern $(DESTDIR)$(CNIBINDIR)/tern $(DESTDIR)$(UNITDIR)/tern.service
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/tern.1 $(DESTDIR)$(PREFIX)/share/man/man1/tern-*.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tern
	@echo "kept $(CONFDIR) and /var/lib/tern; see docs/operations.md, Uninstall"
