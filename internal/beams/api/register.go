package api

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/netguard"
)

// Bounds of registration fields.
const (
	maxFCMToken  = 4096 // FCM registration tokens are a few hundred bytes
	maxAPNsToken = 400  // hex characters; APNs tokens are 32 bytes today, longer ones are announced
	maxBundleID  = 255
)

var errDeviceTooLarge = bodyTooLarge(maxDeviceBody)

// invalidToken refuses a platform token. The Android SDK reads the error
// "InvalidToken" as "refused, do not retry" (spec 2.2); the other SDKs only
// show the description.
func invalidToken(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, title: "InvalidToken", desc: fmt.Sprintf(format, args...)}
}

// vapidKey serves the key browsers bind their subscriptions to.
func (h *Handler) vapidKey(c *call) error {
	if c.in.VAPID == nil {
		return &apiError{status: http.StatusNotFound, title: "Not Found",
			desc: "Web push is not configured for this instance (it has no VAPID key)."}
	}
	writeJSON(c.x, http.StatusOK, struct {
		Key string `json:"vapidPublicKey"`
	}{c.in.VAPID.PublicString()})
	return nil
}

// registration is the body of POST /devices/{platform}; each platform reads
// its own fields. knownPreviousClientIds (Android) is ignored: the spec
// allows it, and the SDK restores its state from initialInterestSet.
type registration struct {
	Token            *string         `json:"token"`
	BundleIdentifier string          `json:"bundleIdentifier"`
	Metadata         json.RawMessage `json:"metadata"`
}

// register upserts a device by (instance, platform, token): a known token
// keeps its id, user and interests. The answer is 200 whether the device is
// new or not: the web SDK takes any 2xx, and one status keeps clients that
// test for 200 working (hosted Beams' choice was never observed).
func (h *Handler) register(c *call) error {
	p := devices.Platform(c.r.PathValue("platform"))
	if !p.Valid() {
		return &apiError{status: http.StatusNotFound, title: "Not Found",
			desc: fmt.Sprintf("Unknown platform %q: devices are web, fcm or apns.", truncate(string(p), 40))}
	}
	body, err := readBody(c.r, maxDeviceBody, errDeviceTooLarge)
	if err != nil {
		return err
	}
	var reg registration
	if err := decodeObject(body, &reg); err != nil {
		return err
	}
	if reg.Token == nil || *reg.Token == "" {
		return invalidToken("token is required.")
	}
	md, err := metadataObject(reg.Metadata)
	if err != nil {
		return err
	}
	d := devices.Device{Instance: c.in.ID, Platform: p, Token: *reg.Token, Metadata: md}
	switch p {
	case devices.Web:
		if d.Endpoint, d.P256dh, d.Auth, err = h.subscription(*reg.Token); err != nil {
			return err
		}
	case devices.FCM:
		if err := checkFCMToken(*reg.Token); err != nil {
			return err
		}
	case devices.APNS:
		if d.Token, err = apnsToken(*reg.Token); err != nil {
			return err
		}
		if d.BundleID, err = c.bundleID(reg.BundleIdentifier); err != nil {
			return err
		}
	}
	dev, interests, _, err := h.deps.Devices.Register(c.r.Context(), d)
	if err != nil {
		return storeError(err)
	}
	if p == devices.Web { // the web reply is exactly {"id"} (spec 2.1)
		writeJSON(c.x, http.StatusOK, struct {
			ID string `json:"id"`
		}{dev.ID})
		return nil
	}
	if interests == nil {
		interests = []string{} // Android declares it non-null
	}
	writeJSON(c.x, http.StatusOK, struct {
		ID        string   `json:"id"`
		Interests []string `json:"initialInterestSet"`
	}{dev.ID, interests})
	return nil
}

