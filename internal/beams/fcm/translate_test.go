package fcm_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/beams/fcm"
)

const testInstance = "00000000-0000-0000-0000-000000000001"

type vectors struct {
	ProviderFakes struct {
		GoogleOAuthToken struct {
			AssertionClaims map[string]any `json:"assertionClaims"`
			AssertionHeader map[string]any `json:"assertionHeader"`
			ContentType     string         `json:"contentType"`
			GrantType       string         `json:"grant_type"`
		} `json:"googleOAuthToken"`
		FCMV1 struct {
			Authorization  string `json:"authorization"`
			Body           string `json:"body"`
			ContentType    string `json:"contentType"`
			Method         string `json:"method"`
			Path           string `json:"path"`
			ResponseBody   string `json:"responseBody"`
			ResponseStatus int    `json:"responseStatus"`
		} `json:"fcmV1"`
	} `json:"providerFakes"`
}

func loadVectors(t *testing.T) *vectors {
	t.Helper()
	raw, err := os.ReadFile("../../../testdata/beams-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.ProviderFakes.FCMV1.Body == "" || v.ProviderFakes.GoogleOAuthToken.AssertionClaims == nil {
		t.Fatal("beams-vectors.json: unexpected shape")
	}
	return &v
}

// The publish behind providerFakes.fcmV1.body.
const vectorFCM = `{"notification":{"title":"Hello","body":"Hello, world!"},"time_to_live":3600,"collapse_key":"c1","priority":"high"}`

func TestTranslateVector(t *testing.T) {
	v := loadVectors(t)
	got, err := fcm.Translate(json.RawMessage(vectorFCM), "fcm-registration-token-1", testInstance, "pubid-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != v.ProviderFakes.FCMV1.Body {
		t.Fatalf("body\n got %s\nwant %s", got, v.ProviderFakes.FCMV1.Body)
	}
	// Once per publish, without a token: the same bytes but the token.
	tmpl, err := fcm.Translate(json.RawMessage(vectorFCM), "", testInstance, "pubid-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(v.ProviderFakes.FCMV1.Body, `"token":"fcm-registration-token-1",`, "", 1); string(tmpl) != want {
		t.Fatalf("template\n got %s\nwant %s", tmpl, want)
	}
}

func TestTranslate(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{
			// Data values must be strings: non-strings become their JSON
			// text; the publisher's key order is kept, pusher comes last.
			name: "data only",
			in:   `{"data":{"s":"x<&>","n":1.50,"b":true,"o":{"a":[1, "<b>"]},"z":null}}`,
			want: `{"message":{"token":"tok","data":{"s":"x<&>","n":"1.50","b":"true","o":"{\"a\":[1,\"<b>\"]}","z":"null","pusher":"{\"instanceId\":\"` + testInstance + `\",\"publishId\":\"pubid-2\",\"hasDisplayableContent\":false,\"hasData\":true}"}}}`,
		},
		{
			// Everything but title and body goes under android.notification.
			name: "android notification",
			in: `{"notification":{"title":"T","icon":"ic","sound":"default","tag":"t1","color":"#ff0000","click_action":"OPEN",` +
				`"body_loc_key":"BK","body_loc_args":["a",1],"title_loc_key":"TK","title_loc_args":"[\"x\"]","android_channel_id":"news",` +
				`"image":"https://example.com/i.png","unknown":"ignored"},"priority":"normal","time_to_live":0}`,
			want: `{"message":{"token":"tok","notification":{"title":"T","image":"https://example.com/i.png"},` +
				`"data":{"pusher":"{\"instanceId\":\"` + testInstance + `\",\"publishId\":\"pubid-2\",\"hasDisplayableContent\":true,\"hasData\":false}"},` +
				`"android":{"priority":"NORMAL","ttl":"0s","notification":{"icon":"ic","sound":"default","tag":"t1","color":"#ff0000","click_action":"OPEN",` +
				`"body_loc_key":"BK","body_loc_args":["a","1"],"title_loc_key":"TK","title_loc_args":["x"],"channel_id":"news"}}}}`,
		},
		{
			// An empty title is kept but is not displayable content; nulls are absent.
			name: "empty",
			in:   `{"notification":{"title":"","body":null},"data":{},"collapse_key":null}`,
			want: `{"message":{"token":"tok","notification":{"title":""},"data":{"pusher":"{\"instanceId\":\"` + testInstance + `\",\"publishId\":\"pubid-2\",\"hasDisplayableContent\":false,\"hasData\":false}"}}}`,
		},
	} {
		got, err := fcm.Translate(json.RawMessage(c.in), "tok", testInstance, "pubid-2")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.name, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: not JSON", c.name)
		}
	}
}

func TestTranslateRefusals(t *testing.T) {
	for _, c := range []struct{ in, says string }{
		{`{"data":{"pusher":{"x":1}}}`, `"pusher"`},
		{`{"data":{"a":"1","pusher":"x"}}`, `"pusher"`},
		{`{"data":{"from":"x"}}`, `"from"`},
		{`{"data":{"message_type":"x"}}`, `"message_type"`},
		{`{"data":{"google.sent_time":"x"}}`, `"google.sent_time"`},
		{`{"data":{"gcm.n.e":"1"}}`, `"gcm.n.e"`},
		{`{"data":{"a":"1","a":"2"}}`, "twice"},
		{`{"data":["a"]}`, "fcm.data must be an object"},
		{`{"data":"a"}`, "fcm.data must be an object"},
		{`{"notification":"hi"}`, "fcm.notification must be an object"},
		{`{"notification":{"title":1}}`, "fcm.notification.title must be a string"},
		{`{"notification":{"android_channel_id":true}}`, "fcm.notification.android_channel_id must be a string"},
		{`{"notification":{"body_loc_args":{"a":1}}}`, "fcm.notification.body_loc_args must be a list"},
		{`{"time_to_live":-1}`, "fcm.time_to_live"},
		{`{"time_to_live":1.5}`, "fcm.time_to_live"},
		{`{"time_to_live":"60"}`, "fcm.time_to_live"},
		{`{"time_to_live":2419201}`, "fcm.time_to_live"},
		{`{"priority":"urgent"}`, "fcm.priority"},
		{`{"priority":10}`, "fcm.priority must be a string"},
		{`{"collapse_key":5}`, "fcm.collapse_key must be a string"},
		{`[]`, "fcm must be a JSON object"},
		{`null`, "fcm must be a JSON object"},
		{`{`, "fcm must be a JSON object"},
	} {
		_, err := fcm.Translate(json.RawMessage(c.in), "tok", testInstance, "pubid-3")
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one saying %s", c.in, err, c.says)
		}
	}
}

// The data limit counts keys and values, Beams' pusher entry included.
func TestTranslateDataLimit(t *testing.T) {
	meta := `{"instanceId":"i","publishId":"p","hasDisplayableContent":false,"hasData":true}`
	fits := fcm.MaxData - len("k") - len("pusher") - len(meta)
	for _, c := range []struct {
		n    int
		want error
	}{{fits, nil}, {fits + 1, fcm.ErrTooLarge}} {
		in, _ := json.Marshal(map[string]any{"data": map[string]string{"k": strings.Repeat("v", c.n)}})
		_, err := fcm.Translate(in, "tok", "i", "p")
		if !errors.Is(err, c.want) {
			t.Errorf("value of %d bytes: %v, want %v", c.n, err, c.want)
		}
	}
}
