package apns_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

type vectors struct {
	Constants struct {
		InstanceID string `json:"instanceId"`
	} `json:"constants"`
	ServerSdkNode struct {
		Cases []struct {
			Name     string `json:"name"`
			Requests []struct {
				Body *string `json:"body"`
			} `json:"requests"`
		} `json:"cases"`
	} `json:"serverSdkNode"`
	ProviderFakes struct {
		APNs struct {
			Body           string            `json:"body"`
			ClientProto    string            `json:"clientProto"`
			Headers        map[string]string `json:"headers"`
			JWTClaims      json.RawMessage   `json:"jwtClaims"`
			JWTHeader      json.RawMessage   `json:"jwtHeader"`
			Method         string            `json:"method"`
			Path           string            `json:"path"`
			Proto          string            `json:"proto"`
			ResponseApnsID string            `json:"responseApnsID"`
			ResponseStatus int               `json:"responseStatus"`
		} `json:"apns"`
		APNs410 struct {
			Body   string `json:"body"`
			Status int    `json:"status"`
		} `json:"apns410"`
	} `json:"providerFakes"`
}

func load(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile("../../../testdata/beams-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.ProviderFakes.APNs.Body == "" || v.ProviderFakes.APNs410.Status != 410 || v.Constants.InstanceID == "" {
		t.Fatal("beams-vectors.json: unexpected shape")
	}
	return &v
}

// publishedAPNs is the apns payload of the node SDK's captured
// publishToInterests: the input of the providerFakes.apns vector.
func publishedAPNs(t *testing.T, v *vectors) json.RawMessage {
	t.Helper()
	for _, c := range v.ServerSdkNode.Cases {
		if c.Name == "publishToInterests" && len(c.Requests) > 0 && c.Requests[0].Body != nil {
			var p struct{ APNs json.RawMessage }
			if err := json.Unmarshal([]byte(*c.Requests[0].Body), &p); err != nil || p.APNs == nil {
				t.Fatalf("publishToInterests body: %v", err)
			}
			return p.APNs
		}
	}
	t.Fatal("no publishToInterests case")
	return nil
}

// The providerFakes.apns vector, byte for byte: the body and headers Build
// and Send make for the node SDK's publish, the provider token's header
// and claims, and the 410 answer.
func TestVector(t *testing.T) {
	v := load(t)
	vec := v.ProviderFakes.APNs
	var head struct{ Kid string }
	var claims struct {
		Iss string
		Iat int64
	}
	if err := errors.Join(json.Unmarshal(vec.JWTHeader, &head), json.Unmarshal(vec.JWTClaims, &claims)); err != nil {
		t.Fatal(err)
	}
	key, _ := testKey(t)
	f := startFake(t, &key.PublicKey, head.Kid, claims.Iss, v.ProviderFakes.APNs410.Body)
	f.apnsID = vec.ResponseApnsID
	clk := &clock{t: time.Unix(claims.Iat, 0)}
	s := &apns.Sender{KeyID: head.Kid, TeamID: claims.Iss, Key: key, Topic: "nobody.uses.this", BaseURL: f.srv.URL, Client: f.srv.Client(), Now: clk.Now}

	body, h, err := apns.Build(publishedAPNs(t, v), v.Constants.InstanceID, "pubid-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != vec.Body {
		t.Fatalf("body\n got %s\nwant %s", body, vec.Body)
	}
	device, _ := strings.CutPrefix(vec.Path, "/3/device/")
	r, id := s.SendID(context.Background(), device, vec.Headers["apns-topic"], body, h)
	if r.Outcome != webpush.Delivered || r.Status != vec.ResponseStatus || r.Err != nil || id != vec.ResponseApnsID {
		t.Fatalf("send: %+v apns-id %q", r, id)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	got := reqs[0]
	if got.Method != vec.Method || got.Path != vec.Path || got.Proto != vec.Proto || got.Proto != vec.ClientProto || string(got.Body) != vec.Body {
		t.Fatalf("request %s %s %s body %s", got.Method, got.Path, got.Proto, got.Body)
	}
	for name, want := range vec.Headers {
		if name == "authorization" {
			continue
		}
		if vals := got.Header.Values(name); want == "" && len(vals) != 0 || want != "" && (len(vals) != 1 || vals[0] != want) {
			t.Errorf("header %s: %q, want %q", name, vals, want)
		}
	}
	// The token's signature is random (ECDSA) and made with another key:
	// its header and claims must match, and it verifies with ours.
	wantJWT, _ := strings.CutPrefix(vec.Headers["authorization"], "bearer ")
	wantParts, gotParts := strings.Split(wantJWT, "."), strings.Split(got.JWT, ".")
	if len(gotParts) != 3 || gotParts[0] != wantParts[0] || gotParts[1] != wantParts[1] || len(gotParts[2]) != len(wantParts[2]) {
		t.Fatalf("provider token\n got %s\nwant %s", got.JWT, wantJWT)
	}
	if !strings.HasPrefix(got.Header.Get("Authorization"), "bearer ") {
		t.Fatalf("authorization %q", got.Header.Get("Authorization"))
	}
	var hj, cj json.RawMessage
	hb, _ := base64.RawURLEncoding.DecodeString(gotParts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(gotParts[1])
	if json.Unmarshal(hb, &hj) != nil || json.Unmarshal(cb, &cj) != nil || !jsonEqual(hj, vec.JWTHeader) || !jsonEqual(cj, vec.JWTClaims) {
		t.Fatalf("token header %s claims %s", hb, cb)
	}

	// providerFakes.apns410: the device is gone, with Apple's reason and time.
	f.kill(device)
	r = s.Send(context.Background(), device, "com.example.app", body, h)
	var e *apns.Error
	if r.Outcome != webpush.Gone || r.Status != 410 || !errors.As(r.Err, &e) || e.Reason != "Unregistered" || !e.Timestamp.Equal(time.UnixMilli(1700000000000)) {
		t.Fatalf("dead device: %+v %+v", r, e)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
