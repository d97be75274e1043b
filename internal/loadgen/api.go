package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/internal/signing"
)

// APIClient sends signed HTTP API requests like a server SDK.
type APIClient struct {
	T    Target
	HTTP *http.Client
}

// NewAPIClient keeps up to conns idle keep-alive connections; with t.TLS
// they are https:// connections with its verification and session cache.
func NewAPIClient(t Target, conns int) *APIClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        conns + 4,
		MaxIdleConnsPerHost: conns + 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	if t.TLS != nil {
		tr.TLSClientConfig = t.TLS.api
		tr.TLSHandshakeTimeout = 10 * time.Second
	}
	return &APIClient{T: t, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close drops idle connections.
func (a *APIClient) Close() { a.HTTP.CloseIdleConnections() }

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
	req, err := http.NewRequestWithContext(ctx, "POST", a.T.HTTPBase()+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		// Without the URL's query: it holds the signature, and a long one
		// would crowd the cause (a refused certificate, say) out of a
		// result's first error.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("POST %s: %w", a.T.HTTPBase()+path, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return &APIError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}
