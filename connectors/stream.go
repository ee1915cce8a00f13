package connectors

import (
	"encoding/json"
	"io"
)

// Stream writes an export piece by piece, as a connector reads the
// records, and keeps the first error, so the connector checks once and
// never holds a whole export in memory.
type Stream struct {
	W   io.Writer
	Err error
}

// Raw writes text as it is (JSON punctuation, indentation).
func (s *Stream) Raw(text string) {
	if s.Err == nil {
		_, s.Err = io.WriteString(s.W, text)
	}
}

// Value writes prefix and v as JSON.
func (s *Stream) Value(prefix string, v any) {
	if s.Err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.Err = err
		return
	}
	s.Raw(prefix + string(b))
}
