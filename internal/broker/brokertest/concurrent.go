package brokertest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// tally counts the transitions the results of one channel reported.
type tally struct {
	occupied, vacated int
	added, gone       map[string]int // by user
	versions          []uint64       // of every member change
}

// testConcurrent: 8 goroutines on 2 nodes join and leave at random, then
// leave everything. Every transition is reported once (each first matched
// by a last), the member frames every node gets follow the state changes in
// version order, and nothing is left.
func testConcurrent(t *testing.T, s *suite) {
	ns := s.nodes(t, 2)
	ctx := t.Context()
	chans := []string{"presence-c0", "presence-c1", "presence-c2", "c3"}
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	for _, n := range ns {
		for _, ch := range chans {
			noErr(t, "Listen", n.Listen(ctx, s.chTopic(ch)))
		}
	}
	const workers, ops, sockets = 8, 200, 8
	tallies := make([]map[string]*tally, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			n := ns[g%2]
			mine := make(map[string]*tally)
			for _, ch := range chans {
				mine[ch] = &tally{added: map[string]int{}, gone: map[string]int{}}
			}
			tallies[g] = mine
			joined := make(map[[2]int]bool) // (socket, channel)
			toggle := func(si, ci int) error {
				sock, ch := fmt.Sprintf("%d.%d", g, si), chans[ci]
				user := users[(g*sockets+si)%len(users)]
				tl := mine[ch]
				presence := strings.HasPrefix(ch, "presence-")
				if joined[[2]int{si, ci}] {
					delete(joined, [2]int{si, ci})
					r, err := n.Leave(ctx, broker.LeaveRequest{App: s.app, Channel: ch, SocketID: sock, Presence: presence, UserID: user, MemberRemoved: []byte("removed:" + user)})
					if err != nil {
						return err
					}
					if r.Vacated {
						tl.vacated++
					}
					if r.MemberGone {
						tl.gone[user]++
						tl.versions = append(tl.versions, r.Version)
					}
					return nil
				}
				joined[[2]int{si, ci}] = true
				req := broker.JoinRequest{App: s.app, Channel: ch, SocketID: sock}
				if presence {
					req.Presence, req.Member = true, broker.Member{UserID: user, Info: []byte(`{}`)}
					req.MemberAdded = []byte("added:" + user + ":" + sock)
				}
				r, err := n.Join(ctx, req)
				if err != nil {
					return err
				}
				if r.Occupied {
					tl.occupied++
				}
				if r.NewMember {
					tl.added[user]++
					tl.versions = append(tl.versions, r.Version)
				}
				return nil
			}
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for range ops {
				if err := toggle(rng.IntN(sockets), rng.IntN(len(chans))); err != nil {
					t.Error(err)
					return
				}
			}
			for _, k := range slices.Collect(maps.Keys(joined)) {
				if err := toggle(k[0], k[1]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	if m := s.channels(t, ns[0], ""); len(m) != 0 {
		t.Fatalf("Channels after everyone left = %v", m)
	}
	for _, ch := range chans {
		total := tally{added: map[string]int{}, gone: map[string]int{}}
		for _, mine := range tallies {
			tl := mine[ch]
			total.occupied += tl.occupied
			total.vacated += tl.vacated
			for u, k := range tl.added {
				total.added[u] += k
			}
			for u, k := range tl.gone {
				total.gone[u] += k
			}
			total.versions = append(total.versions, tl.versions...)
		}
		if total.occupied == 0 || total.occupied != total.vacated {
			t.Errorf("%s: occupied %d times, vacated %d times", ch, total.occupied, total.vacated)
		}
		if !maps.Equal(total.added, total.gone) {
			t.Errorf("%s: new members %v, members gone %v", ch, total.added, total.gone)
		}
		if st := s.stats(t, ns[1], ch); st != (broker.ChannelStats{}) {
			t.Errorf("%s: Channel = %+v after everyone left", ch, st)
		}
		if got := s.members(t, ns[1], ch); got != "" {
			t.Errorf("%s: members %q after everyone left", ch, got)
		}
		if !strings.HasPrefix(ch, "presence-") {
			continue
		}
		if len(total.versions) == 0 {
			t.Errorf("%s: no member change reported; nothing to check", ch)
			continue
		}
		slices.Sort(total.versions)
		if len(slices.Compact(slices.Clone(total.versions))) != len(total.versions) {
			t.Errorf("%s: a version was given to two member changes: %v", ch, total.versions)
		}
		var first []broker.Message
		for i, got := range s.settled(t, s.chTopic(ch), ns...) {
			checkMemberFrames(t, fmt.Sprintf("%s node %d", ch, i), got, total.versions)
			if i == 0 {
				first = got
			} else if !slices.EqualFunc(got, first, sameMessage) {
				t.Errorf("%s: nodes got different member events:\n%s\n%s", ch, fmtMessages(first), fmtMessages(got))
			}
		}
	}
}

// checkMemberFrames checks one node's member events of a channel: versions
// increase and are exactly those the results reported; each user's events
// alternate added, removed; added excepts the joining socket.
func checkMemberFrames(t *testing.T, what string, got []broker.Message, versions []uint64) {
	t.Helper()
	if len(got) != len(versions) {
		t.Errorf("%s: %d member events, %d reported", what, len(got), len(versions))
		return
	}
	var seen []uint64
	in := make(map[string]bool)
	for i, m := range got {
		if i > 0 && m.Version <= got[i-1].Version {
			t.Errorf("%s: event %d has version %d after %d", what, i, m.Version, got[i-1].Version)
			return
		}
		seen = append(seen, m.Version)
		kind, rest, _ := strings.Cut(string(m.Frame), ":")
		user, sock, _ := strings.Cut(rest, ":")
		switch {
		case kind == "added" && !in[user] && m.Except == sock:
			in[user] = true
		case kind == "removed" && in[user] && m.Except == "":
			in[user] = false
		default:
			t.Errorf("%s: event %d %s out of place (members before it: %v)", what, i, fmtMessage(m), in)
			return
		}
	}
	if !slices.Equal(seen, versions) {
		t.Errorf("%s: event versions %v, reported %v", what, seen, versions)
	}
}
