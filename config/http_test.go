package config

import (
	"strings"
	"testing"
)

const goodHTTP = `departments:
  - name: Marketing
    approvers: [marketing@acme.example]
systems:
  - name: mailwave
    department: Marketing
    connector: http
    http:
      base_url_env: MAILWAVE_URL
      auth: {type: bearer, token_env: MAILWAVE_TOKEN}
    purposes: [newsletter]
    legal_basis: consent
    retention: until consent is withdrawn
    objects:
      - name: contacts
        fields: {email: [contact], first_name: [name]}
        lookup:
          path: /v3/contacts?email={email}
          items: contacts
          match: email
          pagination: {cursor: meta.next_cursor, cursor_param: cursor}
        export: {path: "/v3/contacts/{record.id}"}
        erase: delete
        erase_request:
          method: POST
          path: /v3/erasures
          body: {email: "{email}"}
          job: {id: job.id, path: "/v3/jobs/{job.id}", status: state, done: [completed], failed: [failed], interval: 2s}
        consent:
          newsletter:
            method: PUT
            path: "/v3/contacts/{record.id}/subscriptions/{purpose}"
            body: {subscribed: "{granted}"}
      - name: events
        lookup: {path: "/v3/events?email={email}", match: email, pagination: {link_header: true}}
        erase: keep
        legal_hold: fraud investigations keep click records 1 year
  - name: paper-archive
    department: Marketing
    connector: manual
    manual:
      location: signed paper consent forms, Marketing office cabinet 3
      instructions:
        access: scan the subject's forms and attach them to the task
        erasure: shred the subject's forms
    purposes: [newsletter]
    legal_basis: consent
    retention: 3 years
`

func TestParseHTTPAndManualSystems(t *testing.T) {
	f, err := Parse("h.yaml", []byte(goodHTTP))
	if err != nil {
		t.Fatal(err)
	}
	o := f.Systems[0].Objects[0]
	if o.Lookup.Pagination.CursorParam != "cursor" || o.EraseRequest.Job.Interval == 0 || o.Consent["newsletter"].Body.(map[string]any)["subscribed"] != "{granted}" {
		t.Fatalf("objects = %+v", f.Systems[0].Objects)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"url in the file with a secret", "base_url_env: MAILWAVE_URL", "base_url: https://user:pw@api.mailwave.example", "systems[0].http.base_url: base URL must not hold credentials"},
		{"plain http", "base_url_env: MAILWAVE_URL", "base_url: http://api.mailwave.example", "must use https"},
		{"both urls", "base_url_env: MAILWAVE_URL", "base_url_env: MAILWAVE_URL\n      base_url: https://api.mailwave.example", "exactly one of base_url and base_url_env"},
		{"token in the file", "token_env: MAILWAVE_TOKEN", "token_env: sk_live_123", `bearer auth needs token_env naming environment variables`},
		{"unknown auth", "type: bearer", "type: oauth", `systems[0].http.auth.type: "oauth"`},
		{"api key nowhere", "{type: bearer, token_env: MAILWAVE_TOKEN}", "{type: api_key, key_env: K}", "give exactly one of header and query"},
		{"lookup without identity", "path: /v3/contacts?email={email}", "path: /v3/contacts", "systems[0].objects[0].lookup: a lookup needs one of {email}"},
		{"unknown placeholder", "path: /v3/contacts?email={email}", "path: /v3/contacts?email={emial}", "placeholder {emial} is not known here"},
		{"record in a lookup", "path: /v3/contacts?email={email}", "path: /v3/contacts/{record.id}?email={email}", "placeholder {record.id} is not known here"},
		{"relative path", "path: /v3/erasures", "path: v3/erasures", `systems[0].objects[0].erase_request.path: "v3/erasures" must start with /`},
		{"no method", "method: POST\n", "\n", "systems[0].objects[0].erase_request.method: is required"},
		{"bad method", "method: PUT", "method: FETCH", `consent.newsletter.method: "FETCH"`},
		{"two paginations", "pagination: {link_header: true}", "pagination: {link_header: true, next: meta.next}", "objects[1].lookup.pagination: give exactly one"},
		{"cursor without param", ", cursor_param: cursor}", "}", "pagination.cursor_param"},
		{"job without done", "done: [completed], ", "", "a job needs id"},
		{"bad interval", "interval: 2s", "interval: soon", `"soon" is not a duration`},
		{"keep without hold", "        legal_hold: fraud investigations keep click records 1 year\n", "", "objects[1].legal_hold: erase: keep needs the legal hold"},
		{"delete without request", "erase: keep", "erase: delete", "objects[1].erase_request: erase: delete needs the request"},
		{"unknown strategy", "erase: keep", "erase: mask", `objects[1].erase: "mask" must be one of delete, anonymize, keep`},
		{"consent for unknown purpose", "          newsletter:\n            method", "          profiling:\n            method", `purpose "profiling" is not among`},
		{"granted outside consent", "body: {email: \"{email}\"}", "body: {email: \"{email}\", on: \"{granted}\"}", "placeholder {granted} is not known here"},
		{"duplicate object", "name: events", "name: contacts", `objects[1].name: "contacts" must be a unique name`},
		{"unknown link kind", "        fields: {email: [contact], first_name: [name]}", "        fields: {email: [contact], first_name: [name]}\n        links: {ssn: national_id}",
			"systems[0].objects[0].links.ssn: unknown identity kind"},
		{"unknown field", "items: contacts", "itemz: contacts", `unknown field "itemz" in a call`},
		{"tables on http", "    objects:\n", "    tables: [{name: t}]\n    objects:\n", "systems[0].tables: belongs to sql systems; this one is http"},
		{"no objects", "    objects:\n      - name: contacts", "    objectz:\n      - name: contacts", `unknown field "objectz" in a system`},
		{"manual without location", "location: signed paper consent forms, Marketing office cabinet 3", "location: \"\"", "systems[1].manual.location: a manual system says where"},
		{"manual without erasure", "        erasure: shred the subject's forms\n", "", "systems[1].manual.instructions.erasure: is required"},
		{"search without match", `lookup: {path: "/v3/events?email={email}", match: email,`, `lookup: {path: "/v3/events?email={email}",`,
			"systems[0].objects[1].lookup.match: is required: the lookup passes the identity as a search"},
		{"manual unknown work", "        erasure: shred", "        shredding: x\n        erasure: shred", "manual.instructions.shredding: unknown kind of work"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(goodHTTP, tc.old) {
				t.Fatalf("test edits %q, which the map lacks", tc.old)
			}
			_, err := Parse("h.yaml", []byte(strings.Replace(goodHTTP, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "h.yaml:") {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}
