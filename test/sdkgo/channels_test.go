package sdkgo_test

import (
	"slices"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"
)

// joinPresence subscribes a new connection on key to channel as userID,
// authorized by the SDK s.
func joinPresence(t *testing.T, s *pusher.Client, key, channel, userID string) *wsClient {
	t.Helper()
	c := dial(t, key)
	auth, err := s.AuthorizePresenceChannel(authParams(c.socketID, channel), pusher.MemberData{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe(channel, auth)
	return c
}

func TestChannels(t *testing.T) {
	t.Parallel()
	prefix := unique(t, "chans-")
	pub := prefix + "-pub"
	pres := "presence-" + prefix
	c := dial(t, appKey)
	c.subscribe(pub, nil)
	joinPresence(t, sdk(), appKey, pres, "a")
	joinPresence(t, sdk(), appKey, pres, "b")

	all, err := sdk().Channels(pusher.ChannelsParams{})
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	for _, ch := range []string{pub, pres} {
		if _, ok := all.Channels[ch]; !ok {
			t.Errorf("Channels() lacks %s", ch)
		}
	}
	for name := range all.Channels {
		if strings.HasPrefix(name, "#") {
			t.Errorf("Channels() lists the internal channel %s", name)
		}
	}

	filter, info := pres, "user_count"
	list, err := sdk().Channels(pusher.ChannelsParams{FilterByPrefix: &filter, Info: &info})
	if err != nil {
		t.Fatalf("Channels(presence prefix, user_count): %v", err)
	}
	if len(list.Channels) != 1 || list.Channels[pres].UserCount != 2 {
		t.Errorf("Channels(presence prefix, user_count) = %+v, want {%s: 2 users}", list.Channels, pres)
	}

	filter = prefix
	if _, err := sdk().Channels(pusher.ChannelsParams{FilterByPrefix: &filter, Info: &info}); err == nil {
		t.Error("user_count without a presence- prefix: want the API's 400 as an error")
	}

	none := unique(t, "empty-")
	empty, err := sdk().Channels(pusher.ChannelsParams{FilterByPrefix: &none})
	if err != nil || empty.Channels == nil || len(empty.Channels) != 0 {
		t.Errorf("Channels(no match) = %+v, %v; want an empty map", empty, err)
	}
}

func TestChannelInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		key       string
		sdk       func() *pusher.Client
		wantCount bool
	}{
		{"enable_subscription_count", countAppKey, countingSDK, true},
		{"without enable_subscription_count", appKey, sdk, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, pres := unique(t, "info-"), unique(t, "presence-info-")
			for range 2 {
				dial(t, tc.key).subscribe(pub, nil)
			}
			joinPresence(t, tc.sdk(), tc.key, pres, "same-user")
			joinPresence(t, tc.sdk(), tc.key, pres, "same-user") // one user, two subscriptions

			subs := "subscription_count"
			got, err := tc.sdk().Channel(pub, pusher.ChannelParams{Info: &subs})
			if err != nil {
				t.Fatalf("Channel(%s, subscription_count): %v", pub, err)
			}
			want := pusher.Channel{Name: pub, Occupied: true}
			if tc.wantCount {
				want.SubscriptionCount = 2
			}
			if *got != want {
				t.Errorf("Channel(%s, subscription_count) = %+v, want %+v", pub, *got, want)
			}

			both := "user_count,subscription_count"
			got, err = tc.sdk().Channel(pres, pusher.ChannelParams{Info: &both})
			if err != nil {
				t.Fatalf("Channel(%s, user_count,subscription_count): %v", pres, err)
			}
			want = pusher.Channel{Name: pres, Occupied: true, UserCount: 1}
			if tc.wantCount {
				want.SubscriptionCount = 2
			}
			if *got != want {
				t.Errorf("Channel(%s, %s) = %+v, want %+v", pres, both, *got, want)
			}

			users := "user_count"
			if _, err := tc.sdk().Channel(pub, pusher.ChannelParams{Info: &users}); err == nil {
				t.Error("user_count on a public channel: want the API's 400 as an error")
			}

			vacant := unique(t, "vacant-")
			got, err = tc.sdk().Channel(vacant, pusher.ChannelParams{})
			if err != nil || *got != (pusher.Channel{Name: vacant}) {
				t.Errorf("Channel(vacant) = %+v, %v; want unoccupied", got, err)
			}
		})
	}
}

func TestGetChannelUsers(t *testing.T) {
	t.Parallel()
	ch := unique(t, "presence-users-")
	for _, u := range []string{"carol", "alice", "bob", "alice"} {
		joinPresence(t, sdk(), appKey, ch, u)
	}
	res, err := sdk().GetChannelUsers(ch)
	if err != nil {
		t.Fatalf("GetChannelUsers: %v", err)
	}
	var ids []string
	for _, u := range res.List {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	if want := []string{"alice", "bob", "carol"}; !slices.Equal(ids, want) {
		t.Errorf("users = %v, want %v (one entry per user id)", ids, want)
	}

	if _, err := sdk().GetChannelUsers(unique(t, "not-presence-")); err == nil {
		t.Error("GetChannelUsers on a public channel: want the API's 400 as an error")
	}
}
