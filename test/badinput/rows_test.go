package badinput

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// wsRow is one bad input on a connection that must stay open, and its
// exact answer.
type wsRow struct {
	name  string
	send  []byte                  // bytes written as they are (any frames), or
	text  string                  // one text frame, or
	build func(sid string) string // one text frame built for the connection's socket id
	// want is the answer, in order, before the pong of a pusher:ping sent
	// right after the row; "{sid}" stands for the socket id. nil: no answer.
	want []string
	// relayed is what the group's peer connection must receive (client
	// events); nil: nothing.
	relayed []string
	skip    string // why the row is skipped: the server answers it wrongly
}

func (r wsRow) bytes(sid string) []byte {
	switch {
	case r.send != nil:
		return r.send
	case r.build != nil:
		return text(r.build(sid))
	}
	return text(r.text)
}

func withSID(fs []string, sid string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = strings.ReplaceAll(f, "{sid}", sid)
	}
	return out
}

// openGroup runs rows one after another on one connection, prepared by
// setup. A row that breaks the connection fails, and the next row gets a
// fresh, freshly prepared one. peer, when not nil, makes a second
// connection that must receive exactly each row's relayed frames.
type openGroup struct {
	setup func(t *testing.T, c *rawConn)
	peer  func(t *testing.T) *rawConn
}

func (g openGroup) run(t *testing.T, rows []wsRow) {
	var c, peer *rawConn
	defer func() {
		for _, x := range []*rawConn{c, peer} {
			if x != nil {
				_ = x.conn.Close()
			}
		}
	}()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip("SERVER BUG: " + r.skip)
			}
			if c == nil {
				nc := dialGroupConn(t)
				ready := false
				defer func() {
					if !ready {
						_ = nc.conn.Close()
					}
				}()
				if g.setup != nil {
					g.setup(t, nc)
				}
				ready, c = true, nc
			}
			if peer == nil && g.peer != nil {
				peer = g.peer(t)
			}
			if err := c.write(r.bytes(c.sid)); err != nil {
				_ = c.conn.Close()
				c = nil
				t.Fatalf("write: %v", err)
			}
			got, err := c.syncFrames()
			if err != nil {
				_ = c.conn.Close()
				c = nil
				t.Fatalf("the connection must stay open: %v", err)
			}
			expectFrames(t, got, withSID(r.want, c.sid))
			if peer != nil {
				relayed, err := peer.syncFrames()
				if err != nil {
					_ = peer.conn.Close()
					peer = nil
					t.Fatalf("peer: %v", err)
				}
				if !sameFrames(relayed, r.relayed) {
					t.Errorf("peer received\n%s\nwant%s", list(relayed), list(r.relayed))
				}
			}
			checkBystander(t)
		})
	}
}

// dialGroupConn connects a connection that outlives the subtest dialing
// it (the group closes it).
func dialGroupConn(t *testing.T) *rawConn {
	t.Helper()
	c, err := openPusher()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectSetup sends frame and requires exactly want as its answer.
func expectSetup(t *testing.T, c *rawConn, frame string, want ...string) {
	t.Helper()
	if err := c.write(text(frame)); err != nil {
		t.Fatalf("setup write: %v", err)
	}
	got, err := c.syncFrames()
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	if !sameFrames(got, withSID(want, c.sid)) {
		t.Fatalf("setup %s: got%s\nwant%s", frame, list(got), list(want))
	}
}

// closeRow is one bad input that must end the connection with a close
// frame; it gets a connection of its own.
type closeRow struct {
	name string
	// target is the request target of the handshake; "" is the pusher-js
	// URL for app 1, after which connection_established is read.
	target string
	send   []byte
	before []string // frames the server must send before its close frame
	code   int
	reason string
	// anyReason accepts any close reason (where the RFC names the code only
	// and the server's wording is its own).
	anyReason bool
	skip      string
}

// closeResult is what a close row saw.
type closeResult struct {
	err    error // the row could not run or saw no close frame
	before []string
	close  serverFrame
	endErr error // the TCP connection was not dropped after the close frame
	byErr  error // the bystander check after the row
}

// exec runs the row on a connection of its own.
func (r closeRow) exec() (res closeResult) {
	defer func() { res.byErr = bystanderCheck() }()
	var c *rawConn
	if r.target == "" {
		c, res.err = openPusher()
	} else {
		c, res.err = openRaw(r.target)
	}
	if res.err != nil {
		return res
	}
	// The write runs beside the reads: a big one may meet a server that
	// stopped reading after the fault, and what matters is the close frame.
	written := make(chan struct{})
	go func() { _ = c.write(r.send); close(written) }()
	defer func() { _ = c.conn.Close(); <-written }()
	if res.before, res.close, res.err = c.closeFrames(); res.err != nil {
		return res
	}
	res.endErr = c.ended(3 * time.Second)
	return res
}

// runCloseRows runs the rows side by side, since each waits out the
// server's close grace period (about 1 s), then reports each row in a
// subtest of its own. Parallel subtests would be bounded by GOMAXPROCS.
func runCloseRows(t *testing.T, rows []closeRow) {
	results := make([]closeResult, len(rows))
	var wg sync.WaitGroup
	for i, r := range rows {
		if r.skip == "" {
			wg.Go(func() { results[i] = r.exec() })
		}
	}
	wg.Wait()
	for i, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.skip != "" {
				t.Skip("SERVER BUG: " + r.skip)
			}
			res := results[i]
			if res.err != nil {
				t.Errorf("want close %d %q: %v", r.code, r.reason, res.err)
			} else {
				expectFrames(t, res.before, r.before)
				if cf := res.close; cf.closeCode() != r.code || (cf.closeReason() != r.reason && !r.anyReason) {
					t.Errorf("close frame = %d %q, want %d %q", cf.closeCode(), cf.closeReason(), r.code, r.reason)
				}
				if res.endErr != nil {
					t.Error(res.endErr)
				}
			}
			if res.byErr != nil {
				t.Error(res.byErr)
			}
		})
	}
}
