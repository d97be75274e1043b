// Package stored is the Beams instances kept in the app store's database
// beside apps (managed with `herald beams` and the admin API, as opposed to
// the config file's): their record, its validation and key rotation, and a
// Registry serving them, after the config file's, as *instance.Instance
// values that follow changes made by other processes within seconds.
//
// The records are stored by sqldevices.Store (table beams_instance); this
// package declares the small interface it reads them through.
package stored

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/instance"
	"github.com/heraldhq/herald/internal/config"
)

// Limits of stored instances.
const (
	// MaxInstances is how many instances the store holds; a create beyond
	// it is refused, so listing them is bounded.
	MaxInstances = 10_000
	// MaxRotationGrace is the longest a rotated-out secret key stays valid
	// (as for app secrets).
	MaxRotationGrace = 30 * 24 * time.Hour
	// MaxPreviousKeys is how many rotated-out keys an instance keeps; a
	// rotation beyond it drops the oldest.
	MaxPreviousKeys = 5
	// MinSecretKeyLen and MaxSecretKeyLen bound a secret key given on
	// create (generated ones are 64 hexadecimal digits).
	MinSecretKeyLen = 16
	MaxSecretKeyLen = 256
	// MaxServiceAccountBytes and MaxAPNsKeyBytes bound the credentials
	// kept in a record (a real service account is about 2.3 KB, a .p8
	// key about 250 bytes).
	MaxServiceAccountBytes = 16 << 10
	MaxAPNsKeyBytes        = 4 << 10
	// maxTopicLen bounds an APNs topic (a bundle id, possibly with a
	// suffix such as ".voip").
	maxTopicLen = 255
)

// Errors of the store and of Validate (possibly wrapped: test with
// errors.Is). Any other error is an infrastructure failure.
var (
	// ErrNotFound is instance.ErrNotFound: no stored instance has this id.
	ErrNotFound = instance.ErrNotFound
	// ErrConflict: an instance with this id exists already, or the record
	// changed since it was read.
	ErrConflict = errors.New("beams instance conflict")
	// ErrInvalid: a record or argument the store refuses (see
	// InvalidError for the fields at fault).
	ErrInvalid = errors.New("invalid beams instance")
)

// Record is a stored instance: the credentials its SDKs are given and the
// ones it delivers with. The credentials are file contents, not paths, so
// every node sharing the database has them.
type Record struct {
	// ID is a UUID in lower case, the form SDKs are given.
	ID string
	// SecretKey authorizes publishes and signs Beams tokens. Never logged.
	SecretKey string
	// PreviousKeys are rotated-out keys, still accepted until their
	// Until; newest first.
	PreviousKeys []PreviousKey
	// VAPIDSubject is the contact of Web Push requests, "mailto:…" or
	// "https://…"; "" means config.DefaultVAPIDSubject.
	VAPIDSubject string
	FCM          *FCM  // nil: FCM devices get nothing
	APNs         *APNs // nil: APNs devices get nothing

	// Version is 1 when created and grows by one with every change; with
	// CreatedAt it tells a reader whether the record changed.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PreviousKey is a rotated-out secret key and when it stops working.
type PreviousKey struct {
	Key   string
	Until time.Time
}

// FCM is an instance's FCM HTTP v1 credentials.
type FCM struct {
	// ServiceAccount is the service-account JSON key, as Google hands it
	// out (fcm.LoadServiceAccount reads it).
	ServiceAccount string
}

// APNs is an instance's token-based APNs credentials.
type APNs struct {
	Key        string // the .p8 signing key's PEM content (apns.LoadKey reads it)
	KeyID      string // its 10-character key id
	TeamID     string // the 10-character team id
	Topic      string // the app's bundle id
	Production bool   // api.push.apple.com, else the sandbox
}

// Secrets returns the keys an Instance built from r accepts: the current
// one first, then the previous ones with their deadlines (Instance.Accepted
// drops the expired).
func (r *Record) Secrets() []instance.Secret {
	out := make([]instance.Secret, 0, 1+len(r.PreviousKeys))
	out = append(out, instance.Secret{Key: r.SecretKey})
	for _, p := range r.PreviousKeys {
		out = append(out, instance.Secret{Key: p.Key, Until: p.Until})
	}
	return out
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.PreviousKeys = slices.Clone(r.PreviousKeys)
	if r.FCM != nil {
		f := *r.FCM
		c.FCM = &f
	}
	if r.APNs != nil {
		a := *r.APNs
		c.APNs = &a
	}
	return &c
}

// String shows r without its keys (a value receiver: a Record printed
// by value must not show them either).
func (r Record) String() string {
	return fmt.Sprintf("stored beams instance %s (version %d, secret key ***)", r.ID, r.Version)
}

// GoString keeps %#v from printing the keys.
func (r Record) GoString() string { return r.String() }

// LogValue keeps the keys out of structured logs.
func (r Record) LogValue() slog.Value { return slog.StringValue(r.String()) }

var _ slog.LogValuer = Record{}

// Problem is one thing wrong with a record: the field (as the admin API's
// JSON names it: id, secret_key, vapid_subject, fcm.service_account,
// apns.key, apns.key_id, apns.team_id, apns.topic, previous_keys) and what.
type Problem struct {
	Field   string
	Message string
}

// InvalidError lists every problem of a record; it matches ErrInvalid.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Problems: []Problem{{field, fmt.Sprintf(format, args...)}}}
}

