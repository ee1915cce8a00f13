package domain

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
)

// IdentityKind says which kind of identifier a value is.
type IdentityKind string

const (
	Email      IdentityKind = "email"
	Phone      IdentityKind = "phone"
	CustomerID IdentityKind = "customer_id"
)

var IdentityKinds = []IdentityKind{Email, Phone, CustomerID}

// ValidIdentityKind says whether k is one of IdentityKinds or a kind the
// data map declares.
func ValidIdentityKind(k IdentityKind) bool { return slices.Contains(KnownKinds(), k) }

// Identity is one identifier of a data subject, normalized. It is personal
// data: it travels only in encrypted payloads and is stored only sealed.
type Identity struct {
	Kind  IdentityKind `json:"kind"`
	Value string       `json:"value"`
}

// String never prints the value, so an Identity in a log line or error leaks nothing.
func (id Identity) String() string { return string(id.Kind) + ":(redacted)" }

// NewIdentity validates and normalizes a raw value of the given kind.
// Errors name the field but never echo the value: it is personal data.
func NewIdentity(kind IdentityKind, raw string) (Identity, error) {
	var (
		v   string
		err error
	)
	switch kind {
	case Email:
		v, err = normalizeEmail(raw)
	case Phone:
		v, err = normalizePhone(raw)
	case CustomerID:
		v, err = normalizeCustomerID(raw)
	default:
		ck, ok := customKind(kind)
		if !ok {
			return Identity{}, &FieldError{Field: "identity kind", Value: string(kind), Reason: "must be one of " + JoinNames(KnownKinds())}
		}
		v, err = ck.normalize(raw)
	}
	if err != nil {
		return Identity{}, &FieldError{Field: string(kind), Reason: err.Error()}
	}
	return Identity{Kind: kind, Value: v}, nil
}

func normalizeEmail(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	if v == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(v) > 254 {
		return "", fmt.Errorf("is longer than 254 characters")
	}
	if err := printableOnly(v); err != nil {
		return "", err
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" {
		return "", fmt.Errorf("is not a plain address of the form name@domain")
	}
	at := strings.LastIndexByte(v, '@')
	if domain := v[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", fmt.Errorf("domain must be a dotted host name")
	}
	return v, nil
}

// normalizePhone accepts the ways people write international numbers
// ("+44 20 7946 0958", "0044 (20) 7946-0958") and returns E.164. A number
// without a country code is refused: guessing one could match a stranger.
func normalizePhone(raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if strings.HasPrefix(v, "00") {
		v = "+" + v[2:]
	}
	if !strings.HasPrefix(v, "+") {
		return "", fmt.Errorf("must be in international form starting with + and the country code (E.164)")
	}
	var digits strings.Builder
	for _, r := range v[1:] {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("may contain only digits, spaces, '-', '.', '(' and ')' after the +")
		}
	}
	d := digits.String()
	if len(d) < 8 || len(d) > 15 {
		return "", fmt.Errorf("must have 8 to 15 digits including the country code (E.164), has %d", len(d))
	}
	if d[0] == '0' {
		return "", fmt.Errorf("country code cannot start with 0")
	}
	return "+" + d, nil
}

func normalizeCustomerID(raw string) (string, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(v) > 128 {
		return "", fmt.Errorf("is longer than 128 bytes")
	}
	return v, printableOnly(v)
}

// printableOnly refuses control, format and invisible characters: a
// zero-width space or a bidi override makes two different ids look alike.
func printableOnly(v string) error {
	for _, r := range v {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("contains an invisible or control character (U+%04X)", r)
		}
	}
	return nil
}

// Masked shows enough of an identity for a person to recognise it, and
// not enough to use it: the first letter and the domain of an e-mail
// address, the last three digits of a phone number, the ends of a
// customer number.
func (i Identity) Masked() string {
	v := []rune(i.Value)
	switch i.Kind {
	case Email:
		local, domain, ok := strings.Cut(i.Value, "@")
		if ok && local != "" {
			return string([]rune(local)[0]) + "***@" + domain
		}
	case Phone:
		if len(v) > 3 {
			return strings.Repeat("*", len(v)-3) + string(v[len(v)-3:])
		}
	default:
		if len(v) > 4 {
			return string(v[0]) + strings.Repeat("*", len(v)-3) + string(v[len(v)-2:])
		}
	}
	return strings.Repeat("*", len(v))
}
