// Package console serves the web pages: the privacy center, where data
// subjects make requests, and the staff console, where compliance,
// approvers and auditors follow and act on them through the API with
// their tokens. The pages are static, with no external resources.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves /privacy, the subject's /privacy/status and /console/.
func Handler() http.Handler {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(files, name)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			secure(w)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(b)
		}
	}
	mux.HandleFunc("GET /privacy", page("privacy.html"))
	mux.HandleFunc("GET /privacy/status", page("status.html"))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/console/", http.StatusFound) })
	mux.HandleFunc("GET /console/{$}", page("console.html"))
	assets := http.StripPrefix("/console/", http.FileServerFS(files))
	mux.Handle("GET /console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		assets.ServeHTTP(w, r)
	}))
	return mux
}

// secure keeps the pages to their own scripts and out of frames.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
