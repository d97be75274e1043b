package config

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
)

// BeamsConfig configures push notifications: a Beams-compatible API for
// the listed instances (more live in the app store, managed with
// `herald beams`). See docs/beams.md.
type BeamsConfig struct {
	// AllowPrivateEndpoints lets devices register push endpoints on
	// loopback, private and link-local addresses, and over plain http.
	// Only for tests: a public server would let anyone make it send
	// requests into its own network. Default false.
	AllowPrivateEndpoints bool `yaml:"allow_private_endpoints"`
	// PublishRate is the publishes and user deletions per second one
	// instance may make; more are answered 429 (Beams: 100). Default 100.
	PublishRate int `yaml:"publish_rate"`
	// MaxDevicesPerUser caps the devices associated with one user; one
	// more is refused with 422. Default 100.
	MaxDevicesPerUser int `yaml:"max_devices_per_user"`
	// MaxQueue bounds the publishes stored and not yet delivered; more are
	// refused with 503 rather than stored without bound. Default 100000.
	MaxQueue int `yaml:"max_queue"`
	// Workers is how many push requests are in flight at once over all
	// instances. Default 128.
	Workers int `yaml:"workers"`
	// DeviceRate and DeviceBurst bound the Device API's unauthenticated
	// writes (registrations, interests, users) per client address: a token
	// bucket of DeviceRate per second holding DeviceBurst. Defaults 20 and
	// 40; -1 turns the limit off. Behind a reverse proxy every client has
	// the proxy's address: raise them (or turn the limit off and limit at
	// the proxy).
	DeviceRate  int `yaml:"device_rate"`
	DeviceBurst int `yaml:"device_burst"`
	// MaxPerOrigin is how many pushes may be in flight to one push
	// service (an endpoint's origin, e.g. fcm.googleapis.com, which every
	// Chrome subscription uses) at once, so one slow or unreachable service
	// cannot take every worker. Default 64.
	MaxPerOrigin int             `yaml:"max_per_origin"`
	Instances    []BeamsInstance `yaml:"instances"`
}

// Defaults of the beams section.
const (
	DefaultBeamsPublishRate       = 100
	DefaultBeamsMaxDevicesPerUser = 100
	DefaultBeamsMaxQueue          = 100_000
	DefaultBeamsWorkers           = 128
	DefaultBeamsDeviceRate        = 20
	DefaultBeamsDeviceBurst       = 40
	DefaultBeamsMaxPerOrigin      = 64
	maxBeamsWorkers               = 4096
)

func (c *Config) applyBeamsDefaults() {
	b := &c.Beams
	setDefault(&b.PublishRate, DefaultBeamsPublishRate)
	setDefault(&b.MaxDevicesPerUser, DefaultBeamsMaxDevicesPerUser)
	setDefault(&b.MaxQueue, DefaultBeamsMaxQueue)
	setDefault(&b.Workers, DefaultBeamsWorkers)
	setDefault(&b.DeviceRate, DefaultBeamsDeviceRate)
	setDefault(&b.DeviceBurst, DefaultBeamsDeviceBurst)
	setDefault(&b.MaxPerOrigin, DefaultBeamsMaxPerOrigin)
}

// BeamsInstance is one Beams tenant: what its SDKs are given (the id and,
// on the customer's server, the secret key) and how it delivers.
type BeamsInstance struct {
	// ID is the instance id the SDKs are configured with: a UUID
	// (8-4-4-4-12 hexadecimal digits).
	ID string `yaml:"id"`
	// SecretKey authorizes publishes and user deletions (Bearer) and signs
	// the Beams tokens of the customer's auth endpoint. Never logged.
	SecretKey string `yaml:"secret_key"`
	// VAPIDSubject is the contact push services see in every Web Push
	// request: "mailto:…" or "https://…". Default "mailto:push@localhost"
	// (Apple's push service wants a real one).
	VAPIDSubject string `yaml:"vapid_subject"`
	// FCM delivers to Android devices; none: FCM devices are skipped.
	FCM *BeamsFCM `yaml:"fcm"`
	// APNs delivers to Apple devices; none: APNs devices are skipped.
	APNs *BeamsAPNs `yaml:"apns"`

	// Generated marks the embedded default instance (EnsureDefaultBeams),
	// whose credentials are kept in StoredIn. Never read from YAML.
	Generated bool   `yaml:"-"`
	StoredIn  string `yaml:"-"`
}

