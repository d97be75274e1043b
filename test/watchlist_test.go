package test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/signing"
)

// watchingUser connects and signs in as id watching list, and checks that
// signin_success is followed by the initial watchlist_events.
func watchingUser(t *testing.T, s *testServer, id string, list []string, online, offline []string) *wsClient {
	t.Helper()
	c := connect(t, s)
	ud, _ := json.Marshal(map[string]any{"id": id, "watchlist": list})
	c.signin(string(ud))
	c.expectWatchlist(online, offline)
	return c
}

func TestWatchlist(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	b1 := connectAs(t, s, "b")

	a := watchingUser(t, s, "a", []string{"b", "c"}, []string{"b"}, []string{"c"})
	a.expectQuiet("one watchlist_events after sign-in")
	b1.expectQuiet("b watches nobody")

	// c comes online.
	c1 := connectAs(t, s, "c")
	a.expectWatchlist([]string{"c"}, nil)
	// A second connection of c changes nothing.
	c2 := connectAs(t, s, "c")
	a.expectQuiet("a second connection of an online user")
	// One of c's connections leaves: c is still online.
	c1.close()
	waitConnections(t, s, 3) // b1, a, c2: c1's departure is fully processed
	c2.ping()
	a.expectQuiet("c still has a connection")
	// The last one leaves: offline.
	c2.close()
	a.expectWatchlist(nil, []string{"c"})
	// b goes offline too.
	b1.close()
	a.expectWatchlist(nil, []string{"b"})
	a.expectQuiet("one event per change")

	// Someone not on the watchlist is of no interest.
	connectAs(t, s, "d")
	a.expectQuiet("d is not watched")

	// A watcher that signs in later sees the current state.
	connectAs(t, s, "b")
	a.expectWatchlist([]string{"b"}, nil)
	watchingUser(t, s, "e", []string{"a", "b", "c", "zz"}, []string{"a", "b"}, []string{"c", "zz"})
	a.expectQuiet("e is not watched by a")
}

func TestWatchlistGroupsOmittedWhenEmpty(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	t.Run("all offline", func(t *testing.T) {
		watchingUser(t, s.with(t), "w1", []string{"x", "y"}, nil, []string{"x", "y"})
	})
	t.Run("all online", func(t *testing.T) {
		s := s.with(t)
		connectAs(t, s, "p")
		connectAs(t, s, "q")
		watchingUser(t, s, "w2", []string{"p", "q"}, []string{"p", "q"}, nil)
	})
	t.Run("duplicates watched once", func(t *testing.T) {
		s := s.with(t)
		connectAs(t, s, "p3")
		watchingUser(t, s, "w3", []string{"p3", "p3", "r", "r"}, []string{"p3"}, []string{"r"})
	})
}

// TestWatchlistTwoWatchers: every watching connection is told, and a
// watcher's own status change reaches the users watching it.
func TestWatchlistTwoWatchers(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := watchingUser(t, s, "a", []string{"b"}, nil, []string{"b"})
	a2 := connect(t, s) // a's second tab, same watchlist
	a2.signin(`{"id":"a","watchlist":["b"]}`)
	a2.expectWatchlist(nil, []string{"b"})
	b := watchingUser(t, s, "b", []string{"a"}, []string{"a"}, nil)
	a.expectWatchlist([]string{"b"}, nil)
	a2.expectWatchlist([]string{"b"}, nil)

	a.close()
	b.expectQuiet("a still has a connection")
	a2.close()
	b.expectWatchlist(nil, []string{"a"})
}

// TestWatchlistTerminate: terminate_connections takes the user offline.
func TestWatchlistTerminate(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	connectAs(t, s, "b")
	a := watchingUser(t, s, "a", []string{"b"}, []string{"b"}, nil)
	expectJSON(t, s.terminateUser("b"), `{}`)
	a.expectWatchlist(nil, []string{"b"})
	a.ping()
}

