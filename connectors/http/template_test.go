package http

import (
	"encoding/json"
	"testing"

	"github.com/dsrengine/dsr/domain"
)

// TestBodyValuesCannotChangeItsStructure: a value full of JSON syntax
// stays one string, and {granted} keeps its type.
func TestBodyValuesCannotChangeItsStructure(t *testing.T) {
	v := vars{identity: domain.Identity{Kind: domain.Email, Value: `x","admin":true,"y":"@example.com`}, granted: true,
		record: map[string]any{"id": json.Number("42")}}
	body, err := expandBody(map[string]any{"email": "{email}", "note": "for {email}", "on": "{granted}", "ids": []any{"{record.id}"}}, v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 4 || back["email"] != v.identity.Value || back["on"] != true || back["note"] != "for "+v.identity.Value {
		t.Fatalf("body = %s", b)
	}
	if ids := back["ids"].([]any); ids[0] != float64(42) {
		t.Fatalf("record id lost its type: %s", b)
	}
	if _, err := expandBody("{record.missing}", v); err == nil {
		t.Fatal("a missing record field was filled with nothing")
	}
}
