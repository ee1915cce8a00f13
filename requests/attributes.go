package requests

import (
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// attributes are a listed workflow's raw search attributes. They are
// indexed by the server, so they are plain JSON, never encrypted.
type attributes map[string]*commonpb.Payload

func decodeAttributes(sa *commonpb.SearchAttributes) attributes { return sa.GetIndexedFields() }

func (a attributes) keyword(name string) string {
	var s string
	converter.GetDefaultDataConverter().FromPayload(a[name], &s)
	return s
}

func (a attributes) time(name string) time.Time {
	var t time.Time
	converter.GetDefaultDataConverter().FromPayload(a[name], &t)
	return t
}

func (a attributes) list(name string) []string {
	var l []string
	if converter.GetDefaultDataConverter().FromPayload(a[name], &l) != nil {
		// A keyword list with one value may arrive as that value alone.
		if s := a.keyword(name); s != "" {
			l = []string{s}
		}
	}
	return l
}
