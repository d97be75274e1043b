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
