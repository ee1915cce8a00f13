package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOpenAPIDescribesEveryRoute: the document and the routes agree.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rt := range (&Server{}).routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is not in openapi.json", rt.pattern)
		}
		seen[strings.ToLower(method)+" "+path] = true
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !seen[method+" "+path] && path != "/api/v1/openapi.json" && !strings.HasPrefix(path, "/api/v1/public/") {
				t.Errorf("openapi.json describes %s %s, which is not served", method, path)
			}
		}
	}
}
