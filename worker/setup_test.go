package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/server/temporaltest"
)

// TestSetup prepares a namespace on a real server: the search attributes
// are registered (and again without harm), a retention shorter than asked
// is refused with the command that raises it, and a namespace that does
// not exist is named.
func TestSetup(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ns := ts.GetDefaultNamespace()
	args := func(extra ...string) []string {
		return append([]string{"--temporal-address", ts.GetFrontendHostPort(), "--namespace", ns}, extra...)
	}

	var out bytes.Buffer
	err := setup(ctx, args("--min-retention", "400d"), &out)
	if err == nil || !strings.Contains(err.Error(), "less than 400 days") || !strings.Contains(err.Error(), "temporal operator namespace update --namespace "+ns+" --retention 400d") {
		t.Fatalf("a short retention: %v", err)
	}
	c := ts.GetDefaultClient()
	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"DsrRequestType", "DsrStatus", "DsrDueAt", "DsrPendingDepartments"} {
		if _, ok := attrs.GetCustomAttributes()[name]; !ok {
			t.Errorf("%s is not registered", name)
		}
	}
	out.Reset()
	if err := setup(ctx, args("--min-retention", "1h"), &out); err != nil {
		t.Fatalf("again: %v", err)
	}
	if !strings.Contains(out.String(), "search attributes registered: DsrDueAt (Datetime)") || !strings.Contains(out.String(), "Closed requests' histories are kept") {
		t.Fatalf("output: %s", out.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--temporal-address", ts.GetFrontendHostPort(), "--namespace", "nowhere"}, "namespace nowhere does not exist"},
		{args("--min-retention", "a while"), `--min-retention "a while" is not a duration`},
		{args("extra"), `unexpected argument "extra"`},
	} {
		if err := setup(ctx, tc.args, &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
