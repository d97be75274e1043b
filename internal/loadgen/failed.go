package loadgen

import (
	"fmt"
	"strings"
)

// AllFailedError is the error of a run in which nothing succeeded: every
// request or connection failed, or nothing was delivered. The scenario
// still returns its result, so the table and JSON show the counts.
type AllFailedError struct {
	Scenario string
	// What says what failed, e.g. "all 23594 requests failed".
	What string
	// First is the first error seen ("" if none was recorded).
	First string
}

func (e *AllFailedError) Error() string {
	if e.First == "" {
		return e.What
	}
	first := e.First
	if len(first) > 300 {
		first = first[:300] + "..."
	}
	return e.What + "; first error: " + first
}

func allFailed(scenario, first, format string, args ...any) *AllFailedError {
	return &AllFailedError{Scenario: scenario, What: fmt.Sprintf(format, args...), First: first}
}

// CredentialsRefused reports whether an error message (a result's first
// error, or a scenario's error) is the server refusing the app id, key or
// secret: HTTP 401 or 403, an unknown app id, close or pusher:error 4001
// (unknown key) or 4009, or a bad subscription signature. The messages are
// this package's own (APIError, the welcome and pool errors), matched as
// text because results keep only the first error's text.
func CredentialsRefused(msg string) bool {
	for _, s := range []string{"HTTP 401:", "HTTP 403:", "Unknown app id", `"code":4001`, `"code":4009`, "Invalid signature"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// allFailed returns an *AllFailedError when no request succeeded.
func (r *APIResult) allFailed() error {
	if r.OK == 0 && r.Errors > 0 {
		return allFailed("api", r.FirstError, "all %d requests failed", r.Errors)
	}
	return nil
}

// allFailed returns an *AllFailedError when no connection was established.
func (r *ConnectResult) allFailed() error {
	switch {
	case r.Established > 0:
		return nil
	case r.Failed > 0:
		return allFailed("connect", r.FirstError, "all %d connections failed", r.Failed)
	}
	return allFailed("connect", r.FirstError, "no connection established in %.1f s", r.Seconds)
}

// allFailed returns an *AllFailedError when no connection was opened.
func (r *IdleResult) allFailed() error {
	if r.Opened == 0 {
		return allFailed("idle", r.FirstError, "all %d connections failed", r.Connections)
	}
	return nil
}

// allFailed returns an *AllFailedError when steps ran and none delivered
// anything.
func (r *FanoutResult) allFailed() error {
	var published, errs, delivered int64
	first := r.FirstError
	for _, s := range r.Steps {
		published, errs, delivered = published+s.Published, errs+s.PublishErrors, delivered+s.Delivered
		if s.FirstError != "" && (first == "" || s.PublishErrors > 0) {
			first = s.FirstError // a publish error explains more than a pool error
		}
	}
	if len(r.Steps) == 0 || delivered > 0 {
		return nil
	}
	if errs > 0 && errs >= published {
		return allFailed("fanout", first, "nothing delivered: every one of the %d publishes failed", published)
	}
	return allFailed("fanout", first, "nothing delivered (%d events published, %d publish errors)", published, errs)
}

// allFailed returns an *AllFailedError when members joined and left but no
// watcher saw a member event.
func (r *PresenceResult) allFailed() error {
	if r.MemberEvents == 0 && r.Joins > 0 {
		return allFailed("presence", r.FirstError, "no member event received for %d joins and %d leaves", r.Joins, r.Leaves)
	}
	return nil
}

// endErr is a scenario's final error: the context's when it ended the run
// (an interrupted run is not judged), otherwise the result's verdict.
func endErr(ctxErr error, allFailed func() error) error {
	if ctxErr != nil {
		return ctxErr
	}
	return allFailed()
}

// errDetail joins a set-up error and a pool's first error for a message,
// leaving out the missing ones.
func errDetail(err error, first string) string {
	var parts []string
	if err != nil {
		parts = append(parts, err.Error())
	}
	if first != "" {
		parts = append(parts, first)
	}
	if len(parts) == 0 {
		return "no error reported"
	}
	return strings.Join(parts, "; ")
}
