package api

import "encoding/json"

var errReportTooLarge = bodyTooLarge(maxReportBody)

// report takes a delivery or open event from a service worker or app
// (spec 2.5). Clients send it best effort and read nothing back; for now it
// is only counted (the request counter's "reporting" route) — publish
// webhooks will feed on it later. No Content-Type is required: the event is
// parsed as JSON whatever the client called it.
func (h *Handler) report(c *call) error {
	body, err := readBody(c.r, maxReportBody, errReportTooLarge)
	if err != nil {
		return err
	}
	var ev map[string]json.RawMessage
	if err := decodeObject(body, &ev); err != nil {
		return err
	}
	ok(c.x)
	return nil
}
