package protocol

import (
	"strings"
	"testing"
)

func TestParseChannelData(t *testing.T) {
	tests := []struct {
		in      string
		id      string
		info    string // "" means nil
		wantErr string
	}{
		{`{"user_id":"10","user_info":{"name":"Mr. Channels"}}`, "10", `{"name":"Mr. Channels"}`, ""},
		{`{"user_id":"10"}`, "10", "", ""},
		{`{"user_id":10,"user_info":{"name":"Numeric id"}}`, "10", `{"name":"Numeric id"}`, ""},
		{`{"user_id":-7}`, "-7", "", ""},
		{`{"user_id":0}`, "0", "", ""},
		{`{"user_id":-0}`, "0", "", ""},
		{`{"user_id":10.0}`, "10", "", ""},
		{`{"user_id":1e1}`, "10", "", ""},
		{`{"user_id":1E+2}`, "100", "", ""},
		{`{"user_id":9007199254740992}`, "9007199254740992", "", ""},
		{`{"user_id":"a\"b\u00e9"}`, "a\"b\u00e9", "", ""},
		{`{"user_info":{"a":1},"user_id":"u"}`, "u", `{"a":1}`, ""},
		{"{ \"user_id\" : \"u\" , \"user_info\" : { \"a\" : [ 1 , 2 ] } }", "u", `{"a":[1,2]}`, ""},
		{`{"user_id":"u","user_info":"just text"}`, "u", `"just text"`, ""},
		{`{"user_id":"u","user_info":[1]}`, "u", `[1]`, ""},
		{`{"user_id":"u","user_info":null}`, "u", "", ""},
		{`{"user_id":"u","extra":true}`, "u", "", ""},

		{`{"user_id":1.5}`, "", "", "string or an integer"},
		{`{"user_id":1e-1}`, "", "", "string or an integer"},
		{`{"user_id":9007199254740993}`, "", "", "string or an integer"},
		{`{"user_id":1e300}`, "", "", "string or an integer"},
		{`{"user_id":99999999999999999999999}`, "", "", "string or an integer"},
		{`{"user_id":true}`, "", "", "string or an integer"},
		{`{"user_id":{"id":1}}`, "", "", "string or an integer"},
		{`{"user_id":["1"]}`, "", "", "string or an integer"},
		{`{"user_id":null}`, "", "", "user_id"},
		{`{"user_id":""}`, "", "", "must not be empty"},
		{`{"user_info":{}}`, "", "", "user_id"},
		{`{"USER_ID":"1"}`, "", "", "user_id"},
		{`{}`, "", "", "user_id"},
		{`[]`, "", "", "JSON object"},
		{`"10"`, "", "", "JSON object"},
		{``, "", "", "not valid JSON"},
		{`{"user_id":"1"`, "", "", "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseChannelData(tc.in)
			if tc.wantErr != "" {
				wantProtoErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.UserID != tc.id || string(m.UserInfo) != tc.info || (tc.info == "") != (m.UserInfo == nil) {
				t.Fatalf("got %q / %q, want %q / %q", m.UserID, m.UserInfo, tc.id, tc.info)
			}
		})
	}
}

func TestParseUserData(t *testing.T) {
	full := `{"id":"12345","user_info":{"name":"John Smith"},"watchlist":["another_id_1","another_id_2"]}`
	u, err := ParseUserData(full)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "12345" || string(u.UserInfo) != `{"name":"John Smith"}` || strings.Join(u.Watchlist, "|") != "another_id_1|another_id_2" {
		t.Fatalf("got %+v", u)
	}
	u, err = ParseUserData(`{"id":"12345"}`)
	if err != nil || u.ID != "12345" || u.UserInfo != nil || u.Watchlist != nil {
		t.Fatalf("minimal: %+v, %v", u, err)
	}
	u, err = ParseUserData(`{"id":"1","user_info":null,"watchlist":null,"x":1}`)
	if err != nil || u.UserInfo != nil || u.Watchlist != nil {
		t.Fatalf("nulls: %+v, %v", u, err)
	}
	u, err = ParseUserData(`{"id":"1","watchlist":[]}`)
	if err != nil || u.Watchlist == nil || len(u.Watchlist) != 0 {
		t.Fatalf("empty watchlist: %+v, %v", u, err)
	}

	bad := map[string]string{
		``:                                  "not valid JSON",
		`[]`:                                "JSON object",
		`{}`:                                "contain an id",
		`{"id":null}`:                       "contain an id",
		`{"id":""}`:                         "non-empty string",
		`{"id":12345}`:                      "non-empty string",
		`{"id":"1","user_info":"x"}`:        "user_info must be a JSON object",
		`{"id":"1","user_info":[1]}`:        "user_info must be a JSON object",
		`{"id":"1","watchlist":"a"}`:        "watchlist must be an array of strings",
		`{"id":"1","watchlist":{"a":"b"}}`:  "watchlist must be an array of strings",
		`{"id":"1","watchlist":["a",1]}`:    "watchlist must be an array of strings",
		`{"id":"1","watchlist":["a",null]}`: "watchlist must be an array of strings",
	}
	for in, msg := range bad {
		_, err := ParseUserData(in)
		wantProtoErr(t, err, msg)
	}
}
