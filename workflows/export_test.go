package workflows

// SetRunEventLimit lowers the history length at which a waiting run
// continues as new, so a test reaches it in seconds; it returns the undo.
func SetRunEventLimit(n int) func() {
	old := runEventLimit
	runEventLimit = n
	return func() { runEventLimit = old }
}
