package apps

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of a: no slice or map is shared, so a Manager can
// keep the copy while the caller goes on changing a. Times are normalised to
// UTC without a monotonic reading and empty slices and maps become nil, the
// form an app has after a round trip through storage.
func (a *App) Clone() *App {
	if a == nil {
		return nil
	}
	c := *a
	c.PreviousSecrets = nil
	for _, p := range a.PreviousSecrets {
		c.PreviousSecrets = append(c.PreviousSecrets, PreviousSecret{Secret: p.Secret, ExpiresAt: p.ExpiresAt.UTC()})
	}
	c.Webhooks = nil
	for _, w := range a.Webhooks {
		w.EventTypes = nilIfEmpty(slices.Clone(w.EventTypes))
		if len(w.Headers) == 0 {
			w.Headers = nil
		} else {
			w.Headers = maps.Clone(w.Headers)
		}
		c.Webhooks = append(c.Webhooks, w)
	}
	c.AllowedOrigins = nilIfEmpty(slices.Clone(a.AllowedOrigins))
	return &c
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
