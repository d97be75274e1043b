package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/webpush"
)

type vectors struct {
	Constants struct {
		InstanceID string `json:"instanceId"`
	} `json:"constants"`
	ServerSdkNode struct {
		Cases []struct {
			Name     string `json:"name"`
			Requests []struct {
				Method string  `json:"method"`
				Path   string  `json:"path"`
				Body   *string `json:"body"`
			} `json:"requests"`
		} `json:"cases"`
	} `json:"serverSdkNode"`
	WebPush struct {
		Go struct {
			ExpectedPlaintext string `json:"expectedPlaintext"`
		} `json:"webpushGoDecryptVector"`
	} `json:"webPush"`
}

func load(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile("../../../testdata/beams-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ServerSdkNode.Cases) == 0 || v.WebPush.Go.ExpectedPlaintext == "" {
		t.Fatal("beams-vectors.json: unexpected shape")
	}
	return &v
}

func target(path string) Target {
	if strings.HasSuffix(path, "/publishes/users") {
		return ToUsers
	}
	return ToInterests
}

// Every publish the node SDK sends (captured) is accepted; the first one's
// web message is the one the webpush-go vector carries, byte for byte.
func TestNodeSDKPublishes(t *testing.T) {
	v := load(t)
	n := 0
	for _, c := range v.ServerSdkNode.Cases {
		for _, rq := range c.Requests {
			if rq.Method != "POST" || rq.Body == nil || strings.Contains(c.Name, "error") {
				continue
			}
			n++
			r, perr := Parse([]byte(*rq.Body), target(rq.Path))
			if perr != nil {
				t.Errorf("%s: %v", c.Name, perr)
				continue
			}
			if c.Name == "publishToInterests" {
				if strings.Join(r.Interests, ",") != "hello,donuts" || r.WebhookURL != "https://example.com/beams-webhook" || r.APNs == nil || r.FCM == nil || r.Web.TTL != MaxWebTTL {
					t.Errorf("parsed %+v web %+v", r, r.Web)
				}
				got, err := r.WebPlaintext(v.Constants.InstanceID, "pubid-00000000-0000-0000-0000-00000000abcd")
				if err != nil || string(got) != v.WebPush.Go.ExpectedPlaintext {
					t.Errorf("web plaintext %v\n got %s\nwant %s", err, got, v.WebPush.Go.ExpectedPlaintext)
				}
			}
			if c.Name == "publishToInterests_overrides_interests_key" && strings.Join(r.Interests, ",") != "a" {
				t.Errorf("the SDK's interests key must win: %v", r.Interests)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d publishes in the vectors", n)
	}
}

func TestParseRefusals(t *testing.T) {
	web := `"web":{"notification":{"title":"t"}}`
	interests := func(n int) string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("%q", fmt.Sprint("i", i))
		}
		return strings.Join(l, ",")
	}
	cases := []struct {
		name   string
		t      Target
		body   string
		status int
		want   string
	}{
		{"not JSON", ToInterests, `hello`, 400, "Failed to read body as a JSON object."},
		{"a JSON array", ToInterests, `[1]`, 400, "Failed to read body as a JSON object."},
		{"two objects", ToInterests, `{} {}`, 400, "Failed to read body as a JSON object."},
		{"no interests", ToInterests, `{` + web + `}`, 422, "interests is required"},
		{"empty interests", ToInterests, `{"interests":[],` + web + `}`, 422, "1 to 100 entries (got 0)"},
		{"101 interests", ToInterests, `{"interests":[` + interests(101) + `],` + web + `}`, 422, "(got 101)"},
		{"interests not strings", ToInterests, `{"interests":[1],` + web + `}`, 422, "list of strings"},
		{"bad interest character", ToInterests, `{"interests":["a:b"],` + web + `}`, 422, `Interest "a:b" is not valid`},
		{"empty interest", ToInterests, `{"interests":[""],` + web + `}`, 422, "is not valid"},
		{"interest of 165", ToInterests, `{"interests":["` + strings.Repeat("a", 165) + `"],` + web + `}`, 422, "is not valid"},
		{"users on the interests route", ToInterests, `{"interests":["a"],"users":["u"],` + web + `}`, 422, "cannot have users"},
		{"no users", ToUsers, `{` + web + `}`, 422, "users is required"},
		{"1001 users", ToUsers, `{"users":[` + interests(1001) + `],` + web + `}`, 422, "(got 1001)"},
		{"user of 165", ToUsers, `{"users":["` + strings.Repeat("ü", 165) + `"],` + web + `}`, 422, "is not valid"},
		{"interests on the users route", ToUsers, `{"users":["u"],"interests":["a"],` + web + `}`, 422, "cannot have interests"},
		{"no payload", ToInterests, `{"interests":["a"]}`, 422, "at least one of the apns, fcm and web"},
		{"apns not an object", ToInterests, `{"interests":["a"],"apns":"x"}`, 422, "apns must be a JSON object"},
		{"web null", ToInterests, `{"interests":["a"],"web":null}`, 422, "web must be an object"},
		{"web ttl too long", ToInterests, `{"interests":["a"],"web":{"time_to_live":2419201}}`, 422, "time_to_live"},
		{"web ttl negative", ToInterests, `{"interests":["a"],"web":{"time_to_live":-1}}`, 422, "time_to_live"},
		{"web ttl fractional", ToInterests, `{"interests":["a"],"web":{"time_to_live":1.5}}`, 422, "time_to_live"},
		{"web title not a string", ToInterests, `{"interests":["a"],"web":{"notification":{"title":1}}}`, 422, "web.notification.title"},
		{"web hide not a bool", ToInterests, `{"interests":["a"],"web":{"notification":{"hide_notification_if_site_has_focus":"yes"}}}`, 422, "hide_notification_if_site_has_focus"},
		{"web data with pusher", ToInterests, `{"interests":["a"],"web":{"data":{"pusher":1}}}`, 422, `"pusher"`},
		{"webhookUrl relative", ToInterests, `{"interests":["a"],"webhookUrl":"/hook",` + web + `}`, 422, "webhookUrl"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.body), c.t)
		if err == nil || err.Status != c.status || !strings.Contains(err.Description, c.want) || err.Title == "" {
			t.Errorf("%s: %v, want %d with %q", c.name, err, c.status, c.want)
		}
	}
}

