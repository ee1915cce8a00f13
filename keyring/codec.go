package keyring

import (
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	metadataEncoding  = "encoding"
	encodingEncrypted = "binary/encrypted"
	metadataKeyID     = "encryption-key-id"
	// MetadataWorkflow names the workflow a payload belongs to. It is
	// bound into the ciphertext, so the codec endpoint can audit whose
	// data it decrypted, and a payload cannot be passed off as another
	// workflow's.
	MetadataWorkflow = "dsr-workflow-id"
)

// Codec encrypts every Temporal payload (inputs, results, signals, queries,
// memos) with AES-256-GCM before it leaves the process. The server and its
// database only ever see ciphertext.
//
// Decoding refuses a payload that is not encrypted with this engine's key:
// a client that lacks the key cannot hand a workflow an input, a change or
// a query argument at all, so plain Temporal access is not a way in.
type Codec struct {
	k *Keyring
	// display lets plain payloads through, for the Web UI and CLI: the
	// server writes some itself (a termination's details), and showing
	// them decides nothing.
	display bool
	// workflow is the workflow whose payloads this codec encodes, from
	// the SDK's serialization context; "" where there is none.
	workflow string
}

// Codec returns the payload codec for this keyring's clients and workers.
func (k *Keyring) Codec() *Codec { return &Codec{k: k} }

// DisplayCodec returns the codec served to the Web UI and CLI, which
// decodes for reading and shows plain payloads as they are.
func (k *Keyring) DisplayCodec() *Codec { return &Codec{k: k, display: true} }

// ErrPlainPayload is returned for a payload that is not encrypted.
var ErrPlainPayload = errors.New("payload is not encrypted with the engine's key: the engine's workflows accept only payloads from the engine's own clients")

// DataConverter wraps the SDK's default converter with the codec; clients
// and workers must all use it.
func (k *Keyring) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), k.Codec())
}

// FailureConverter moves error messages and stack traces into an
// encrypted payload. A database driver's error can quote the value it
// choked on, and failures are otherwise stored in plain text; the UI and
// the CLI decode them through the same codec endpoint as payloads.
func (k *Keyring) FailureConverter() converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: k.DataConverter(), EncodeCommonAttributes: true})
}

// WithSerializationContext implements
// converter.PayloadCodecWithSerializationContext: payloads encoded for a
// workflow or its activities carry the workflow's id.
func (c *Codec) WithSerializationContext(sc converter.SerializationContext) converter.PayloadCodec {
	out := *c
	switch sc := sc.(type) {
	case converter.WorkflowSerializationContext:
		out.workflow = sc.WorkflowID
	case converter.ActivitySerializationContext:
		out.workflow = sc.WorkflowID
	}
	return &out
}

// additional is the data each ciphertext is bound to: the key's id and,
// when known, the workflow's.
func (c *Codec) additional(workflow string) []byte {
	if workflow == "" {
		return []byte(c.k.keyID)
	}
	return []byte(c.k.keyID + "\x00" + workflow)
}

// WorkflowOf is the workflow id an encrypted payload names, or "". The id
// is checked when the payload is decoded.
func WorkflowOf(p *commonpb.Payload) string { return string(p.GetMetadata()[MetadataWorkflow]) }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		sealed, err := seal(c.k.payload, plain, c.additional(c.workflow))
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		meta := map[string][]byte{
			metadataEncoding: []byte(encodingEncrypted),
			metadataKeyID:    []byte(c.k.keyID),
		}
		if c.workflow != "" {
			meta[MetadataWorkflow] = []byte(c.workflow)
		}
		out[i] = &commonpb.Payload{Metadata: meta, Data: sealed}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[metadataEncoding]) != encodingEncrypted {
			if !c.display {
				return nil, fmt.Errorf("payload %d (%s): %w", i, p.GetMetadata()[metadataEncoding], ErrPlainPayload)
			}
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()[metadataKeyID]); id != c.k.keyID {
			return nil, fmt.Errorf("payload encrypted with key %q, this engine holds key %q", id, c.k.keyID)
		}
		plain, err := open(c.k.payload, p.GetData(), c.additional(string(p.GetMetadata()[MetadataWorkflow])))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}
