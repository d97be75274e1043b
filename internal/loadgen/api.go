package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// APIClient sends signed HTTP API requests like a server SDK, over
// keep-alive HTTP/1.1 connections of its own: each request writes the
// request line, headers and body in one write and reads the answer with
// net/http's response parser, on the caller's goroutine. net/http's
// client costs the bench more CPU than the server spends on the request
// (a read and a write goroutine per connection, a hand-over each way),
// which on a machine shared with the server caps what can be measured.
type APIClient struct {
	T    Target
	idle chan *apiConn // keep-alive connections not in use
}

// apiConn is one keep-alive connection.
type apiConn struct {
	c         net.Conn
	br        *bufio.Reader
	req       []byte    // scratch for the request
	idleSince time.Time // when it went back to the pool
}

// maxIdle drops pooled connections a server may have closed meanwhile
// (net/http's servers, Herald's included, close keep-alive connections
// idle for 120 s by default): a request on one would fail.
const maxIdle = 60 * time.Second

// NewAPIClient keeps up to conns idle keep-alive connections; with t.TLS
// they are https:// connections with its verification and session cache.
func NewAPIClient(t Target, conns int) *APIClient {
	return &APIClient{T: t, idle: make(chan *apiConn, conns+4)}
}

// Close drops idle connections.
func (a *APIClient) Close() {
	for {
		select {
		case ac := <-a.idle:
			_ = ac.c.Close()
		default:
			return
		}
	}
}

// apiTimeout bounds one request, connecting included.
const apiTimeout = 30 * time.Second

func (a *APIClient) conn(ctx context.Context) (*apiConn, error) {
	for {
		select {
		case ac := <-a.idle:
			if time.Since(ac.idleSince) < maxIdle {
				return ac, nil
			}
			_ = ac.c.Close()
			continue
		default:
		}
		break
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if a.T.TLS != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: a.T.TLS.api}).DialContext(ctx, "tcp", a.T.Addr())
	} else {
		c, err = d.DialContext(ctx, "tcp", a.T.Addr())
	}
	if err != nil {
		return nil, err
	}
	return &apiConn{c: c, br: bufio.NewReaderSize(c, 4096)}, nil
}

func (a *APIClient) release(ac *apiConn) {
	ac.idleSince = time.Now()
	select {
	case a.idle <- ac:
	default:
		_ = ac.c.Close()
	}
}

type triggerBody struct {
	Name     string   `json:"name"`
	Data     string   `json:"data"`
	Channels []string `json:"channels"`
	SocketID string   `json:"socket_id,omitempty"`
}

type batchItem struct {
	Name    string `json:"name"`
	Data    string `json:"data"`
	Channel string `json:"channel"`
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %.200s", e.Status, e.Body) }

// Trigger publishes one event (POST /apps/{id}/events).
func (a *APIClient) Trigger(ctx context.Context, channels []string, name, data string) error {
	body, _ := json.Marshal(triggerBody{Name: name, Data: data, Channels: channels})
	return a.post(ctx, "/apps/"+a.T.AppID+"/events", body)
}

// TriggerBatch publishes several events in one request (POST batch_events).
func (a *APIClient) TriggerBatch(ctx context.Context, items []batchItem) error {
	body, _ := json.Marshal(map[string][]batchItem{"batch": items})
	return a.post(ctx, "/apps/"+a.T.AppID+"/batch_events", body)
}

func (a *APIClient) post(ctx context.Context, path string, body []byte) error {
	full := a.T.PathPrefix + path
	q := signing.SignRequest(signing.Credential{Key: a.T.Key, Secret: a.T.Secret}, "POST", full, url.Values{}, body, time.Now())
	err := a.roundTrip(ctx, full+"?"+q.Encode(), body)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			// Without the query: it holds the signature, and a long one
			// would crowd the cause (a refused certificate, say) out of a
			// result's first error.
			return fmt.Errorf("POST %s: %w", a.T.HTTPBase()+path, err)
		}
	}
	return err
}

// roundTrip sends one POST of a JSON body to target (path and query) and
// reads the answer; a connection is reused only after a complete answer
// that does not ask to close it.
func (a *APIClient) roundTrip(ctx context.Context, target string, body []byte) error {
	ac, err := a.conn(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(apiTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = ac.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = ac.c.SetDeadline(time.Unix(1, 0)) })

	ac.req = append(ac.req[:0], "POST "...)
	ac.req = append(ac.req, target...)
	ac.req = append(ac.req, " HTTP/1.1\r\nHost: "...)
	ac.req = append(ac.req, a.T.Addr()...)
	ac.req = append(ac.req, "\r\nUser-Agent: herald-bench\r\nContent-Type: application/json\r\nContent-Length: "...)
	ac.req = strconv.AppendInt(ac.req, int64(len(body)), 10)
	ac.req = append(ac.req, "\r\n\r\n"...)
	ac.req = append(ac.req, body...)
	if _, err := ac.c.Write(ac.req); err != nil {
		stop()
		_ = ac.c.Close()
		return err
	}
	resp, err := http.ReadResponse(ac.br, nil)
	if err != nil {
		stop()
		_ = ac.c.Close()
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, derr := io.Copy(io.Discard, resp.Body) // the rest, so the connection can be reused
	_ = resp.Body.Close()
	// Pooled only when the cancellation callback can no longer run: it
	// would break the connection under its next request.
	if stopped := stop(); !stopped || derr != nil || resp.Close || ctx.Err() != nil {
		_ = ac.c.Close()
	} else {
		a.release(ac)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}