func TestWebPlaintext(t *testing.T) {
	cases := []struct{ body, want string }{
		// no notification: an empty object still (the service worker reads it)
		{`{"interests":["a"],"web":{"data":{"x":[1,2]}}}`,
			`{"notification":{},"data":{"x":[1,2],"pusher":{"instanceId":"i","publishId":"p","hasDisplayableContent":false,"hasData":true}}}`},
		// no data; white space compacted; the publisher's key order kept
		{`{"interests":["a"],"web":{"notification":{ "body" : "b", "title":"" }}}`,
			`{"notification":{"body":"b","title":""},"data":{"pusher":{"instanceId":"i","publishId":"p","hasDisplayableContent":true,"hasData":false}}}`},
		{`{"interests":["a"],"web":{"data":{}}}`,
			`{"notification":{},"data":{"pusher":{"instanceId":"i","publishId":"p","hasDisplayableContent":false,"hasData":false}}}`},
	}
	for _, c := range cases {
		r, err := Parse([]byte(c.body), ToInterests)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		got, gerr := r.WebPlaintext("i", "p")
		if gerr != nil || string(got) != c.want {
			t.Errorf("%s: %v\n got %s\nwant %s", c.body, gerr, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("not JSON: %s", got)
		}
	}
	big := `{"interests":["a"],"web":{"data":{"x":"` + strings.Repeat("y", webpush.MaxPlaintext) + `"}}}`
	r, perr := Parse([]byte(big), ToInterests)
	if perr != nil {
		t.Fatal(perr)
	}
	if _, err := r.WebPlaintext("i", "p"); !errors.Is(err, webpush.ErrTooLarge) {
		t.Fatalf("a message over one push: %v", err)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^pubid-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("id %q (repeat %v)", id, seen[id])
		}
		seen[id] = true
	}
}
