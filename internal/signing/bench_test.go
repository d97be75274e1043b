package signing

import (
	"net/url"
	"testing"
	"time"
)

func BenchmarkVerifyRequest(b *testing.B) {
	cred := Credential{Key: "app-key", Secret: "app-secret"}
	body := []byte(`{"name":"my-event","data":"{\"message\":\"hello world\"}","channels":["my-channel"]}`)
	now := time.Unix(1700000000, 0)
	q := SignRequest(cred, "POST", "/apps/1/events", url.Values{}, body, now)
	raw := q.Encode()
	creds := []Credential{cred}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyRequest("POST", "/apps/1/events", raw, body, creds, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyChannelPresence(b *testing.B) {
	cd := `{"user_id":"10","user_info":{"name":"Mr. Channels"}}`
	auth := AuthorizeChannel("app-key", "app-secret", "123.456", "presence-foobar", &cd)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyChannel("app-key", "app-secret", "123.456", "presence-foobar", &cd, auth) {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkVerifyRequestNode: the query pusher-http-node sends for
// trigger("my-channel", "my-event", {message: "hello world"}).
func BenchmarkVerifyRequestNode(b *testing.B) {
	v := loadVectors(b)
	r := v.HTTPNode[0].Request
	creds := []Credential{{v.App.Key, v.App.Secret}}
	body := []byte(r.Body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyRequest(r.Method, r.Path, r.RawQuery, body, creds, vectorClock, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRequest: what a server SDK (and herald bench api) does for
// every request it sends.
func BenchmarkSignRequest(b *testing.B) {
	cred := Credential{Key: "app-key", Secret: "app-secret"}
	body := []byte(`{"name":"my-event","data":"{\"message\":\"hello world\"}","channels":["my-channel"]}`)
	now := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		SignRequest(cred, "POST", "/apps/1/events", url.Values{}, body, now)
	}
}

func BenchmarkHMACHex(b *testing.B) {
	msg := []byte("POST\n/apps/1/events\nauth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&body_md5=15d251b35306a6da7efa515a0e971f80")
	b.ReportAllocs()
	for b.Loop() {
		HMACHex("app-secret", msg)
	}
}
