package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/heraldhq/herald/internal/beams/apns"
	"github.com/heraldhq/herald/internal/beams/fcm"
	"github.com/heraldhq/herald/internal/beams/publish"
	"github.com/heraldhq/herald/internal/beams/queue"
	"github.com/heraldhq/herald/internal/beams/webpush"
)

const (
	toInterests = publish.ToInterests
	toUsers     = publish.ToUsers
)

var errPublishTooLarge = bodyTooLarge(publish.MaxBody)

// authorize checks the secret key (Bearer, constant time, every key still
// in its rotation grace) and then the instance's rate: only authenticated
// requests take a token, so a stranger cannot spend the customer's budget.
func (h *Handler) authorize(c *call) error {
	if c.r.Header.Get("Authorization") == "" {
		return &apiError{status: http.StatusBadRequest, title: "Incomplete Request",
			desc: "Authorization header is missing.", reason: "auth"}
	}
	// "" (another scheme, no key) is never valid; CheckSecret still runs,
	// in constant time.
	key := bearerToken(c.r)
	if _, valid := c.in.CheckSecret(key, c.now); !valid || key == "" {
		return &apiError{status: http.StatusUnauthorized, title: "Unauthorized", desc: "Incorrect API Key."}
	}
	if rate := c.in.PublishRate; !h.limits.allow(c.in.ID, rate, c.now) {
		c.x.Header().Set("Retry-After", "1")
		return &apiError{status: http.StatusTooManyRequests, title: "Rate Limited",
			desc: fmt.Sprintf("Too many requests being made in quick succession (max %d RPS).", rate)}
	}
	return nil
}

// publish serves the three publish routes: validated, queued durably, then
// answered exactly 200 {"publishId"} (go, python and ruby refuse any other
// 2xx). Delivery is asynchronous.
func (h *Handler) publish(target publish.Target) func(*call) error {
	label := "interests"
	if target == toUsers {
		label = "users"
	}
	return func(c *call) error {
		if err := h.authorize(c); err != nil {
			return err
		}
		if !isJSON(c.r.Header.Get("Content-Type")) {
			return errContentType
		}
		body, err := readBody(c.r, publish.MaxBody, errPublishTooLarge)
		if err != nil {
			return err
		}
		req, perr := publish.Parse(body, target)
		if perr != nil {
			return &apiError{status: perr.Status, title: perr.Title, desc: perr.Description}
		}
		id := publish.NewID()
		if err := payloadsFit(req, c.in.ID, id); err != nil {
			return err
		}
		err = h.enqueue(c.r.Context(), queue.Job{
			PublishID: id, Instance: c.in.ID, ToUsers: target == toUsers,
			Body: json.RawMessage(body), Accepted: c.now,
		})
		if errors.Is(err, queue.ErrFull) {
			// Our choice (hosted Beams never said): 503 is what every SDK
			// reports as a server-side, retryable condition.
			c.x.Header().Set("Retry-After", "1")
			return &apiError{status: http.StatusServiceUnavailable, title: "Service Unavailable",
				desc: "Too many publishes are waiting for delivery; retry later."}
		}
		if err != nil {
			return fmt.Errorf("enqueue publish: %w", err)
		}
		h.deps.Metrics.Publishes.WithLabelValues(c.in.ID, label).Inc()
		writeJSON(c.x, http.StatusOK, struct {
			PublishID string `json:"publishId"`
		}{id})
		return nil
	}
}

// enqueue stores j. When Enqueue fails other than by ErrFull, ErrClosed or
// ErrDuplicate (a timeout, a lost connection), j may have been stored all
// the same: it is tried once more with the same PublishID, and
// ErrDuplicate then means the first try stored it. The publisher gets one
// 200 instead of a 500 that its own retry would turn into a second
// delivery. No retry once ctx ended: nobody waits for the answer.
func (h *Handler) enqueue(ctx context.Context, j queue.Job) error {
	err := h.deps.Queue.Enqueue(ctx, j)
	if err == nil || errors.Is(err, queue.ErrFull) || errors.Is(err, queue.ErrClosed) ||
		errors.Is(err, queue.ErrDuplicate) || ctx.Err() != nil {
		return err
	}
	h.log.Warn("beams publish enqueue failed; trying once more", "instance", j.Instance, "publish_id", j.PublishID, "err", err)
	switch again := h.deps.Queue.Enqueue(ctx, j); {
	case again == nil, errors.Is(again, queue.ErrDuplicate):
		return nil
	case errors.Is(again, queue.ErrFull), errors.Is(again, queue.ErrClosed):
		return again
	default:
		return fmt.Errorf("%w (tried again: %v)", err, again)
	}
}

// deleteUser removes every device of a user (they stop receiving interest
// publishes too). Idempotent: an unknown user is a 200 as well.
func (h *Handler) deleteUser(c *call) error {
	if err := h.authorize(c); err != nil {
		return err
	}
	user := c.r.PathValue("user")
	if !publish.ValidUserID(user) {
		return unprocessable("User id must be 1 to %d characters of UTF-8.", publish.MaxUserIDLen)
	}
	n, err := h.deps.Devices.DeleteUser(c.r.Context(), c.in.ID, user)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	h.log.Debug("beams user deleted", "instance", c.in.ID, "devices", strconv.Itoa(n))
	ok(c.x)
	return nil
}

// payloadsFit refuses at publish time (spec 1.9) what could never be sent:
// each platform's message, built exactly as delivery builds it, must fit
// its push service, else the publisher would get a publishId for a
// notification every device drops.
func payloadsFit(req *publish.Request, instanceID, publishID string) *apiError {
	if req.Web != nil {
		if _, err := req.WebPlaintext(instanceID, publishID); err != nil {
			return unprocessable("The web payload is too large: its message, with Beams' data.pusher, must be at most %d bytes of JSON.", webpush.MaxPlaintext)
		}
	}
	if req.APNs != nil {
		if _, _, err := apns.Build(req.APNs, instanceID, publishID); err != nil {
			return unprocessable("The apns payload cannot be sent: %v.", err)
		}
	}
	if req.FCM != nil {
		if _, err := fcm.Translate(req.FCM, "", instanceID, publishID); err != nil {
			return unprocessable("The fcm payload cannot be sent: %v.", err)
		}
	}
	return nil
}
