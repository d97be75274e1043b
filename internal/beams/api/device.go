package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/internal/beams/devices"
	"github.com/heraldhq/herald/internal/beams/publish"
	"github.com/heraldhq/herald/internal/beams/token"
)

var (
	errInterestsTooLarge = bodyTooLarge(maxInterestsBody)
	errMetadataTooLarge  = bodyTooLarge(maxMetadata)
)

// deviceID is the device of /devices/{platform}/{device}. Ids are
// "<platform>-<uuid>" (devices.NewID), so a device under another platform's
// path, or an unknown platform, is not found without asking the store.
func (c *call) deviceID() (string, error) {
	p := devices.Platform(c.r.PathValue("platform"))
	if p == "" {
		p = devices.FCM // the token route names its platform literally
	}
	id := c.r.PathValue("device")
	if !p.Valid() || !strings.HasPrefix(id, string(p)+"-") {
		return "", errDeviceNotFound
	}
	return id, nil
}

// getDevice answers the device's id, platform, user ("" for none: SDKs
// declare it a string) and metadata. The token is not echoed: for web it
// holds the subscription's auth secret.
func (h *Handler) getDevice(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	d, err := h.deps.Devices.Get(c.r.Context(), c.in.ID, id)
	if err != nil {
		return storeError(err)
	}
	writeJSON(c.x, http.StatusOK, struct {
		ID       string          `json:"id"`
		Platform string          `json:"platform"`
		UserID   string          `json:"userId"`
		Metadata json.RawMessage `json:"metadata,omitempty"`
	}{d.ID, string(d.Platform), d.UserID, d.Metadata})
	return nil
}

func (h *Handler) deleteDevice(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	if err := h.deps.Devices.Delete(c.r.Context(), c.in.ID, id); err != nil {
		return storeError(err)
	}
	ok(c.x)
	return nil
}

func invalidInterest(name string) *apiError {
	return badRequest("Interest %q is not valid: 1 to %d characters of A-Z a-z 0-9 _ - = @ , . ;",
		truncate(name, 200), publish.MaxInterestLen)
}

// changeInterest serves adding (or removing) one interest: change is the
// store's AddInterest or RemoveInterest.
func (h *Handler) changeInterest(change func(ctx context.Context, instance, id, interest string) error) func(*call) error {
	return func(c *call) error {
		id, err := c.deviceID()
		if err != nil {
			return err
		}
		name := c.r.PathValue("interest")
		if !publish.ValidInterest(name) {
			return invalidInterest(name)
		}
		if err := change(c.r.Context(), c.in.ID, id, name); err != nil {
			return storeError(err)
		}
		ok(c.x)
		return nil
	}
}

// setInterests replaces the device's interests with {"interests":[...]}
// (duplicates counted once: Android does not de-duplicate like web).
func (h *Handler) setInterests(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	body, err := readBody(c.r, maxInterestsBody, errInterestsTooLarge)
	if err != nil {
		return err
	}
	var req struct {
		Interests *[]string `json:"interests"`
	}
	if err := decodeObject(body, &req); err != nil {
		return badRequest(`The body must be {"interests":[...]}, a list of strings.`)
	}
	if req.Interests == nil {
		return badRequest(`interests is required: {"interests":[...]}.`)
	}
	seen := make(map[string]struct{}, len(*req.Interests))
	for _, name := range *req.Interests {
		if !publish.ValidInterest(name) {
			return invalidInterest(name)
		}
		seen[name] = struct{}{}
	}
	if len(seen) > devices.MaxInterests {
		return unprocessable("A device can have at most %d interests (got %d).", devices.MaxInterests, len(seen))
	}
	if err := h.deps.Devices.SetInterests(c.r.Context(), c.in.ID, id, *req.Interests); err != nil {
		return storeError(err)
	}
	ok(c.x)
	return nil
}

// listInterests answers a page: {"interests":[...],"responseMetadata":{}},
// with "nextCursor" in responseMetadata only when another page exists (the
// field name is our choice: hosted Beams' was never observed).
func (h *Handler) listInterests(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	limit := defaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return badRequest("limit must be a whole number from 1 (at most %d are returned).", maxListLimit)
		}
		limit = min(n, maxListLimit)
	}
	list, next, err := h.deps.Devices.Interests(c.r.Context(), c.in.ID, id, q.Get("cursor"), limit)
	if err != nil {
		if errors.Is(err, devices.ErrInvalid) {
			return badRequest("cursor is not one this API returned.")
		}
		return storeError(err)
	}
	if list == nil {
		list = []string{}
	}
	type meta struct {
		NextCursor string `json:"nextCursor,omitempty"`
	}
	writeJSON(c.x, http.StatusOK, struct {
		Interests []string `json:"interests"`
		Meta      meta     `json:"responseMetadata"`
	}{list, meta{next}})
	return nil
}

// setUser associates the device with the user of a Beams token signed by
// the customer's backend (spec 3.2): the device first (404), then the token
// (401, or 422 for a bad user id), then the store (422 for another user or
// a full user).
func (h *Handler) setUser(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	if _, err := h.deps.Devices.Get(c.r.Context(), c.in.ID, id); err != nil {
		return storeError(err)
	}
	tok := bearerToken(c.r)
	if tok == "" {
		return &apiError{status: http.StatusUnauthorized, title: "Unauthorized",
			desc: "Authorization header with a Beams token (Bearer) is missing."}
	}
	user, err := token.Verify(tok, c.in.ID, c.in.Accepted(c.now), h.cfg.ExtraIssuers, c.now)
	if err != nil {
		var te *token.Error
		if !errors.As(err, &te) {
			return fmt.Errorf("verify beams token: %w", err)
		}
		title := "Unauthorized"
		if te.Status == http.StatusUnprocessableEntity {
			title = "Unprocessable Entity"
		}
		return &apiError{status: te.Status, title: title, desc: te.Description}
	}
	err = h.deps.Devices.SetUser(c.r.Context(), c.in.ID, id, user, c.in.MaxDevicesPerUser)
	if errors.Is(err, devices.ErrUserFull) {
		return unprocessable("The user already has the most devices allowed (%d): delete one of them first.", c.in.MaxDevicesPerUser)
	}
	if err != nil {
		return storeError(err)
	}
	ok(c.x)
	return nil
}

// setMetadata replaces the device's metadata with the body, a JSON object.
func (h *Handler) setMetadata(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	body, err := readBody(c.r, maxMetadata, errMetadataTooLarge)
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := decodeObject(body, &m); err != nil {
		return err
	}
	if err := h.deps.Devices.SetMetadata(c.r.Context(), c.in.ID, id, json.RawMessage(body)); err != nil {
		return storeError(err)
	}
	ok(c.x)
	return nil
}

// setToken gives an FCM device its refreshed token; a device that had the
// token before is deleted by the store (the token moved).
func (h *Handler) setToken(c *call) error {
	id, err := c.deviceID()
	if err != nil {
		return err
	}
	body, err := readBody(c.r, maxDeviceBody, errDeviceTooLarge)
	if err != nil {
		return err
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := decodeObject(body, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return invalidToken("token is required.")
	}
	if err := checkFCMToken(req.Token); err != nil {
		return err
	}
	if err := h.deps.Devices.SetToken(c.r.Context(), c.in.ID, id, req.Token); err != nil {
		return storeError(err)
	}
	ok(c.x)
	return nil
}
