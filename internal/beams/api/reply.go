package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// exchange is the ResponseWriter every route sees: it remembers the status
// for the metrics and the instance label, and swallows what the mux writes
// by itself (routed false) so ServeHTTP can answer in JSON instead.
type exchange struct {
	http.ResponseWriter
	instance  string // metrics label: the instance id once it is known to exist
	routed    bool   // a route (or the preflight) answers; false: the mux's own answer
	status    int
	muxStatus int
}

func (x *exchange) WriteHeader(code int) {
	if !x.routed {
		x.muxStatus = code
		return
	}
	if x.status == 0 {
		x.status = code
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if !x.routed {
		return len(b), nil
	}
	if x.status == 0 {
		x.status = http.StatusOK
	}
	return x.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

func (x *exchange) code() int {
	if x.status == 0 {
		return http.StatusOK // nothing written: net/http sends 200
	}
	return x.status
}

// apiError is a refusal: status, the Beams error title and a description,
// both non-empty (the node SDK rejects an error body missing either).
type apiError struct {
	status int
	title  string
	desc   string
	// reason is the refused counter's label; "" derives it from status.
	reason string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s - %s", e.status, e.title, e.desc) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, title: "Bad Request", desc: fmt.Sprintf(format, args...)}
}

func unprocessable(format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, title: "Unprocessable Entity", desc: fmt.Sprintf(format, args...)}
}

// Refusals shared by several routes (texts from the Beams docs where known,
// spec 1.7).
var (
	errInstanceNotFound = &apiError{status: http.StatusNotFound, title: "Instance not found", desc: "Could not find the instance."}
	errDeviceNotFound   = &apiError{status: http.StatusNotFound, title: "Device Not Found", desc: "Device not found"}
	errInternal         = &apiError{status: http.StatusInternalServerError, title: "Something went wrong", desc: "Internal server error."}
	errContentType      = &apiError{status: http.StatusBadRequest, title: "Invalid content type", desc: "Only application/json is supported."}
	errNotJSONObject    = badRequest("Failed to read body as a JSON object.")
)

func (e *apiError) refusedReason() string {
	if e.reason != "" {
		return e.reason
	}
	switch {
	case e.status == http.StatusUnauthorized || e.status == http.StatusForbidden:
		return "auth"
	case e.status == http.StatusTooManyRequests:
		return "rate_limited"
	case e.status == http.StatusNotFound:
		return "not_found"
	case e.status == http.StatusServiceUnavailable:
		return "queue_full"
	case e.status >= 500:
		return "" // a failure of ours, not a refusal
	}
	return "invalid"
}

// fail writes e and counts the refusal.
func (h *Handler) fail(x *exchange, e *apiError) {
	if reason := e.refusedReason(); reason != "" {
		h.deps.Metrics.Refused.WithLabelValues(x.instance, reason).Inc()
	}
	writeJSON(x, e.status, struct {
		Error       string `json:"error"`
		Description string `json:"description"`
	}{e.title, e.desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own fixed shapes are written
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// ok answers a call whose reply carries nothing: 200 with an empty body.
// Beams SDKs ignore it (web swallows the parse error on success, node
// resolves undefined, Android and iOS look at the status) and delete-user
// must be exactly that (spec 3.4).
func ok(x *exchange) { x.WriteHeader(http.StatusOK) }

// readBody reads at most limit bytes (one more to detect a larger body).
func readBody(r *http.Request, limit int64, tooLarge *apiError) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("Could not read the request body.")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

func bodyTooLarge(limit int) *apiError {
	return badRequest("Request body size is too large (max %dKiB).", limit>>10)
}

// decodeObject decodes body, which must be exactly one JSON object, into v.
func decodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return errNotJSONObject
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil || dec.More() {
		return errNotJSONObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotJSONObject
	}
	return nil
}

// isJSON reports whether a Content-Type header names application/json;
// parameters such as charset are ignored (generic HTTP clients add them).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
