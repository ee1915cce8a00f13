package api

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// Suppression answers whether an identity is on the suppression list.
type Suppression struct {
	Suppressed bool `json:"suppressed"`
}

// SuppressionIdentity reads the one identity a suppression check asks
// about (email=, phone= or customer_id=), normalised as erasure stored it.
func SuppressionIdentity(q url.Values) (domain.Identity, error) {
	var found []domain.Identity
	for _, kind := range []domain.IdentityKind{domain.Email, domain.Phone, domain.CustomerID} {
		for _, v := range q[string(kind)] {
			id, err := domain.NewIdentity(kind, v)
			if err != nil {
				return domain.Identity{}, err
			}
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		return domain.Identity{}, &domain.FieldError{Field: "query", Value: fmt.Sprintf("%d identities", len(found)),
			Reason: "give exactly one of email=, phone= or customer_id="}
	}
	return found[0], nil
}

// suppression tells a pipeline whether to leave an identity out: only
// yes or no, never when, why or for which request. Every check is
// audited, by whom and with what answer, never the identity.
func (s *Server) suppression(w http.ResponseWriter, r *http.Request, t store.Token) {
	id, err := SuppressionIdentity(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	ok, err := s.Store.Suppressed(r.Context(), string(id.Kind), s.Keys.Hash(string(id.Kind), id.Value))
	if err != nil {
		failFor(w, err)
		return
	}
	if err := s.Store.AppendAudit(r.Context(), records.AuditEntry{Actor: "api:" + t.Name, Action: "suppression.checked",
		Detail: map[string]any{"kind": id.Kind, "suppressed": ok}}); err != nil {
		failFor(w, err)
		return
	}
	reply(w, http.StatusOK, Suppression{Suppressed: ok})
}
