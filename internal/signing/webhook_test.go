package signing

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestWebhookVectors(t *testing.T) {
	v := loadVectors(t)
	if len(v.Webhooks) == 0 {
		t.Fatal("no webhook vectors")
	}
	for _, tc := range v.Webhooks {
		t.Run(tc.Label, func(t *testing.T) {
			want := tc.Headers["X-Pusher-Signature"]
			if got := SignWebhook(v.App.Secret, []byte(tc.RawBody)); got != want {
				t.Errorf("SignWebhook = %s, want %s", got, want)
			}
			if got := SignWebhook(v.App.Secret, []byte(tc.RawBody+" ")); got == want {
				t.Error("signature ignores trailing bytes")
			}
		})
	}
}

func TestSharedSecretVector(t *testing.T) {
	v := loadVectors(t)
	master, err := base64.StdEncoding.DecodeString(v.App.EncryptionMasterKeyBase64)
	if err != nil {
		t.Fatal(err)
	}
	got := SharedSecret(v.EncryptedChannel.Channel, master)
	if h := hex.EncodeToString(got); h != v.EncryptedChannel.SharedSecretHex {
		t.Errorf("hex = %s, want %s", h, v.EncryptedChannel.SharedSecretHex)
	}
	if b := base64.StdEncoding.EncodeToString(got); b != v.EncryptedChannel.SharedSecretBase64 {
		t.Errorf("base64 = %s, want %s", b, v.EncryptedChannel.SharedSecretBase64)
	}
	// The channel auth vectors carry shared_secret for every encrypted
	// channel, including the cache variant.
	n := 0
	for _, tc := range v.ChannelAuthorization {
		if tc.Output.SharedSecret == nil {
			continue
		}
		n++
		got := base64.StdEncoding.EncodeToString(SharedSecret(tc.Input.ChannelName, master))
		if got != *tc.Output.SharedSecret {
			t.Errorf("%s: shared secret %s, want %s", tc.Input.ChannelName, got, *tc.Output.SharedSecret)
		}
	}
	if n != 2 {
		t.Errorf("checked %d shared secrets in channel_authorization, want 2", n)
	}
}

func TestMD5Hex(t *testing.T) {
	if got := MD5Hex([]byte("{}")); got != "99914b932bd37a50b983c5e7c90ae93b" {
		t.Errorf("MD5Hex({}) = %s", got)
	}
	if got := MD5Hex(nil); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Errorf("MD5Hex(nil) = %s", got)
	}
}
