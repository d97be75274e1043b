package protocol

import (
	"strings"
	"testing"
)

// TestObjectMembers: unvalidated input is walked within bounds, and only
// an object closed after well-formed members is reported whole.
func TestObjectMembers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		members string // key=value;...
		ok      bool
	}{
		{`{"a":1,"b":"x","c":{"d":[1,"}"]}}`, `"a"=1;"b"="x";"c"={"d":[1,"}"]};`, true},
		{` { } `, ``, true},
		{`{"a":"x"`, `"a"="x";`, false},
		{`{"a":"`, `"a"=";`, false},
		{`{"a":{"b":1}`, `"a"={"b":1};`, false},
		{`{"a"}`, ``, false},
		{`{"a":1,}`, `"a"=1;`, false},
		{`{`, ``, false},
		{`[]`, ``, false},
		{``, ``, false},
	} {
		var got strings.Builder
		ok := ObjectMembers([]byte(tc.in), func(k, v []byte) { got.WriteString(string(k) + "=" + string(v) + ";") })
		if ok != tc.ok || got.String() != tc.members {
			t.Errorf("ObjectMembers(%q) = %v, members %q; want %v, %q", tc.in, ok, got.String(), tc.ok, tc.members)
		}
	}
}
