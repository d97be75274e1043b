package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// session is the per-connection state a Pusher-like server keeps
// (roughly 200 bytes including the one-entry subscription map).
type session struct {
	socketID     string
	appKey       string
	subs         map[string]struct{}
	conn         any // the transport's connection object
	connectedAt  int64
	lastActivity int64
	msgsIn       uint32
	msgsOut      uint32
	userID       int64
}

// hub simulates the server's connection registry and channel index.
type hub struct {
	mu         sync.Mutex
	conns      map[string]*session
	channels   map[string]map[*session]struct{}
	opened     atomic.Int64
	subscribed atomic.Int64
	closed     atomic.Int64
	seq        atomic.Int64
}

func newHub() *hub {
	return &hub{
		conns:    make(map[string]*session),
		channels: make(map[string]map[*session]struct{}),
	}
}

// open registers a new connection and returns its session and the
// ~120-byte pusher:connection_established message to send.
func (h *hub) open(appKey string, conn any) (*session, []byte) {
	n := h.seq.Add(1)
	s := &session{
		socketID:    strconv.FormatInt(100000+n, 10) + "." + strconv.FormatInt(int64(rand.Uint32()%10000000), 10),
		appKey:      appKey,
		subs:        make(map[string]struct{}, 1),
		conn:        conn,
		connectedAt: time.Now().UnixNano(),
	}
	s.lastActivity = s.connectedAt
	h.mu.Lock()
	h.conns[s.socketID] = s
	h.mu.Unlock()
	h.opened.Add(1)
	s.msgsOut++
	msg := `{"event":"pusher:connection_established","data":"{\"socket_id\":\"` + s.socketID + `\",\"activity_timeout\":120}"}`
	return s, []byte(msg)
}

var subscribePrefix = []byte(`{"event":"pusher:subscribe"`)

// message handles a client text message; it returns the reply (nil if none).
func (h *hub) message(s *session, data []byte) []byte {
	s.msgsIn++
	s.lastActivity = time.Now().UnixNano()
	if !bytes.HasPrefix(data, subscribePrefix) && !bytes.Equal(data, []byte("subscribe")) {
		return nil
	}
	ch := "room-0"
	if i := bytes.Index(data, []byte(`"channel":"`)); i >= 0 {
		rest := data[i+11:]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			ch = string(rest[:j])
		}
	}
	h.mu.Lock()
	if _, dup := s.subs[ch]; !dup {
		s.subs[ch] = struct{}{}
		m := h.channels[ch]
		if m == nil {
			m = make(map[*session]struct{})
			h.channels[ch] = m
		}
		m[s] = struct{}{}
		h.subscribed.Add(1)
	}
	h.mu.Unlock()
	s.msgsOut++
	return []byte(`{"event":"pusher_internal:subscription_succeeded","channel":"` + ch + `","data":"{}"}`)
}

func (h *hub) close(s *session) {
	if s == nil {
		return
	}
	h.mu.Lock()
	if _, ok := h.conns[s.socketID]; ok {
		delete(h.conns, s.socketID)
		for ch := range s.subs {
			if m := h.channels[ch]; m != nil {
				delete(m, s)
				if len(m) == 0 {
					delete(h.channels, ch)
				}
			}
			h.subscribed.Add(-1)
		}
		h.closed.Add(1)
	}
	h.mu.Unlock()
}

// memStats is what the server reports on "stats".
type memStats struct {
	Conns      int    `json:"conns"`
	Subscribed int64  `json:"subscribed"`
	Opened     int64  `json:"opened"`
	Closed     int64  `json:"closed"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	RSS        uint64 `json:"rss"`
	Goroutines int    `json:"goroutines"`
	// herald mode only: herald_channels on /metrics and the number of
	// channels listed by GET /apps/{id}/channels.
	Channels    int `json:"channels,omitempty"`
	APIChannels int `json:"api_channels,omitempty"`
}

func (h *hub) stats() memStats {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.mu.Lock()
	n := len(h.conns)
	h.mu.Unlock()
	return memStats{
		Conns:      n,
		Subscribed: h.subscribed.Load(),
		Opened:     h.opened.Load(),
		Closed:     h.closed.Load(),
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
		RSS:        readRSS(),
		Goroutines: runtime.NumGoroutine(),
	}
}

// readRSS returns this process's VmRSS in bytes (0 if unavailable).
func readRSS() uint64 {
	rss, _ := readRSSOf(os.Getpid())
	return rss
}