// TestWatchlistLimit: past limits.max_watchlist_size (default 100) the
// sign-in succeeds, a pusher:error 4302 follows, and only the first 100 ids
// are watched.
func TestWatchlistLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	list := make([]string, 102)
	for i := range list {
		list[i] = fmt.Sprintf("w%d", i)
	}
	connectAs(t, s, "w0")   // one of the first 100, online already
	connectAs(t, s, "w101") // past the limit, online already

	a := connect(t, s)
	ud, _ := json.Marshal(map[string]any{"id": "a", "watchlist": list})
	a.sendSignin(string(ud))
	fs := a.syncFrames()
	if len(fs) == 0 {
		t.Fatal("no answer to the sign-in")
	}
	checkSigninSuccess(t, fs[0], string(ud))
	var errs, lists []frame
	for _, f := range fs[1:] {
		switch f.Event {
		case "pusher:error":
			errs = append(errs, f)
		case "pusher_internal:watchlist_events":
			lists = append(lists, f)
		default:
			t.Errorf("unexpected frame after signin_success: %s", f)
		}
	}
	expectErrorCode(t, errs, 4302)
	if len(lists) != 1 {
		t.Fatalf("want one watchlist_events after sign-in, got %v", lists)
	}
	checkWatchlist(t, lists[0], []string{"w0"}, list[1:100])

	// The 100th id is watched, the 101st and 102nd are not.
	connectAs(t, s, "w99")
	a.expectWatchlist([]string{"w99"}, nil)
	connectAs(t, s, "w100")
	a.expectQuiet("w100 is past the watchlist limit")
	a.ping()
}

// TestWatchlistExactlyAtLimit: 100 ids are fine, no 4302.
func TestWatchlistExactlyAtLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	list := make([]string, 100)
	for i := range list {
		list[i] = fmt.Sprintf("v%d", i)
	}
	a := watchingUser(t, s, "a", list, nil, list)
	a.expectQuiet("no 4302 at exactly the limit")
	connectAs(t, s, "v99")
	a.expectWatchlist([]string{"v99"}, nil)
}

func TestWatchlistConfiguredLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Limits.MaxWatchlistSize = 2 })
	a := connect(t, s)
	const ud = `{"id":"a","watchlist":["x","y","z"]}`
	a.sendSignin(ud)
	a.expectSigninSuccess(ud)
	fs := a.syncFrames()
	var errs []frame
	lists := 0
	for _, f := range fs {
		if f.Event == "pusher:error" {
			errs = append(errs, f)
		} else {
			checkWatchlist(t, f, nil, []string{"x", "y"})
			lists++
		}
	}
	expectErrorCode(t, errs, 4302)
	if lists != 1 {
		t.Errorf("want one watchlist_events after sign-in, got %d: %v", lists, fs)
	}
	connectAs(t, s, "z")
	a.expectQuiet("z is past the configured limit of 2")
	connectAs(t, s, "y")
	a.expectWatchlist([]string{"y"}, nil)
}

// TestWatchlistConcurrentSigninAndClose: while connections of b sign in and
// close concurrently, the watcher sees online and offline strictly
// alternating, and the last event matches b's final state.
func TestWatchlistConcurrentSigninAndClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	w := watchingUser(t, s, "w", []string{"b"}, nil, []string{"b"})

	const n = 20
	first := make([]*wsClient, n)
	for i := range first {
		first[i] = connectAs(t, s, "b")
	}
	w.expectWatchlist([]string{"b"}, nil)
	second := make([]*wsClient, n)
	frames := make([]string, n)
	for i := range second {
		second[i] = connect(t, s)
		ud := `{"id":"b"}`
		frames[i] = signinJSON(signing.AuthenticateUser(appKey, appSecret, second[i].socketID, ud), ud)
	}

	// Close the first group while the second signs in.
	var wg sync.WaitGroup
	writeErrs := make(chan error, n)
	for i := range n {
		wg.Add(2)
		go func() { defer wg.Done(); first[i].close() }()
		go func() {
			defer wg.Done()
			c := second[i]
			c.wmu.Lock()
			defer c.wmu.Unlock()
			if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frames[i])); err != nil {
				writeErrs <- fmt.Errorf("sign-in of second[%d]: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatal(err)
	}
	for _, c := range second {
		c.expectSigninSuccess(`{"id":"b"}`)
	}
	waitConnections(t, s, 1+n)

	// b may have gone offline and online again in between, never twice the same way.
	last := "online"
	for _, f := range w.syncFrames() {
		if f.Event != "pusher_internal:watchlist_events" {
			t.Fatalf("watcher: unexpected frame %s", f)
		}
		var d struct{ Events []watchGroup }
		f.dataJSON(t, &d)
		if len(d.Events) != 1 {
			t.Fatalf("want one group per change, got %s", f)
		}
		if d.Events[0].Name == last {
			t.Errorf("two %q events in a row: %s", last, f)
		}
		last = d.Events[0].Name
		if last == "online" {
			checkWatchlist(t, f, []string{"b"}, nil)
		} else {
			checkWatchlist(t, f, nil, []string{"b"})
		}
	}
	if last != "online" {
		t.Errorf("b has %d connections; the watcher's last event says %s", n, last)
	}

	for _, c := range second {
		c.close()
	}
	w.expectWatchlist(nil, []string{"b"})
	waitConnections(t, s, 1)
	w.expectQuiet("one offline event")
}
