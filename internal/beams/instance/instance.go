// Package instance is what the Beams API and the delivery pipeline know of a
// Beams instance (a tenant): its credentials, its VAPID key and its senders,
// behind a small Registry seam so instances from the config and from the
// app store are served the same way.
package instance

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

// ErrNotFound: no instance has this id.
var ErrNotFound = errors.New("beams instance not found")

// WebSender pushes one Web Push message (webpush.Sender).
type WebSender interface {
	Send(ctx context.Context, sub webpush.Subscription, m webpush.Message) webpush.Result
}

// FCMSender pushes one FCM v1 message (fcm.Sender): message is
// fcm.Translate's output, made once per publish with token "", which the
// sender fills in with each device's token.
type FCMSender interface {
	Send(ctx context.Context, token string, message []byte) webpush.Result
}

// APNsSender pushes one APNs notification (apns.Sender). topic "" means
// the sender's default topic.
type APNsSender interface {
	Send(ctx context.Context, deviceToken, topic string, body []byte, h apns.Headers) webpush.Result
}

// Secret is one accepted secret key. Until is zero for the current key; a
// key replaced by a rotation stays accepted until then.
type Secret struct {
	Key   string
	Until time.Time
}

// Instance is one Beams tenant. Read-only once built: a change builds a
// new one.
type Instance struct {
	ID      string
	Secrets []Secret // the current key first

	VAPID *webpush.VAPIDKey // the key browsers' subscriptions are bound to
	Web   WebSender         // Web Push with VAPID; nil: web devices get nothing
	FCM   FCMSender         // nil: FCM devices get nothing
	APNs  APNsSender        // nil: APNs devices get nothing
	// APNsTopics are the bundle ids APNs devices may register with; empty:
	// any (the sender's topic is used for devices without one).
	APNsTopics []string

	// MaxDevicesPerUser caps the devices one user may have; 0: no cap.
	MaxDevicesPerUser int
	// PublishRate is the publishes (and user deletions) per second the
	// instance may make; 0: no limit.
	PublishRate int
}

// Accepted returns the secret keys valid at now (current first): for Beams
// token verification, which tries each.
func (in *Instance) Accepted(now time.Time) []string {
	out := make([]string, 0, len(in.Secrets))
	for _, s := range in.Secrets {
		if s.Until.IsZero() || now.Before(s.Until) {
			out = append(out, s.Key)
		}
	}
	return out
}

// CheckSecret reports whether key is one of the instance's secret keys
// valid at now, and which (0: the current one). Each comparison takes the
// same time whatever the key: the hashes compared have equal lengths.
func (in *Instance) CheckSecret(key string, now time.Time) (generation int, ok bool) {
	got := sha256.Sum256([]byte(key))
	generation = -1
	for i, s := range in.Secrets {
		want := sha256.Sum256([]byte(s.Key))
		valid := s.Until.IsZero() || now.Before(s.Until)
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && valid && generation < 0 {
			generation = i
		}
	}
	return generation, generation >= 0
}

// Registry finds instances. Implementations are safe for concurrent use.
type Registry interface {
	// Get returns the instance with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Instance, error)
}

// Static is a Registry over a fixed list.
type Static map[string]*Instance

// NewStatic indexes list by id.
func NewStatic(list ...*Instance) Static {
	s := make(Static, len(list))
	for _, in := range list {
		s[in.ID] = in
	}
	return s
}

// Get implements Registry.
func (s Static) Get(_ context.Context, id string) (*Instance, error) {
	if in, ok := s[id]; ok {
		return in, nil
	}
	return nil, ErrNotFound
}
