package config

// Problems flattens an error built with errors.Join (as returned by Load and
// Validate, possibly joined again by the caller) into its leaf errors, in
// order. A nil error has no problems; any other error is at least one.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []error{err}
}
