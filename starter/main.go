// Command starter is the command-line client of compliance teams and
// auditors: it starts data-subject requests and shows where they stand.
//
//	starter start --type access --regulation gdpr --email jane@example.com
//	starter show REQ-2026-0001 --output json
//
// Exit codes: 0 done, 1 failed (e.g. Temporal unreachable), 2 invalid
// input or usage, 3 no such request, 4 request id already used otherwise,
// 5 refused by the request (e.g. an extension beyond what the law allows).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
