package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// maxBurst bounds the events written with one flush.
const maxBurst = 64

// SSE streams to r's client, as text/event-stream, the events of appID that
// filter selects, until the client goes or the feed closes. The caller has
// authorized the request (the dashboard mounts it behind its session).
//
// Each event is one message whose data is the Event as JSON (no event
// name: EventSource's onmessage gets it). Misses are reported as
// "event: dropped" with data {"dropped": total so far, "new": since the
// last report}; a comment line is sent every Config.Heartbeat so proxies
// keep the stream open; "event: end" says the server is shutting down.
// Past the viewer limits the answer is 503 with the reason.
func SSE(f *Feed, appID string, filter Filter, w http.ResponseWriter, r *http.Request) {
	v, cancel, err := f.Watch(appID, filter)
	if err != nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer cancel()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// A write that hangs (a client that stopped reading) ends the stream
	// instead of holding the handler; the deadline is cleared on the way out
	// so it does not outlive this response.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	send := func(b []byte) bool {
		if err := rc.SetWriteDeadline(f.now().Add(f.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	buf := make([]byte, 0, 4<<10)
	if !send(append(buf, "retry: 5000\n: watching app "+strconv.Quote(appID)+"\n\n"...)) {
		return
	}
	tick := time.NewTicker(f.cfg.Heartbeat)
	defer tick.Stop()
	var reported uint64
	for {
		buf = buf[:0]
		select {
		case <-r.Context().Done():
			return
		case <-v.Done():
			send(append(buf, "event: end\ndata: {\"reason\":\"console closed by the server\"}\n\n"...))
			return
		case <-tick.C:
			buf = append(buf, ": heartbeat\n\n"...)
		case e := <-v.Events():
			buf = appendEvent(buf, &e)
		burst:
			for range maxBurst - 1 {
				select {
				case e := <-v.Events():
					buf = appendEvent(buf, &e)
				default:
					break burst
				}
			}
		}
		if d := v.Dropped(); d != reported {
			buf = append(buf, "event: dropped\ndata: {\"dropped\":"...)
			buf = strconv.AppendUint(buf, d, 10)
			buf = append(buf, ",\"new\":"...)
			buf = strconv.AppendUint(buf, d-reported, 10)
			buf = append(buf, "}\n\n"...)
			reported = d
		}
		if !send(buf) {
			return
		}
	}
}

// appendEvent appends e as one SSE message. JSON escapes every line break,
// so the data is one line.
func appendEvent(buf []byte, e *Event) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		return buf // cannot happen: every field marshals
	}
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	return append(buf, "\n\n"...)
}