// subscription decodes a web device token: base64 (standard with padding
// from btoa; the URL alphabet and missing padding tolerated) of the
// PushSubscription JSON. It returns the endpoint and the keys in base64url
// without padding, after the SSRF guard and key checks.
func (h *Handler) subscription(tok string) (endpoint, p256dh, auth string, err error) {
	raw, ok := decodeBase64(tok)
	if !ok {
		return "", "", "", invalidToken("token must be the base64 of a push subscription's JSON.")
	}
	var sub struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &sub); err != nil {
		return "", "", "", invalidToken("token must be the base64 of a push subscription's JSON.")
	}
	if err := netguard.CheckURL(sub.Endpoint, h.cfg.AllowPrivateEndpoints); err != nil {
		return "", "", "", invalidToken("Push subscription refused: %v.", err)
	}
	pub, ok := decodeBase64(sub.Keys.P256dh)
	if !ok || len(pub) != 65 || pub[0] != 0x04 {
		return "", "", "", invalidToken("keys.p256dh must be a 65-byte uncompressed P-256 point in base64url.")
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return "", "", "", invalidToken("keys.p256dh is not a point on P-256.")
	}
	secret, ok := decodeBase64(sub.Keys.Auth)
	if !ok || len(secret) != 16 {
		return "", "", "", invalidToken("keys.auth must be a 16-byte secret in base64url.")
	}
	b64 := base64.RawURLEncoding
	return sub.Endpoint, b64.EncodeToString(pub), b64.EncodeToString(secret), nil
}

// decodeBase64 accepts either alphabet, with or without padding.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, false
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil
}

// checkFCMToken: FCM tokens are opaque printable ASCII; anything else
// (spaces, control characters, over 4 KiB) is not one.
func checkFCMToken(t string) error {
	if len(t) > maxFCMToken {
		return invalidToken("token is longer than %d bytes.", maxFCMToken)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return invalidToken("token must be printable ASCII without spaces.")
		}
	}
	return nil
}

// apnsToken checks a hex device token and lowercases it (the iOS SDK sends
// lowercase; one form keeps the upsert on the same device). No fixed length
// is assumed.
func apnsToken(t string) (string, error) {
	if len(t) > maxAPNsToken || len(t)%2 != 0 {
		return "", invalidToken("token must be the device token in hex (an even number of digits, at most %d).", maxAPNsToken)
	}
	if _, err := hex.DecodeString(t); err != nil {
		return "", invalidToken("token must be the device token in hex.")
	}
	return strings.ToLower(t), nil
}

// bundleID checks the app's bundle identifier against the instance's APNs
// topics; with none configured any is taken (the sender's default topic
// serves devices without one).
func (c *call) bundleID(id string) (string, error) {
	if len(id) > maxBundleID || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return "", badRequest("bundleIdentifier must be text of at most %d bytes.", maxBundleID)
	}
	if len(c.in.APNsTopics) > 0 && !slices.Contains(c.in.APNsTopics, id) {
		return "", badRequest("bundleIdentifier %q is not one of this instance's apps.", truncate(id, 80))
	}
	return id, nil
}

// metadataObject checks optional metadata: a JSON object (or absent/null)
// of at most maxMetadata bytes, the bound of PUT metadata.
func metadataObject(raw json.RawMessage) (json.RawMessage, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	if len(raw) > maxMetadata {
		return nil, badRequest("metadata is too large (max %dKiB).", maxMetadata>>10)
	}
	var m map[string]json.RawMessage
	if s[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, badRequest("metadata must be a JSON object.")
	}
	return raw, nil
}

// storeError turns the device store's documented errors into refusals;
// anything else is returned as is (a 500, logged).
func storeError(err error) error {
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return errDeviceNotFound
	case errors.Is(err, devices.ErrTooManyInterests):
		return unprocessable("A device can have at most %d interests.", devices.MaxInterests)
	case errors.Is(err, devices.ErrOtherUser):
		return unprocessable("The device already belongs to another user: delete the device or the user first.")
	case errors.Is(err, devices.ErrInvalid):
		return badRequest("The request has a value the device store cannot take (an invalid cursor, token or name).")
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
