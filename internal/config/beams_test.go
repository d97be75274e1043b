package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBeamsFromYAML(t *testing.T) {
	dir := t.TempDir()
	sa := filepath.Join(dir, "sa.json")
	p8 := filepath.Join(dir, "key.p8")
	for _, f := range []string{sa, p8} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var c Config
	errs := decodeYAML("t.yaml", []byte(fmt.Sprintf(`beams:
  allow_private_endpoints: true
  instances:
    - id: 00000000-0000-0000-0000-000000000001
      secret_key: beams-secret-key
      vapid_subject: mailto:ops@example.com
      fcm: { service_account_file: %s }
      apns: { key_file: %s, key_id: ABCDE12345, team_id: TEAM123456, topic: com.example.app, production: true }
    - id: 00000000-0000-0000-0000-0000000000AB
      secret_key: other-key
`, sa, p8)), &c)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b := c.Beams
	if !b.AllowPrivateEndpoints || len(b.Instances) != 2 {
		t.Fatalf("%+v", b)
	}
	in := b.Instances[0]
	if in.SecretKey != "beams-secret-key" || in.VAPIDSubject != "mailto:ops@example.com" || in.FCM.ServiceAccountFile != sa ||
		*in.APNs != (BeamsAPNs{KeyFile: p8, KeyID: "ABCDE12345", TeamID: "TEAM123456", Topic: "com.example.app", Production: true}) {
		t.Fatalf("instance %+v fcm %+v apns %+v", in, in.FCM, in.APNs)
	}
	if b.Instances[1].VAPIDSubject != DefaultVAPIDSubject || b.Instances[1].FCM != nil || b.Instances[1].APNs != nil {
		t.Fatalf("second instance %+v", b.Instances[1])
	}
}

func TestBeamsValidation(t *testing.T) {
	id := "00000000-0000-0000-0000-000000000001"
	cases := []struct {
		name string
		in   []BeamsInstance
		want []string // field paths expected in the error
	}{
		{"no id", []BeamsInstance{{SecretKey: "k"}}, []string{"beams.instances[0].id"}},
		{"id not a UUID", []BeamsInstance{{ID: "my-instance", SecretKey: "k"}}, []string{"beams.instances[0].id"}},
		{"duplicate id (case)", []BeamsInstance{{ID: id, SecretKey: "k"}, {ID: strings.ToUpper(id), SecretKey: "k"}}, []string{"beams.instances[1].id"}},
		{"no secret", []BeamsInstance{{ID: id}}, []string{"beams.instances[0].secret_key"}},
		{"secret with a space", []BeamsInstance{{ID: id, SecretKey: "a b"}}, []string{"beams.instances[0].secret_key"}},
		{"subject", []BeamsInstance{{ID: id, SecretKey: "k", VAPIDSubject: "ops@example.com"}}, []string{"beams.instances[0].vapid_subject"}},
		{"fcm without file", []BeamsInstance{{ID: id, SecretKey: "k", FCM: &BeamsFCM{}}}, []string{"beams.instances[0].fcm.service_account_file"}},
		{"fcm file missing", []BeamsInstance{{ID: id, SecretKey: "k", FCM: &BeamsFCM{ServiceAccountFile: "/nonexistent/sa.json"}}}, []string{"beams.instances[0].fcm.service_account_file"}},
		{"apns incomplete", []BeamsInstance{{ID: id, SecretKey: "k", APNs: &BeamsAPNs{KeyID: "short"}}},
			[]string{"beams.instances[0].apns.key_file", "beams.instances[0].apns.key_id", "beams.instances[0].apns.team_id", "beams.instances[0].apns.topic"}},
	}
	for _, c := range cases {
		cfg := Config{Beams: BeamsConfig{Instances: c.in}}
		err := cfg.Validate()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w+":") {
				t.Errorf("%s: %v does not name %s", c.name, err, w)
			}
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: not a FieldError: %v", c.name, err)
		}
	}
}

// An unknown key names its place.
func TestBeamsUnknownKey(t *testing.T) {
	var c Config
	errs := decodeYAML("t.yaml", []byte("beams:\n  instances:\n    - id: x\n      secret: y\n"), &c)
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), `unknown key "secret" in beams.instances[0] — did you mean "secret_key"?`) {
		t.Fatalf("errors %v", errs)
	}
}

// The secret key never shows in a printed instance or a log line.
func TestBeamsSecretNeverPrinted(t *testing.T) {
	in := BeamsInstance{ID: "00000000-0000-0000-0000-000000000001", SecretKey: "hunter2-beams"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "instance", in)
	for _, s := range []string{fmt.Sprint(in), fmt.Sprintf("%v %+v", in, in), buf.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}
