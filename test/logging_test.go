package test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// Failed authorizations and rejected API calls leave one audit line each,
// naming the app key, socket id, channel and reason, and never the secret or
// a full signature.
func TestAuditLogNeverLeaksSecrets(t *testing.T) {
	s := startServer(t, nil)
	c := connect(t, s)
	sid := c.socketID

	forged := signing.AuthorizeChannel(appKey, "wrong-secret", sid, "private-audit", nil)
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]any{"channel": "private-audit", "auth": forged}})
	c.waitEvent("pusher:subscription_error", "private-audit")

	// An API call signed with the wrong secret.
	q := signing.SignRequest(signing.Credential{Key: appKey, Secret: "wrong-secret"}, "GET", "/apps/"+appID+"/channels", url.Values{}, nil, time.Now())
	r := s.do("GET", "/apps/"+appID+"/channels?"+q.Encode(), nil)
	expectStatus(t, r, 401)

	var logs string
	eventually(t, 3*time.Second, "audit lines", func() bool {
		logs = s.logs.Tail(1 << 20)
		return strings.Contains(logs, "subscription refused") && strings.Contains(logs, "api request rejected")
	})
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "subscription refused") {
			for _, want := range []string{"app_key=" + appKey, "socket_id=" + sid, "channel=private-audit", "reason="} {
				if !strings.Contains(line, want) {
					t.Errorf("subscription audit line lacks %q: %s", want, line)
				}
			}
		}
		if strings.Contains(line, "api request rejected") && !strings.Contains(line, "status=401") {
			t.Errorf("api audit line lacks the status: %s", line)
		}
	}
	forgedHex := forged[strings.IndexByte(forged, ':')+1:]
	for _, secret := range []string{appSecret, "wrong-secret", forgedHex, q.Get("auth_signature")} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret or full signature %q", secret)
		}
	}
}
