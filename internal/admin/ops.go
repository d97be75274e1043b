package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/config"
)

// The functions below return errors that match apps.ErrInvalid (bad
// settings or rotation grace), apps.ErrNotFound or apps.ErrConflict with
// errors.Is, each with a one-line message for people; any other error is an
// infrastructure failure.

// DefaultGrace is how long a rotated-out secret keeps working when the
// caller names no grace period.
const DefaultGrace = 24 * time.Hour

// kindError is an error with its own one-line message that matches kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func invalidf(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: apps.ErrInvalid}
}

func notFound(id string, err error) error {
	if errors.Is(err, apps.ErrNotFound) {
		return &kindError{msg: fmt.Sprintf("app %q not found", id), kind: apps.ErrNotFound}
	}
	return err
}

// Create adds a new app with s applied over the defaults (enabled, the
// config defaults for presence members and payload size); the id, key and
// secret s leaves out are generated. It returns the stored app, secret
// included.
func Create(ctx context.Context, m apps.Manager, s Settings) (*apps.App, error) {
	if err := s.check(true); err != nil {
		return nil, err
	}
	id, key, secret, err := apps.NewCredentials()
	if err != nil {
		return nil, fmt.Errorf("generate credentials: %w", err)
	}
	a := &apps.App{
		ID:                   id,
		Key:                  key,
		Secret:               secret,
		Enabled:              true,
		MaxPresenceMembers:   config.DefaultMaxPresenceMembers,
		MaxEventPayloadBytes: config.DefaultMaxEventPayloadKB * 1024,
	}
	set(&a.ID, s.ID)
	set(&a.Secret, s.Secret)
	s.apply(a)
	if err := apps.Validate(a); err != nil {
		return nil, err
	}
	if err := taken(ctx, m, a, true); err != nil {
		return nil, err
	}
	if err := m.Create(ctx, a); err != nil {
		return nil, conflict(err)
	}
	return a, nil
}

// Update applies s to the app id and stores it. The id and secret cannot
// change here.
func Update(ctx context.Context, m apps.Manager, id string, s Settings) (*apps.App, error) {
	if err := s.check(false); err != nil {
		return nil, err
	}
	if s.ID != nil && *s.ID != id {
		return nil, invalidf("the id of an app cannot change (%q in the body, %q in the request)", *s.ID, id)
	}
	cur, err := m.ByID(ctx, id)
	if err != nil {
		return nil, notFound(id, err)
	}
	a := cur.Clone()
	s.apply(a)
	if err := apps.Validate(a); err != nil {
		return nil, err
	}
	if a.Key != cur.Key {
		if err := taken(ctx, m, a, false); err != nil {
			return nil, err
		}
	}
	if err := m.Update(ctx, a); err != nil {
		return nil, conflict(notFound(id, err))
	}
	return a, nil
}

// SetEnabled enables or disables the app id.
func SetEnabled(ctx context.Context, m apps.Manager, id string, enabled bool) (*apps.App, error) {
	return Update(ctx, m, id, Settings{Enabled: &enabled})
}

// Delete removes the app id.
func Delete(ctx context.Context, m apps.Manager, id string) error {
	return notFound(id, m.Delete(ctx, id))
}

// Show returns the app id.
func Show(ctx context.Context, m apps.Manager, id string) (*apps.App, error) {
	a, err := m.ByID(ctx, id)
	return a, notFound(id, err)
}

// RotateSecret gives the app id a new primary secret; the old one keeps
// working for grace (bounds enforced by apps.Rotate).
func RotateSecret(ctx context.Context, m apps.Manager, id string, grace time.Duration, now time.Time) (*apps.App, error) {
	a, err := apps.Rotate(ctx, m, id, grace, now)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, apps.ErrNotFound):
		return nil, notFound(id, err)
	case errors.Is(err, apps.ErrConflict), errors.Is(err, apps.ErrInvalid):
		return nil, err
	}
	return nil, fmt.Errorf("rotate secret of app %q: %w", id, err)
}

// taken reports, with a message naming the field, an id (on create) or key
// already in use by another app. The store's own ErrConflict stays the
// authority; this only makes the common case readable.
func taken(ctx context.Context, m apps.Manager, a *apps.App, create bool) error {
	if create {
		if _, err := m.ByID(ctx, a.ID); err == nil {
			return &kindError{msg: fmt.Sprintf("app id %q already exists", a.ID), kind: apps.ErrConflict}
		} else if !errors.Is(err, apps.ErrNotFound) {
			return err
		}
	}
	if other, err := m.ByKey(ctx, a.Key); err == nil && other.ID != a.ID {
		return &kindError{msg: fmt.Sprintf("app key %q already exists", a.Key), kind: apps.ErrConflict}
	} else if err != nil && !errors.Is(err, apps.ErrNotFound) {
		return err
	}
	return nil
}

func conflict(err error) error {
	var ke *kindError
	if errors.Is(err, apps.ErrConflict) && !errors.As(err, &ke) {
		return &kindError{msg: "app id or key already exists", kind: apps.ErrConflict}
	}
	return err
}
