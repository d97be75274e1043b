package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	cws "github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	nws "github.com/lesismal/nbio/nbhttp/websocket"
)

var impls = []string{"nbio-std", "nbio-engine", "gorilla", "gorilla-pool", "gorilla-inline", "coder"}

// heraldImpl measures the real server rather than a simulation and is not
// part of "all": "run" starts the herald binary given with -herald-bin and
// measures it from outside (herald.go). "server" does not accept it.
const heraldImpl = "herald"

type serverConfig struct {
	impl           string
	addr           string
	keepalive      time.Duration
	maxWriteBuffer int
	maxMessage     int
}

func serverMain(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	var cfg serverConfig
	fs.StringVar(&cfg.impl, "impl", "nbio-std", "transport: "+strings.Join(impls, ", "))
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "listen address (must be 127.0.0.1)")
	fs.DurationVar(&cfg.keepalive, "keepalive", 10*time.Minute, "read deadline per connection, re-armed on every message")
	fs.IntVar(&cfg.maxWriteBuffer, "max-write-buffer", 64<<10, "nbio: nbhttp.Config.MaxWriteBufferSize")
	fs.IntVar(&cfg.maxMessage, "max-message", 10<<10, "max inbound message size")
	_ = fs.Parse(args)
	if !strings.HasPrefix(cfg.addr, "127.0.0.1:") {
		return errors.New("-addr must be on 127.0.0.1")
	}
	logging.SetLevel(logging.LevelError)

	h := newHub()
	var (
		addr string
		err  error
	)
	switch cfg.impl {
	case "nbio-std":
		addr, err = startNbioStd(cfg, h)
	case "nbio-engine":
		addr, err = startNbioEngine(cfg, h)
	case "gorilla":
		addr, err = startStd(cfg, gorillaHandler(cfg, h, &gws.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}, true))
	case "gorilla-pool":
		addr, err = startStd(cfg, gorillaHandler(cfg, h, &gws.Upgrader{ReadBufferSize: 512, WriteBufferSize: 512, WriteBufferPool: &sync.Pool{}}, true))
	case "gorilla-inline":
		addr, err = startStd(cfg, gorillaHandler(cfg, h, &gws.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}, false))
	case "coder":
		addr, err = startStd(cfg, coderHandler(cfg, h))
	default:
		return fmt.Errorf("unknown -impl %q (want one of %s)", cfg.impl, strings.Join(impls, ", "))
	}
	if err != nil {
		return err
	}
	fmt.Printf("LISTEN %s\n", addr)

	// Control protocol on stdin: "stats" -> one "STATS {json}" line; "quit" or EOF -> exit.
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "stats":
			b, _ := json.Marshal(h.stats())
			fmt.Printf("STATS %s\n", b)
		case "quit":
			return nil
		}
	}
	return nil
}

func appKey(r *http.Request) string { return r.PathValue("key") }

// startStd serves handler on a std net/http server.
func startStd(cfg serverConfig, handler http.HandlerFunc) (string, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/app/{key}", handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// newNbioUpgrader wires the hub into an nbio Upgrader.
func newNbioUpgrader(cfg serverConfig, h *hub, engine *nbhttp.Engine) *nws.Upgrader {
	u := nws.NewUpgrader()
	u.Engine = engine
	u.KeepaliveTime = cfg.keepalive
	u.MessageLengthLimit = cfg.maxMessage
	u.CheckOrigin = func(*http.Request) bool { return true }
	u.OnMessage(func(c *nws.Conn, mt nws.MessageType, data []byte) {
		s, _ := c.Session().(*session)
		if s == nil || mt != nws.TextMessage {
			return
		}
		if reply := h.message(s, data); reply != nil {
			_ = c.WriteMessage(nws.TextMessage, reply)
		}
	})
	u.OnClose(func(c *nws.Conn, err error) {
		s, _ := c.Session().(*session)
		h.close(s)
	})
	return u
}

func nbioHandler(h *hub, u *nws.Upgrader, transfer bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			c   *nws.Conn
			err error
		)
		if transfer {
			c, err = u.UpgradeAndTransferConnToPoller(w, r, nil)
		} else {
			c, err = u.Upgrade(w, r, nil)
		}
		if err != nil {
			return
		}
		s, welcome := h.open(appKey(r), c)
		c.SetSession(s)
		_ = c.WriteMessage(nws.TextMessage, welcome)
	}
}

