package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDedupe(t *testing.T) {
	many := func(n int, dupAt ...int) []string {
		var out []string
		for i := range n {
			out = append(out, "c"+string(rune('A'+i%40))+string(rune('a'+i/40)))
		}
		for _, i := range dupAt {
			out = append(out[:i+1], out[i:]...) // out[i] twice
		}
		return out
	}
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"a", "b", "a", "c", "b", "d"}, []string{"a", "b", "c", "d"}},
		{many(20), many(20)},
		{many(20, 3, 15), many(20)},
		{many(100, 0, 50, 99), many(100)},
		{many(10, 0, 5), many(10)},
	} {
		in := append([]string(nil), tc.in...)
		got := dedupe(in)
		if !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("dedupe(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("dedupe changed its input: %v, was %v", in, tc.in)
		}
	}
}

// TestChannelAttrsJSON: the typed info answer encodes as the maps it
// replaced did, for every combination of asked-for attributes.
func TestChannelAttrsJSON(t *testing.T) {
	for _, sub := range []*int{nil, new(int), func() *int { n := 7; return &n }()} {
		for _, users := range []*int{nil, new(int), func() *int { n := 3; return &n }()} {
			m := map[string]any{}
			if sub != nil {
				m["subscription_count"] = *sub
			}
			if users != nil {
				m["user_count"] = *users
			}
			attrs := channelAttrs{SubscriptionCount: sub, UserCount: users}
			got, _ := json.Marshal(struct {
				Channels map[string]channelAttrs `json:"channels"`
			}{map[string]channelAttrs{"b": attrs, "a-;=@,.": attrs}})
			want, _ := json.Marshal(map[string]any{"channels": map[string]any{"b": m, "a-;=@,.": m}})
			if string(got) != string(want) {
				t.Errorf("events: %s, want %s", got, want)
			}
			got, _ = json.Marshal(struct {
				Batch []channelAttrs `json:"batch"`
			}{[]channelAttrs{{}, attrs}})
			want, _ = json.Marshal(map[string]any{"batch": []map[string]any{{}, m}})
			if string(got) != string(want) {
				t.Errorf("batch: %s, want %s", got, want)
			}
		}
	}
}