// BeamsFCM is the FCM HTTP v1 sender of an instance.
type BeamsFCM struct {
	// ServiceAccountFile is the Google service-account JSON key (its
	// project_id is the FCM project).
	ServiceAccountFile string `yaml:"service_account_file"`
}

// BeamsAPNs is the APNs (token-based) sender of an instance.
type BeamsAPNs struct {
	KeyFile    string `yaml:"key_file"`   // the .p8 signing key from Apple
	KeyID      string `yaml:"key_id"`     // its 10-character key id
	TeamID     string `yaml:"team_id"`    // the 10-character team id
	Topic      string `yaml:"topic"`      // the app's bundle id
	Production bool   `yaml:"production"` // api.push.apple.com, else the sandbox
}

// DefaultVAPIDSubject is vapid_subject when none is configured.
const DefaultVAPIDSubject = "mailto:push@localhost"

// String shows an instance without its secret key.
func (b BeamsInstance) String() string {
	return fmt.Sprintf("beams instance %s (secret key ***)", b.ID)
}

// LogValue keeps the secret key out of structured logs.
func (b BeamsInstance) LogValue() slog.Value { return slog.StringValue(b.String()) }

var _ slog.LogValuer = BeamsInstance{}

var reUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidBeamsInstanceID reports whether id is a UUID, the form of Beams
// instance ids (SDKs put it in host names and paths).
func ValidBeamsInstanceID(id string) bool { return reUUID.MatchString(id) }

func (v *validator) beams(b BeamsConfig) {
	v.nonNegative("beams.publish_rate", b.PublishRate)
	v.nonNegative("beams.max_devices_per_user", b.MaxDevicesPerUser)
	v.nonNegative("beams.max_queue", b.MaxQueue)
	v.nonNegative("beams.workers", b.Workers)
	v.nonNegative("beams.max_per_origin", b.MaxPerOrigin)
	for _, f := range []struct {
		name string
		v    int
	}{{"beams.device_rate", b.DeviceRate}, {"beams.device_burst", b.DeviceBurst}} {
		if f.v < -1 {
			v.add(f.name, "must be -1 (off) or more (got %d)", f.v)
		}
	}
	if b.Workers > maxBeamsWorkers {
		v.add("beams.workers", "must be at most %d (got %d)", maxBeamsWorkers, b.Workers)
	}
	ids := map[string]int{}
	for i, in := range b.Instances {
		p := fmt.Sprintf("beams.instances[%d]", i)
		switch {
		case in.ID == "":
			v.add(p+".id", "must be set (a UUID)")
		case !ValidBeamsInstanceID(in.ID):
			v.add(p+".id", "%q is not a UUID (8-4-4-4-12 hexadecimal digits)", in.ID)
		default:
			if j, dup := ids[strings.ToLower(in.ID)]; dup {
				v.add(p+".id", "%q duplicates beams.instances[%d].id", in.ID, j)
			} else {
				ids[strings.ToLower(in.ID)] = i
			}
		}
		switch {
		case in.SecretKey == "":
			v.add(p+".secret_key", "must not be empty")
		case strings.ContainsFunc(in.SecretKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			v.add(p+".secret_key", "must not contain white space or control characters")
		}
		if s := in.VAPIDSubject; s != "" && !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") {
			v.add(p+".vapid_subject", "%q must start with mailto: or https://", s)
		}
		if f := in.FCM; f != nil {
			if f.ServiceAccountFile == "" {
				v.add(p+".fcm.service_account_file", "must be set")
			} else if err := canRead(f.ServiceAccountFile); err != nil {
				v.add(p+".fcm.service_account_file", "%v", err)
			}
		}
		if a := in.APNs; a != nil {
			if a.KeyFile == "" {
				v.add(p+".apns.key_file", "must be set")
			} else if err := canRead(a.KeyFile); err != nil {
				v.add(p+".apns.key_file", "%v", err)
			}
			for _, f := range []struct{ name, val string }{{"key_id", a.KeyID}, {"team_id", a.TeamID}} {
				if len(f.val) != 10 || strings.Trim(f.val, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
					v.add(p+".apns."+f.name, "%q must be Apple's 10-character id (A-Z, 0-9)", f.val)
				}
			}
			if a.Topic == "" {
				v.add(p+".apns.topic", "must be set (the app's bundle id)")
			}
		}
	}
}
