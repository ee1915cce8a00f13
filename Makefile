# The README's two commands are `go run ./dev` and `go test ./...`; these
# targets are shorthands for them, for CI's checks and for the benchmarks.
.PHONY: run test check stress-test bench build

run:
	go run ./dev

test:
	go test ./...

# What CI runs besides the tests (see .ci/run).
check:
	go vet ./...
	go run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 -config .ci/workflowcheck.yaml ./workflows/...
	go test -race ./workflows ./slackapp ./api ./connectors/... ./claims

# The whole suite three times in a row while two busy loops hold both
# cores: CI machines are busy, and a test that asserts a step ahead of the
# state it waited for fails here first.
stress-test:
	.ci/stress

# Speed and memory are measured here, never by timed tests. Compare runs
# with benchstat; report ratios from one run, these machines are noisy.
# bench/: the engine against Temporal's own floor and raw SQL, in one run;
# prints a table and writes bench/results.json (DSR_BENCH_ROWS, default
# 1,000,000; DSR_BENCH_REQUESTS, default 60; DSR_BENCH_OPEN, default 2,000;
# DSR_BENCH_CLICKS, default 40).
# The micro-benchmarks of the other packages follow.
bench:
	cd bench && go test -run '^$$' -bench . -benchtime 1x -timeout 60m
	go test -run '^$$' -bench . -benchmem -count 5 $$(go list ./... | grep -v /bench)

build:
	mkdir -p bin
	go build -o bin/ ./worker ./starter ./dev