// nbio-std: std http.Server accepts and parses the handshake; the upgraded
// *net.TCPConn is dup'ed into a non-blocking fd and handed to an nbhttp.Engine
// that has no listeners (event-driven reads, no goroutine per connection).
func startNbioStd(cfg serverConfig, h *hub) (string, error) {
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:                    "wsidle-std",
		ReleaseWebsocketPayload: true,
		MaxWriteBufferSize:      cfg.maxWriteBuffer,
		KeepaliveTime:           cfg.keepalive,
	})
	if err := engine.Start(); err != nil {
		return "", err
	}
	u := newNbioUpgrader(cfg, h, engine)
	return startStd(cfg, nbioHandler(h, u, true))
}

// nbio-engine: nbhttp.Engine listens and parses HTTP itself.
func startNbioEngine(cfg serverConfig, h *hub) (string, error) {
	mux := http.NewServeMux()
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:                    "wsidle-engine",
		Network:                 "tcp",
		Addrs:                   []string{cfg.addr},
		Handler:                 mux,
		ReleaseWebsocketPayload: true,
		MaxWriteBufferSize:      cfg.maxWriteBuffer,
		KeepaliveTime:           cfg.keepalive,
	})
	u := newNbioUpgrader(cfg, h, engine)
	mux.HandleFunc("/app/{key}", nbioHandler(h, u, false))
	if err := engine.Start(); err != nil {
		return "", err
	}
	addr := engine.Addrs[0]
	if strings.HasSuffix(addr, ":0") {
		return "", errors.New("nbio engine did not report its listen address")
	}
	return addr, nil
}

// gorilla: one goroutine per connection running the read loop (only the read
// loop writes, so no separate write pump). With spawn=true the handler starts
// a fresh goroutine and returns, so net/http's per-connection state (conn
// struct, 4 KiB bufio.Reader, grown handler stack) is released; with
// spawn=false ("gorilla-inline") the handler goroutine itself loops.
func gorillaHandler(cfg serverConfig, h *hub, up *gws.Upgrader, spawn bool) http.HandlerFunc {
	up.CheckOrigin = func(*http.Request) bool { return true }
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		key := appKey(r)
		if spawn {
			go gorillaLoop(cfg, h, c, key)
			return
		}
		gorillaLoop(cfg, h, c, key)
	}
}

func gorillaLoop(cfg serverConfig, h *hub, c *gws.Conn, key string) {
	defer c.Close()
	c.SetReadLimit(int64(cfg.maxMessage))
	s, welcome := h.open(key, c)
	defer h.close(s)
	if err := c.WriteMessage(gws.TextMessage, welcome); err != nil {
		return
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(cfg.keepalive))
		mt, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		if mt != gws.TextMessage {
			continue
		}
		if reply := h.message(s, data); reply != nil {
			if err := c.WriteMessage(gws.TextMessage, reply); err != nil {
				return
			}
		}
	}
}

// coder: one goroutine per connection (spawned; the handler returns) runs the
// read loop; the read deadline is a context with timeout per Read
// (coder/websocket has no SetReadDeadline).
func coderHandler(cfg serverConfig, h *hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := cws.Accept(w, r, &cws.AcceptOptions{CompressionMode: cws.CompressionDisabled, InsecureSkipVerify: true})
		if err != nil {
			return
		}
		go coderLoop(cfg, h, c, appKey(r))
	}
}

func coderLoop(cfg serverConfig, h *hub, c *cws.Conn, key string) {
	defer c.CloseNow()
	c.SetReadLimit(int64(cfg.maxMessage))
	s, welcome := h.open(key, c)
	defer h.close(s)
	bg := context.Background()
	if err := c.Write(bg, cws.MessageText, welcome); err != nil {
		return
	}
	for {
		ctx, cancel := context.WithTimeout(bg, cfg.keepalive)
		mt, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			return
		}
		if mt != cws.MessageText {
			continue
		}
		if reply := h.message(s, data); reply != nil {
			if err := c.Write(bg, cws.MessageText, reply); err != nil {
				return
			}
		}
	}
}
