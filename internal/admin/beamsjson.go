package admin

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
)

// BeamsInstance is the JSON form of a stored Beams instance, shared by the
// admin API and `herald beams --json`. SecretKey is empty (and omitted)
// unless asked for; the credentials' keys are never included, only what
// identifies them; previous keys show only their expiry.
type BeamsInstance struct {
	ID        string `json:"id"`
	SecretKey string `json:"secret_key,omitempty"`
	// VAPIDSubject "" means the server default (config.DefaultVAPIDSubject).
	VAPIDSubject string           `json:"vapid_subject"`
	FCM          *BeamsFCM        `json:"fcm"`  // null: FCM devices get nothing
	APNs         *BeamsAPNs       `json:"apns"` // null: APNs devices get nothing
	PreviousKeys []PreviousSecret `json:"previous_keys"`
	Version      int64            `json:"version"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// BeamsFCM identifies an instance's service account (its key is not shown).
type BeamsFCM struct {
	ProjectID   string `json:"project_id"`
	ClientEmail string `json:"client_email"`
}

// BeamsAPNs is an instance's APNs settings (its .p8 key is not shown).
type BeamsAPNs struct {
	KeyID      string `json:"key_id"`
	TeamID     string `json:"team_id"`
	Topic      string `json:"topic"`
	Production bool   `json:"production"`
}

// BeamsInstanceList is the JSON form of a list of instances (no keys).
type BeamsInstanceList struct {
	Instances []BeamsInstance `json:"instances"`
}

// FromBeamsRecord converts r to its JSON form, with the secret key only
// when withSecret is set.
func FromBeamsRecord(r *stored.Record, withSecret bool) BeamsInstance {
	out := BeamsInstance{
		ID:           r.ID,
		VAPIDSubject: r.VAPIDSubject,
		PreviousKeys: make([]PreviousSecret, 0, len(r.PreviousKeys)),
		Version:      r.Version,
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
	if withSecret {
		out.SecretKey = r.SecretKey
	}
	if f := r.FCM; f != nil {
		// Only the public fields, read without parsing the key: a list
		// of many instances stays cheap.
		var acct struct {
			ProjectID   string `json:"project_id"`
			ClientEmail string `json:"client_email"`
		}
		_ = json.Unmarshal([]byte(f.ServiceAccount), &acct)
		out.FCM = &BeamsFCM{ProjectID: acct.ProjectID, ClientEmail: acct.ClientEmail}
	}
	if a := r.APNs; a != nil {
		out.APNs = &BeamsAPNs{KeyID: a.KeyID, TeamID: a.TeamID, Topic: a.Topic, Production: a.Production}
	}
	for _, p := range r.PreviousKeys {
		out.PreviousKeys = append(out.PreviousKeys, PreviousSecret{ExpiresAt: p.Until.UTC()})
	}
	return out
}

// BeamsList converts records to their JSON list form, sorted by id,
// without keys.
func BeamsList(list []*stored.Record) BeamsInstanceList {
	out := BeamsInstanceList{Instances: make([]BeamsInstance, 0, len(list))}
	for _, r := range list {
		out.Instances = append(out.Instances, FromBeamsRecord(r, false))
	}
	slices.SortFunc(out.Instances, func(a, b BeamsInstance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// BeamsSettings create a stored instance: the body of POST
// /admin/beams/instances, and what `herald beams create` builds from its
// flags. ID and SecretKey left out are generated.
type BeamsSettings struct {
	ID *string `json:"id,omitempty"` // a UUID; stored in lower case
	// SecretKey lets an instance keep the key its servers already have
	// (moving from hosted Beams); 16 to 256 characters.
	SecretKey    *string            `json:"secret_key,omitempty"`
	VAPIDSubject string             `json:"vapid_subject,omitempty"`
	FCM          *BeamsFCMSettings  `json:"fcm,omitempty"`
	APNs         *BeamsAPNsSettings `json:"apns,omitempty"`
}

// BeamsFCMSettings are FCM credentials to store.
type BeamsFCMSettings struct {
	// ServiceAccount is the service-account JSON key as Google hands it
	// out: the object itself, or its text as a JSON string.
	ServiceAccount json.RawMessage `json:"service_account"`
}

// BeamsAPNsSettings are APNs credentials to store.
type BeamsAPNsSettings struct {
	Key        string `json:"key"` // the .p8 file's content (PEM)
	KeyID      string `json:"key_id"`
	TeamID     string `json:"team_id"`
	Topic      string `json:"topic"`
	Production bool   `json:"production"`
}

// serviceAccount returns the service account's JSON text.
func (f *BeamsFCMSettings) serviceAccount() (string, error) {
	raw := bytes.TrimSpace(f.ServiceAccount)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalidBeams("fcm.service_account", "not a JSON object or string")
		}
		return s, nil
	}
	return string(raw), nil
}
