package stored_test

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/instance/stored"
	"github.com/heraldhq/herald/internal/beams/instance/stored/storedtest"
)

const id1 = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"

func TestValidate(t *testing.T) {
	if err := func() *stored.Record { r := storedtest.Record(id1); return &r }().Validate(); err != nil {
		t.Fatalf("a full record: %v", err)
	}
	if err := (&stored.Record{ID: id1, SecretKey: "0123456789abcdef"}).Validate(); err != nil {
		t.Fatalf("a minimal record: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(r *stored.Record)
		field  string
		msg    string
	}{
		{"no id", func(r *stored.Record) { r.ID = "" }, "id", "must be set"},
		{"not a UUID", func(r *stored.Record) { r.ID = "instance-1" }, "id", "not a UUID"},
		{"upper case", func(r *stored.Record) { r.ID = strings.ToUpper(id1) }, "id", "lower case"},
		{"no key", func(r *stored.Record) { r.SecretKey = "" }, "secret_key", "must not be empty"},
		{"short key", func(r *stored.Record) { r.SecretKey = "short" }, "secret_key", "16 to 256"},
		{"space in key", func(r *stored.Record) { r.SecretKey = "0123456789 abcdefgh" }, "secret_key", "white space"},
		{"subject", func(r *stored.Record) { r.VAPIDSubject = "ops@example.com" }, "vapid_subject", "mailto: or https://"},
		{"http subject", func(r *stored.Record) { r.VAPIDSubject = "http://example.com" }, "vapid_subject", "mailto: or https://"},
		{"empty account", func(r *stored.Record) { r.FCM.ServiceAccount = " " }, "fcm.service_account", "must be set"},
		{"bad account", func(r *stored.Record) { r.FCM.ServiceAccount = `{"type":"service_account"}` }, "fcm.service_account", "missing project_id"},
		{"huge account", func(r *stored.Record) {
			r.FCM.ServiceAccount = strings.Repeat(" ", stored.MaxServiceAccountBytes+1) + "{}"
		}, "fcm.service_account", "larger than"},
		{"no p8", func(r *stored.Record) { r.APNs.Key = "" }, "apns.key", "must be set"},
		{"bad p8", func(r *stored.Record) { r.APNs.Key = "not pem" }, "apns.key", "not PEM"},
		{"key id", func(r *stored.Record) { r.APNs.KeyID = "abc" }, "apns.key_id", "10-character"},
		{"team id", func(r *stored.Record) { r.APNs.TeamID = "team123456" }, "apns.team_id", "10-character"},
		{"topic", func(r *stored.Record) { r.APNs.Topic = "" }, "apns.topic", "bundle id"},
		{"previous", func(r *stored.Record) { r.PreviousKeys = []stored.PreviousKey{{Key: "0123456789abcdef"}} }, "previous_keys", "expiry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := storedtest.Record(id1)
			tc.change(&r)
			err := r.Validate()
			var inv *stored.InvalidError
			if !errors.Is(err, stored.ErrInvalid) || !errors.As(err, &inv) {
				t.Fatalf("Validate = %v, want an InvalidError", err)
			}
			if len(inv.Problems) != 1 || inv.Problems[0].Field != tc.field || !strings.Contains(inv.Problems[0].Message, tc.msg) {
				t.Errorf("problems %+v, want one on %s with %q", inv.Problems, tc.field, tc.msg)
			}
			if strings.Contains(err.Error(), storedtest.APNsKey()[40:70]) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message quotes a key or spans lines: %q", err)
			}
		})
	}
	// Every problem at once.
	r := stored.Record{ID: "x", APNs: &stored.APNs{}}
	var inv *stored.InvalidError
	if err := r.Validate(); !errors.As(err, &inv) || len(inv.Problems) != 6 {
		t.Errorf("all problems: %v", err)
	}
}

func TestRotate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cur := &stored.Record{ID: id1, SecretKey: "current-key-0123456789", Version: 4, PreviousKeys: []stored.PreviousKey{
		{Key: "previous-live-0123456", Until: now.Add(time.Minute)},
		{Key: "previous-dead-0123456", Until: now},
	}}
	next, err := stored.Rotate(cur, time.Hour, now, "new-key-0123456789abc")
	if err != nil {
		t.Fatal(err)
	}
	want := []stored.PreviousKey{{Key: "current-key-0123456789", Until: now.Add(time.Hour)}, {Key: "previous-live-0123456", Until: now.Add(time.Minute)}}
	if next.SecretKey != "new-key-0123456789abc" || fmt.Sprint(next.PreviousKeys) != fmt.Sprint(want) || next.Version != 4 {
		t.Errorf("rotated %+v", next.PreviousKeys)
	}
	if cur.SecretKey != "current-key-0123456789" || len(cur.PreviousKeys) != 2 {
		t.Error("Rotate changed its input")
	}
	secrets := next.Secrets()
	if len(secrets) != 3 || secrets[0].Key != next.SecretKey || !secrets[0].Until.IsZero() || !secrets[1].Until.Equal(now.Add(time.Hour)) {
		t.Errorf("secrets %+v", secrets)
	}
	if next, _ := stored.Rotate(cur, 0, now, "new-key-0123456789abc"); len(next.PreviousKeys) != 1 {
		t.Errorf("zero grace keeps %+v", next.PreviousKeys)
	}
	for _, g := range []time.Duration{-1, stored.MaxRotationGrace + 1} {
		if _, err := stored.Rotate(cur, g, now, "new-key-0123456789abc"); !errors.Is(err, stored.ErrInvalid) || !strings.Contains(err.Error(), "grace") {
			t.Errorf("grace %v: %v", g, err)
		}
	}
}

func TestNewCredentials(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id, err := stored.NewID()
		if err != nil || !uuid.MatchString(id) || seen[id] {
			t.Fatalf("NewID = %q, %v", id, err)
		}
		seen[id] = true
		key, err := stored.NewSecretKey()
		if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(key) {
			t.Fatalf("NewSecretKey = %q, %v", key, err)
		}
		if err := (&stored.Record{ID: id, SecretKey: key}).Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecordHidesKeys(t *testing.T) {
	r := storedtest.Record(id1)
	r.PreviousKeys = []stored.PreviousKey{{Key: "old-key-hunter2-xyz", Until: time.Now()}}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "rec", &r, "val", r)
	for _, out := range []string{sb.String(), fmt.Sprint(&r), fmt.Sprintf("%#v", &r), fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r)} {
		for _, secret := range []string{r.SecretKey, "hunter2", "PRIVATE KEY", "herald-test"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows a key", out)
			}
		}
	}
}