// Validate reports every problem of r at once (an *InvalidError), the way
// the config file's instances are validated: a lower-case UUID, a usable
// secret key, a mailto: or https: VAPID subject, an FCM service account and
// an APNs key that load, Apple's 10-character ids. No message quotes a key.
func (r *Record) Validate() error {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case r.ID == "":
		add("id", "must be set (a UUID)")
	case !config.ValidBeamsInstanceID(r.ID):
		add("id", "%q is not a UUID (8-4-4-4-12 hexadecimal digits)", clip(r.ID))
	case r.ID != strings.ToLower(r.ID):
		add("id", "%q must be in lower case", r.ID)
	}
	if msg := secretProblem(r.SecretKey); msg != "" {
		add("secret_key", "%s", msg)
	}
	if len(r.PreviousKeys) > MaxPreviousKeys {
		add("previous_keys", "%d keys, at most %d", len(r.PreviousKeys), MaxPreviousKeys)
	}
	for i, p := range r.PreviousKeys {
		if secretProblem(p.Key) != "" || p.Until.IsZero() {
			add("previous_keys", "key %d is empty, malformed or has no expiry", i)
			break
		}
	}
	if s := r.VAPIDSubject; s != "" && (!strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") || !printable(s) || len(s) > 512) {
		add("vapid_subject", "%q must start with mailto: or https:// (at most 512 printable characters)", clip(s))
	}
	if f := r.FCM; f != nil {
		switch {
		case strings.TrimSpace(f.ServiceAccount) == "":
			add("fcm.service_account", "must be set (the service-account JSON key)")
		case len(f.ServiceAccount) > MaxServiceAccountBytes:
			add("fcm.service_account", "larger than %d bytes", MaxServiceAccountBytes)
		default:
			if _, err := fcm.LoadServiceAccount([]byte(f.ServiceAccount)); err != nil {
				add("fcm.service_account", "%s", strings.TrimPrefix(err.Error(), "fcm: service account: "))
			}
		}
	}
	if a := r.APNs; a != nil {
		switch {
		case strings.TrimSpace(a.Key) == "":
			add("apns.key", "must be set (the .p8 key from Apple)")
		case len(a.Key) > MaxAPNsKeyBytes:
			add("apns.key", "larger than %d bytes", MaxAPNsKeyBytes)
		default:
			if _, err := apns.LoadKey([]byte(a.Key)); err != nil {
				add("apns.key", "%s", strings.TrimPrefix(err.Error(), "apns: "))
			}
		}
		for _, f := range []struct{ name, val string }{{"apns.key_id", a.KeyID}, {"apns.team_id", a.TeamID}} {
			if !AppleID(f.val) {
				add(f.name, "%q must be Apple's 10-character id (A-Z, 0-9)", clip(f.val))
			}
		}
		switch {
		case a.Topic == "":
			add("apns.topic", "must be set (the app's bundle id)")
		case len(a.Topic) > maxTopicLen || !printable(a.Topic) || strings.ContainsRune(a.Topic, ' '):
			add("apns.topic", "%q is not a bundle id", clip(a.Topic))
		}
	}
	if len(ps) > 0 {
		return &InvalidError{Problems: ps}
	}
	return nil
}

// AppleID reports whether s has the form of an APNs key id or team id.
func AppleID(s string) bool {
	return len(s) == 10 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

func secretProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) < MinSecretKeyLen || len(s) > MaxSecretKeyLen:
		return fmt.Sprintf("must be %d to %d characters long", MinSecretKeyLen, MaxSecretKeyLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "must not contain white space or control characters"
	}
	return ""
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// clip shortens a value quoted in an error, so a huge one stays one line.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Rotate returns cur with newKey as its secret key: the old key stays
// accepted until now+grace (a zero grace drops it at once), expired
// previous keys are dropped and at most MaxPreviousKeys are kept, newest
// first. The caller stores the result; cur is not changed.
func Rotate(cur *Record, grace time.Duration, now time.Time, newKey string) (*Record, error) {
	if err := CheckGrace(grace); err != nil {
		return nil, err
	}
	if msg := secretProblem(newKey); msg != "" {
		return nil, invalid("secret_key", "%s", msg)
	}
	next := cur.Clone()
	next.SecretKey = newKey
	prev := make([]PreviousKey, 0, MaxPreviousKeys+1)
	if grace > 0 && cur.SecretKey != newKey {
		prev = append(prev, PreviousKey{Key: cur.SecretKey, Until: now.Add(grace).UTC()})
	}
	for _, p := range cur.PreviousKeys {
		if now.Before(p.Until) && p.Key != cur.SecretKey && p.Key != newKey {
			prev = append(prev, p)
		}
	}
	if len(prev) > MaxPreviousKeys {
		prev = prev[:MaxPreviousKeys]
	}
	next.PreviousKeys = nil
	if len(prev) > 0 {
		next.PreviousKeys = prev
	}
	return next, nil
}

// CheckGrace reports a rotation grace outside 0..MaxRotationGrace.
func CheckGrace(grace time.Duration) error {
	if grace < 0 || grace > MaxRotationGrace {
		return invalid("grace", "rotation grace %v is outside 0s..%v", grace, MaxRotationGrace)
	}
	return nil
}

// NewID returns a random (version 4) UUID in lower case.
func NewID() (string, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("generate beams instance id: %w", err)
	}
	return u.String(), nil
}

// NewSecretKey returns 32 random bytes in hexadecimal.
func NewSecretKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate beams secret key: %w", err)
	}
	return hex.EncodeToString(b), nil
}
