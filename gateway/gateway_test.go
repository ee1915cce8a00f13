package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/keyring"
)

func TestHealth(t *testing.T) {
	ok := Checker{Name: "store", Check: func(context.Context) error { return nil }}
	down := Checker{Name: "temporal", Check: func(context.Context) error { return errors.New("connection refused") }}
	tests := []struct {
		checks []Checker
		code   int
		body   string
	}{
		{[]Checker{ok}, 200, `"store":"ok"`},
		{[]Checker{ok, down}, 503, `"temporal":"down: connection refused"`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		Handler(Options{Checks: tt.checks}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("health = %d %s, want %d with %s", rec.Code, rec.Body, tt.code, tt.body)
		}
	}
}

// TestCodecEndpoint is what the Web UI calls to show an auditor the
// decrypted payloads: it must decode what the engine encoded, answer the
// UI's CORS preflight, and be absent unless enabled.
func TestCodecEndpoint(t *testing.T) {
	k, err := keyring.New(bytes.Repeat([]byte{5}, keyring.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := k.DataConverter().ToPayload(map[string]string{"request_id": "REQ-1"})
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})

	h := Handler(Options{Codec: k.DisplayCodec(), CodecOrigins: []string{"http://127.0.0.1:8233", "http://localhost:8233"}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/codec/decode", bytes.NewReader(body))
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Fatalf("decode = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var out commonpb.Payloads
	raw, _ := io.ReadAll(rec.Body)
	if err := protojson.Unmarshal(raw, &out); err != nil {
		// The SDK handler writes encoding/json; fall back to that shape.
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode body: %v\n%s", err, raw)
		}
	}
	var got map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &got); err != nil || got["request_id"] != "REQ-1" {
		t.Fatalf("decoded = %v, %v", got, err)
	}

	pre := httptest.NewRequest("OPTIONS", "/codec/decode", nil)
	pre.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin preflight allowed: %d %v", rec.Code, rec.Header())
	}

	rec = httptest.NewRecorder()
	Handler(Options{}).ServeHTTP(rec, httptest.NewRequest("POST", "/codec/decode", bytes.NewReader(body)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("codec served without being enabled: %d", rec.Code)
	}
}
