package pusher

import (
	"errors"
	"strconv"
)

// Sentinels for errors.Is. Every error the SDK returns either is one of the
// typed errors below or wraps a transport/context error with %w.
var (
	// ErrInvalidParams matches every *ValidationError: the call was refused
	// before any request was made.
	ErrInvalidParams = errors.New("pusher: invalid parameters")
	// ErrNoMasterKey is wrapped by the *ValidationError returned when an
	// encrypted channel is used without Config.EncryptionMasterKeyBase64.
	ErrNoMasterKey = errors.New("pusher: no encryption master key configured")
	// ErrInvalidResponse is wrapped when a 2xx answer is empty or not the
	// expected JSON shape.
	ErrInvalidResponse = errors.New("pusher: invalid response body")
	// ErrDecrypt is wrapped when an encrypted payload cannot be opened.
	ErrDecrypt = errors.New("pusher: cannot decrypt event data")
	// ErrInvalidWebhook matches every *WebhookError.
	ErrInvalidWebhook = errors.New("pusher: invalid webhook")
)

// ValidationError reports input the SDK refused before sending anything.
// Field names the parameter ("Channels[2]", "SocketID", "Batch[0].Data",
// "Config.Host"); Reason says what is wrong. errors.Is(err,
// ErrInvalidParams) is true for every ValidationError.
type ValidationError struct {
	Field  string
	Reason string
	// Err is an optional cause, e.g. ErrNoMasterKey; reachable with errors.Is.
	Err error
}

func (e *ValidationError) Error() string {
	return "pusher: invalid " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidParams) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidParams }

func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(field, reason string) *ValidationError {
	return &ValidationError{Field: field, Reason: reason}
}

// RequestError is a non-2xx answer from the server. Body is the response
// text (truncated to 4 KiB), which Herald and Pusher fill with a readable
// reason such as "Invalid signature: ..." or "Unknown app id".
type RequestError struct {
	Status int
	Body   string
}

func (e *RequestError) Error() string {
	body := e.Body
	if len(body) > 200 {
		body = body[:200] + "..."
	}
	return "pusher: server answered HTTP " + strconv.Itoa(e.Status) + ": " + body
}

// WebhookError reports a webhook that failed verification or parsing.
// errors.Is(err, ErrInvalidWebhook) is true for every WebhookError.
type WebhookError struct {
	Reason string
	Err    error // optional cause (JSON or decryption error)
}

func (e *WebhookError) Error() string {
	if e.Err != nil {
		return "pusher: invalid webhook: " + e.Reason + ": " + e.Err.Error()
	}
	return "pusher: invalid webhook: " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidWebhook) true.
func (e *WebhookError) Is(target error) bool { return target == ErrInvalidWebhook }

func (e *WebhookError) Unwrap() error { return e.Err }
