package apns_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/apns"
)

const meta = `"pusher":{"publishId":"p","instanceId":"i"}`

func TestBuild(t *testing.T) {
	for _, c := range []struct {
		name, in, body string
		h              apns.Headers
	}{
		{"alert, defaults", `{"aps":{"alert":"Hi"}}`,
			`{"aps":{"alert":"Hi"},"data":{` + meta + `}}`, apns.Headers{PushType: "alert", Priority: 10}},
		{"header-like keys become headers, the publisher's order and data are kept", `{ "data" : {"b":1, "a":[1, 2]}, "collapse_id":"news", "aps":{"badge":3}, "expiration":1700000000, "x-custom":{"k":"v"}, "priority":5 }`,
			`{"data":{"b":1,"a":[1,2],` + meta + `},"aps":{"badge":3},"x-custom":{"k":"v"}}`, apns.Headers{PushType: "alert", Priority: 5, Expiration: 1700000000, CollapseID: "news"}},
		{"background", `{"aps":{"content-available":1},"data":{"k":"v"}}`,
			`{"aps":{"content-available":1},"data":{"k":"v",` + meta + `}}`, apns.Headers{PushType: "background", Priority: 5}},
		{"background at the lowest priority", `{"aps":{"content-available":1,"thread-id":"t"},"priority":1}`,
			`{"aps":{"content-available":1,"thread-id":"t"},"data":{` + meta + `}}`, apns.Headers{PushType: "background", Priority: 1}},
		{"content-available with sound is an alert", `{"aps":{"content-available":1,"sound":"default"}}`,
			`{"aps":{"content-available":1,"sound":"default"},"data":{` + meta + `}}`, apns.Headers{PushType: "alert", Priority: 10}},
		{"no aps (the docs' example) passes through", `{"alert":"Hi","data":{}}`,
			`{"alert":"Hi","data":{` + meta + `}}`, apns.Headers{PushType: "alert", Priority: 10}},
		{"collapse id of 64 bytes", `{"aps":{"alert":"a"},"collapse_id":"` + strings.Repeat("c", 64) + `"}`,
			`{"aps":{"alert":"a"},"data":{` + meta + `}}`, apns.Headers{PushType: "alert", Priority: 10, CollapseID: strings.Repeat("c", 64)}},
		{"no HTML escaping added", `{"aps":{"alert":"<b>&"},"data":{"<k>":"v"}}`,
			`{"aps":{"alert":"<b>&"},"data":{"<k>":"v",` + meta + `}}`, apns.Headers{PushType: "alert", Priority: 10}},
	} {
		body, h, err := apns.Build(json.RawMessage(c.in), "i", "p")
		if err != nil || string(body) != c.body || h != c.h {
			t.Errorf("%s: %v\n got %s %+v\nwant %s %+v", c.name, err, body, h, c.body, c.h)
		}
	}
}

func TestBuildRefusals(t *testing.T) {
	big := `{"aps":{"alert":"` + strings.Repeat("x", apns.MaxBody) + `"}}`
	for _, c := range []struct{ name, in, want string }{
		{"collapse id too long", `{"aps":{"alert":"a"},"collapse_id":"` + strings.Repeat("c", 65) + `"}`, "collapse_id must be at most 64 bytes"},
		{"collapse id not a string", `{"collapse_id":1}`, "collapse_id"},
		{"publisher's data.pusher", `{"aps":{"alert":"a"},"data":{"pusher":{}}}`, `"pusher"`},
		{"data not an object", `{"data":[1]}`, "apns.data must be an object"},
		{"aps not an object", `{"aps":"hi"}`, "apns.aps must be an object"},
		{"priority 7", `{"priority":7}`, "priority"},
		{"priority as a string", `{"priority":"10"}`, "priority"},
		{"priority 10 in the background", `{"aps":{"content-available":1},"priority":10}`, "background"},
		{"negative expiration", `{"expiration":-1}`, "expiration"},
		{"fractional expiration", `{"expiration":1.5}`, "expiration"},
		{"not an object", `[1]`, "apns must be a JSON object"},
		{"null", `null`, "apns must be a JSON object"},
		{"broken JSON", `{"aps":`, "apns must be a JSON object"},
		{"trailing data", `{} {}`, "apns must be a JSON object"},
		{"duplicate key", `{"data":{},"data":{"pusher":1}}`, "twice"},
		{"duplicate key in data", `{"data":{"a":1,"a":2}}`, "twice"},
		{"too large", big, "too large"},
	} {
		_, _, err := apns.Build(json.RawMessage(c.in), "i", "p")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if _, _, err := apns.Build(json.RawMessage(big), "i", "p"); !errors.Is(err, apns.ErrTooLarge) {
		t.Errorf("oversize: %v, want ErrTooLarge", err)
	}
}

// Whatever the publisher sends, a body Build accepts is one JSON object
// that fits, carries data.pusher with our ids and no header-like keys.
func FuzzBuild(f *testing.F) {
	for _, s := range []string{`{"aps":{"alert":"Hi"}}`, `{"data":{"a":1},"collapse_id":"x","priority":5,"aps":{"content-available":1}}`, `{"a":"\u003c"}`, `{}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		body, h, err := apns.Build(json.RawMessage(in), "inst", "pub")
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil || len(body) > apns.MaxBody {
			t.Fatalf("body %q: %v", body, err)
		}
		for _, k := range []string{"collapse_id", "expiration", "priority"} {
			if _, ok := m[k]; ok {
				t.Fatalf("body %s keeps %s", body, k)
			}
		}
		var d struct {
			Pusher struct{ PublishID, InstanceID string }
		}
		if json.Unmarshal(m["data"], &d) != nil || d.Pusher.PublishID != "pub" || d.Pusher.InstanceID != "inst" {
			t.Fatalf("body %s: data.pusher", body)
		}
		if len(h.CollapseID) > apns.MaxCollapseID || (h.PushType != "alert" && h.PushType != "background") || (h.Priority != 10 && h.Priority != 5 && h.Priority != 1) {
			t.Fatalf("headers %+v", h)
		}
	})
}
