package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
	"github.com/heraldhq/herald/internal/signing"
)

// The event creator's request is one the HTTP API accepts: signed with the
// app's primary secret over the unprefixed path, the event in the body;
// the API's refusals come back as errors with their text.
func TestAPITrigger(t *testing.T) {
	store, err := apps.NewStatic([]apps.App{{ID: "1", Key: "k", Secret: "s", Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := signing.VerifyRequest(r.Method, r.URL.Path, r.URL.RawQuery, body,
			[]signing.Credential{{Key: "k", Secret: "s"}}, time.Now(), 600*time.Second); err != nil {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"`+err.Error()+`"}`)
			return
		}
		got = r.URL.Path + " " + string(body)
		if strings.Contains(string(body), `"bad channel"`) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"Invalid channel name"}`)
			return
		}
		io.WriteString(w, `{}`)
	})
	tr := apiTrigger{api: api, apps: store}
	if err := tr.Trigger(context.Background(), "1", "my-channel", "my-event", `{"a":1}`); err != nil {
		t.Fatal(err)
	}
	if want := `/apps/1/events {"name":"my-event","channel":"my-channel","data":"{\"a\":1}"}`; got != want {
		t.Fatalf("API got %s, want %s", got, want)
	}
	if err := tr.Trigger(context.Background(), "1", "bad channel", "e", "x"); err == nil || err.Error() != "400 Invalid channel name" {
		t.Fatalf("refusal = %v", err)
	}
	if err := tr.Trigger(context.Background(), "9", "c", "e", "x"); err == nil {
		t.Fatal("unknown app accepted")
	}
}
