package config

import (
	"slices"
	"strings"
)

// ManualSettings describe a system without an API (a paper archive, a
// spreadsheet on a shared drive): the owning department gets a task that
// says where the data is and what to do, and confirms it done with a note.
type ManualSettings struct {
	// Location says where the subject's data lives.
	Location string `yaml:"location"`
	// Instructions say what to do, per kind of work: access (find and
	// hand over a copy), erasure, and consent (for the system's purposes).
	Instructions map[string]string `yaml:"instructions"`
}

var manualWork = []string{"access", "erasure", "consent", "rectification", "restriction"}

func (f *File) validateManual(s System, fail func(string, string, ...any) error) error {
	m := s.Manual
	if m == nil || strings.TrimSpace(m.Location) == "" {
		return fail(".manual.location", "a manual system says where the subject's data lives (e.g. \"HR filing cabinet, room 2.14\")")
	}
	for _, k := range sortedKeys(m.Instructions) {
		if !slices.Contains(manualWork, k) {
			return fail(".manual.instructions."+k, "unknown kind of work; use access, erasure, consent, rectification or restriction")
		}
	}
	for _, k := range manualWork[:2] {
		if strings.TrimSpace(m.Instructions[k]) == "" {
			return fail(".manual.instructions."+k, "is required: the department must know how to answer an %s request in this system", k)
		}
	}
	return nil
}
