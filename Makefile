# pushca build and test entry points. `make test` is what README.md and CI run.
GO ?= go
# Debian packages whose tools the tests use as oracles.
ORACLE_PKGS := openssl cabextract gcab osslsigncode libwbxml2-utils libxml2-utils zbar-tools qrencode curl chromium nginx-light apache2 haproxy systemd certbot postgresql
# One binary per tool, checked to decide whether apt-get is needed at all
# (servers live in /usr/sbin, off a user's PATH; PostgreSQL's initdb in
# /usr/lib/postgresql/VERSION/bin, checked apart).
ORACLE_BINS := openssl cabextract gcab osslsigncode wbxml2xml xml2wbxml xmllint zbarimg qrencode curl chromium nginx apache2 haproxy systemd-analyze certbot

.PHONY: build test tools step-ca vet fuzz bench bench-bundle clean

build:
	$(GO) build -o bin/pushca ./cmd/pushca

tools: step-ca
	@missing=""; for b in $(ORACLE_BINS); do PATH="$$PATH:/usr/sbin:/sbin" command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing oracle tools (missing:$$missing)"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(ORACLE_PKGS) >/dev/null; \
	fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test: tools vet
	$(GO) test -race -count=1 -timeout 25m ./...

# Short fuzz runs of every target; FUZZTIME=1m make fuzz for longer.
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# step-ca built once, from the module cache at go.mod's version, into
# GOPATH/bin: the tests run it on pushca state directories as a peer.
STEP_CA = $$($(GO) env GOPATH)/bin/step-ca
step-ca:
	@v=$$($(GO) list -m -f '{{.Version}}' github.com/smallstep/certificates); \
	if ! $(GO) version -m $(STEP_CA) 2>/dev/null | grep -q "mod[[:space:]]*github.com/smallstep/certificates[[:space:]]*$$v[[:space:]]"; then \
		echo "building step-ca $$v (once; about two minutes)"; \
		CGO_ENABLED=0 $(GO) install github.com/smallstep/certificates/cmd/step-ca@$$v; \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Wall time and peak RSS of `pushca bundle` for N users against a plain
# openssl + gcab + qrencode script run on BASELINE_N of them (it forks ten
# processes a user, so its full 10,000 takes many minutes).
N ?= 10000
BASELINE_N ?= 1000
bench-bundle:
	sh scripts/bench-bundle.sh $(N) $(BASELINE_N)

clean:
	rm -rf bin
