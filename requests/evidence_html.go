package requests

import (
	"embed"
	"html/template"
	"io"
	"time"
)

//go:embed evidence.html
var evidenceHTML embed.FS

var evidencePage = template.Must(template.New("evidence.html").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"day":  func(t time.Time) string { return t.Format("2 January 2006") },
}).ParseFS(evidenceHTML, "evidence.html"))

// WriteHTML writes the evidence pack as one printable HTML page: no
// scripts, no external resources, so it can be archived as it is.
func (e Evidence) WriteHTML(w io.Writer) error { return evidencePage.Execute(w, e) }
