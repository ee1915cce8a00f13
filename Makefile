# The README's two commands are `go run ./dev` and `go test ./...`; these
# targets are shorthands for them and for the benchmarks.
.PHONY: run test bench build

run:
	go run ./dev

test:
	go test ./...

# Speed and memory are measured here, never by timed tests. Compare runs
# with benchstat; report ratios from one run, these machines are noisy.
bench:
	go test -run '^$$' -bench . -benchmem -count 5 ./...

build:
	mkdir -p bin
	go build -o bin/ ./worker ./starter ./dev
