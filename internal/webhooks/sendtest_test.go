package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSendTest(t *testing.T) {
	good := newReceiver(t, nil)
	bad := newReceiver(t, func(int, []byte) int { return http.StatusUnauthorized })
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	a := app("1", hook(good.URL, "member_added"), hook(bad.URL), hook(goneURL))
	now := time.UnixMilli(t0)
	res := SendTest(context.Background(), &a, nil, now)
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	if res[0].URL != good.URL || res[0].Status != 200 || res[0].Err != nil || res[0].Latency <= 0 {
		t.Errorf("good: %+v", res[0])
	}
	var se *StatusError
	if res[1].Status != 401 || !errors.As(res[1].Err, &se) || se.Code != 401 {
		t.Errorf("bad: %+v", res[1])
	}
	if res[2].Status != 0 || res[2].Err == nil {
		t.Errorf("gone: %+v", res[2])
	}
	r := good.requests()[0]
	want := `{"time_ms":1700000000000,"events":[{"name":"channel_occupied","channel":"herald-webhook-test"}]}`
	if string(r.Body) != want {
		t.Errorf("body %s", r.Body)
	}
	checkSigned(t, r)
}
