package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/dsrengine/dsr/domain"
)

//go:embed templates
var builtin embed.FS

// Kinds are the notices a subject receives. Every language has a .txt and
// an .html template for each.
var Kinds = []string{"receipt", "verification-code", "extension", "denial", "answer", "consent-confirmation", "notice"}

// Data is what a template may use. Text is the engine's own sentence for
// the notice, in English; a template in another language builds its
// sentence from the other fields instead.
type Data struct {
	RequestID  string
	Kind       string
	Type       string // access, erasure, …
	Regulation string // gdpr, uk_gdpr, ccpa, lgpd
	ReceivedAt time.Time
	DueAt      time.Time
	Text       string
	// Link is where the subject follows the request or downloads the
	// answer, when there is one; Code a one-time verification code.
	Link    string
	Code    string
	Company string
}

// Templates are the notices' templates, per language.
type Templates struct {
	text     map[string]*template.Template
	html     map[string]*htmltemplate.Template
	fallback string
}

// LoadTemplates reads the built-in templates and, when dir is not empty,
// the languages in dir (one folder per language, such as dir/fr), which
// replace the built-in ones of the same language. fallback is the language
// used when a request's is not there. Every missing or broken template is
// named with its file.
func LoadTemplates(dir fs.FS, fallback string) (*Templates, error) {
	t := &Templates{text: map[string]*template.Template{}, html: map[string]*htmltemplate.Template{}, fallback: fallback}
	sub, _ := fs.Sub(builtin, "templates")
	var errs []error
	for _, src := range []fs.FS{sub, dir} {
		if src == nil {
			continue
		}
		langs, err := fs.ReadDir(src, ".")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		for _, l := range langs {
			if !l.IsDir() {
				continue
			}
			if err := t.load(src, l.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, ok := t.text[fallback]; !ok && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("mail templates: no templates for the default language %q", fallback))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func (t *Templates) load(src fs.FS, lang string) error {
	var errs []error
	for _, kind := range Kinds {
		for _, ext := range []string{".txt", ".html"} {
			if _, err := fs.Stat(src, path.Join(lang, kind+ext)); err != nil {
				errs = append(errs, fmt.Errorf("mail templates: %s: missing", path.Join(lang, kind+ext)))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	funcs := map[string]any{"date": func(t time.Time) string { return t.Format("2 January 2006") }, "upper": strings.ToUpper,
		"law": law, "authority": authority}
	tt, err := template.New(lang).Funcs(funcs).Option("missingkey=error").ParseFS(src, path.Join(lang, "*.txt"))
	if err != nil {
		return fmt.Errorf("mail templates: %w", err)
	}
	ht, err := htmltemplate.New(lang).Funcs(funcs).Option("missingkey=error").ParseFS(src, path.Join(lang, "*.html"))
	if err != nil {
		return fmt.Errorf("mail templates: %w", err)
	}
	t.text[lang], t.html[lang] = tt, ht
	// Render each once with sample data: a template that fails on a field
	// fails here, at start, not on a subject's notice.
	for _, kind := range Kinds {
		sample := Data{RequestID: "REQ-1", Kind: kind, Type: "access", Regulation: "gdpr", ReceivedAt: time.Unix(0, 0), DueAt: time.Unix(0, 0),
			Text: "Sample.", Link: "https://example.com/", Code: "000000", Company: "Example"}
		if _, err := t.Render(lang, sample, "subject@example.com"); err != nil {
			return err
		}
	}
	return nil
}

// Languages lists the languages there are templates for.
func (t *Templates) Languages() []string {
	var out []string
	for l := range t.text {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Render writes d's notice in lang (or the fallback language) to to. A
// kind without templates of its own uses "notice".
func (t *Templates) Render(lang string, d Data, to string) (Message, error) {
	if _, ok := t.text[lang]; !ok {
		lang = t.fallback
	}
	kind := d.Kind
	if !slices.Contains(Kinds, kind) {
		kind = "notice"
	}
	var text, html bytes.Buffer
	if err := t.text[lang].ExecuteTemplate(&text, kind+".txt", d); err != nil {
		return Message{}, fmt.Errorf("mail template %s/%s.txt: %w", lang, kind, err)
	}
	if err := t.html[lang].ExecuteTemplate(&html, kind+".html", d); err != nil {
		return Message{}, fmt.Errorf("mail template %s/%s.html: %w", lang, kind, err)
	}
	// The text template's first line is the subject: "Subject: …".
	first, body, _ := strings.Cut(text.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok || strings.TrimSpace(subject) == "" {
		return Message{}, fmt.Errorf("mail template %s/%s.txt: the first line must be \"Subject: …\"", lang, kind)
	}
	return Message{To: to, Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n"), HTML: html.String(), Lang: lang}, nil
}

// law and authority read a regulation's name as the templates receive it.
func law(reg string) string       { return domain.Regulation(reg).Law() }
func authority(reg string) string { return domain.Regulation(reg).Authority() }
