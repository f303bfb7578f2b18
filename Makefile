GO ?= go
BIN := bin

.PHONY: all build test bench demo deps clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Every test: gofmt, go vet, and the Go tests with -race (installs what they need first).
test:
	scripts/test.sh

# Benchmarks against real binaries; prints the figures the issues ask for.
bench: build
	scripts/bench.sh

# The whole pipeline locally; prints the URLs to open.
demo: build
	scripts/demo.sh

deps:
	scripts/install-deps.sh

clean:
	rm -rf $(BIN)
