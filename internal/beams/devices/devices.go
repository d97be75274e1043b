// Package devices is the device store seam of the Beams-compatible push
// service: the devices of each instance, the interests they subscribe to and
// the users they belong to, with the paged reads delivery needs.
//
// Adapters live in subpackages (sqldevices: SQLite and PostgreSQL) and pass
// one conformance suite (devicestest). This package holds the types, the
// rules and the errors the Device API, the delivery pipeline and the
// adapters share; it imports nothing of Herald.
package devices

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Platform is the push service a device is reached through.
type Platform string

const (
	Web  Platform = "web"  // Web Push (RFC 8030); the token is the browser's PushSubscription
	FCM  Platform = "fcm"  // Firebase Cloud Messaging; the token is a registration token
	APNS Platform = "apns" // Apple Push Notification service; the token is the device token in hex
)

// Valid reports whether p is one of Web, FCM, APNS.
func (p Platform) Valid() bool { return p == Web || p == FCM || p == APNS }

// Limits every Store applies.
const (
	// MaxInterests is how many interests one device may hold (the web SDK
	// refuses more itself).
	MaxInterests = 5000
	// DefaultPageSize is the page size of a paged read asked with a limit
	// of zero or less.
	DefaultPageSize = 100
	// MaxPageSize caps the page size of a paged read; a larger limit is
	// lowered to it.
	MaxPageSize = 10000
)

// Errors the Store methods return (possibly wrapped: test with errors.Is).
// Any other error is an infrastructure failure.
var (
	// ErrNotFound: no device with this id in this instance.
	ErrNotFound = errors.New("device not found")
	// ErrTooManyInterests: the device would hold more than MaxInterests.
	ErrTooManyInterests = errors.New("too many interests for one device")
	// ErrOtherUser: the device already belongs to another user.
	ErrOtherUser = errors.New("device belongs to another user")
	// ErrUserFull: the user already has the most devices allowed.
	ErrUserFull = errors.New("user has too many devices")
	// ErrInvalid: an argument the store cannot take (unknown platform,
	// empty instance, token, interest or user, metadata that is not JSON,
	// a malformed cursor). The Device API validates names before.
	ErrInvalid = errors.New("invalid device store argument")
)

// Device is one registered device of an instance.
type Device struct {
	ID       string // <platform>-<uuid v4>; the capability its owner holds
	Instance string
	Platform Platform
	Token    string // as registered: web: base64 of the PushSubscription JSON

	// Web only, decoded from the token by the caller.
	Endpoint, P256dh, Auth string
	// APNs only: the app's bundle identifier.
	BundleID string

	UserID   string          // "" when no user is associated
	Metadata json.RawMessage // the SDK's metadata object; nil when none

	CreatedAt  time.Time
	LastSeenAt time.Time // the last registration of its token
}

// Store keeps devices. Every method bounds its own queries in time, on top
// of ctx. Implementations are safe for concurrent use, also from several
// processes sharing one database.
type Store interface {
	// Register upserts a device by (instance, platform, token). It reads
	// Instance, Platform, Token, Endpoint, P256dh, Auth, BundleID and
	// Metadata from d; the other fields are the store's. A new token gets a
	// new device (ID from NewID) and created is true. A known token keeps
	// its device id, user and interests (returned, sorted; never nil); its
	// last-seen time, metadata, bundle id and web fields are replaced.
	Register(ctx context.Context, d Device) (dev Device, interests []string, created bool, err error)
	// Get returns a device; ErrNotFound when the instance has none with id.
	Get(ctx context.Context, instance, id string) (Device, error)
	// Delete removes a device and its interests; ErrNotFound when none.
	Delete(ctx context.Context, instance, id string) error
	// DeleteIfToken removes a device and its interests only while its
	// token is still token, in one step: a push service's "gone" is about
	// the token the push went to, and the device may have been given a
	// new one (SetToken, a registration) since it was read. deleted is
	// false, with a nil error, when the token changed or the device is
	// gone. ErrInvalid for an empty instance or token.
	DeleteIfToken(ctx context.Context, instance, id, token string) (deleted bool, err error)

	// AddInterest subscribes a device to interest. Idempotent. ErrNotFound
	// for an unknown device; ErrTooManyInterests when the device already
	// holds MaxInterests others.
	AddInterest(ctx context.Context, instance, id, interest string) error
	// RemoveInterest unsubscribes; idempotent. ErrNotFound for an unknown
	// device.
	RemoveInterest(ctx context.Context, instance, id, interest string) error
	// SetInterests replaces the device's interests with the set (duplicates
	// ignored) in one transaction. ErrTooManyInterests over MaxInterests.
	SetInterests(ctx context.Context, instance, id string, interests []string) error
	// Interests returns a page of the device's interests in byte order,
	// after cursor ("" for the first page). next is "" on the last page.
	// limit is bounded as DefaultPageSize and MaxPageSize say.
	Interests(ctx context.Context, instance, id, cursor string, limit int) (list []string, next string, err error)

	// SetUser associates the device with user. The same user again: nil.
	// ErrOtherUser when it has another user; ErrUserFull when maxPerUser
	// is above zero and user already has that many devices.
	SetUser(ctx context.Context, instance, id, user string, maxPerUser int) error
	// SetMetadata replaces the device's metadata (nil: none).
	SetMetadata(ctx context.Context, instance, id string, md json.RawMessage) error
	// SetToken gives an FCM or APNs device a new token (FCM refreshes
	// them). When another device of the instance and platform has that
	// token, the token moved: that device is deleted. A web device's token
	// carries its endpoint and keys, so a web device registers anew instead
	// (ErrInvalid).
	SetToken(ctx context.Context, instance, id, token string) error
	// DeleteUser deletes every device of user and returns how many; an
	// unknown user is 0, nil.
	DeleteUser(ctx context.Context, instance, user string) (int, error)

	// ByInterests returns a page of the devices subscribed to any of
	// interests, each device once, ordered by device id, after cursor (""
	// for the first page); next is "" on the last page. Cursors are opaque
	// and belong to the query that returned them.
	ByInterests(ctx context.Context, instance string, interests []string, cursor string, limit int) (list []Device, next string, err error)
	// ByUsers is ByInterests for the devices of any of users.
	ByUsers(ctx context.Context, instance string, users []string, cursor string, limit int) (list []Device, next string, err error)

	// Close releases the store; later calls fail.
	Close() error
}

// NewID returns a new device id: the platform, a dash and a random UUID
// version 4 (crypto/rand). The id is the device's capability in the Device
// API, so it must not be guessable.
func NewID(p Platform) string {
	var u [16]byte
	// crypto/rand.Read never fails (Go 1.24+).
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(p) + "-" + string(b[:])
}

// PageSize is the page size a limit asks for, as DefaultPageSize and
// MaxPageSize bound it.
func PageSize(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageSize
	case limit > MaxPageSize:
		return MaxPageSize
	}
	return limit
}
