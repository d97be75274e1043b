// Command chat is Herald's worked example: a small chat web app whose
// browser side is pusher-js and whose backend uses the Go SDK
// (github.com/heraldhq/herald/pusher) to authorize presence channels, sign
// users in and publish messages. See README.md.
//
//	go run ./cmd/herald serve --config examples/chat/herald.yaml
//	cd examples/chat && npm ci && go run .
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/pusher"
)

// defaultHeraldURL matches herald.yaml next to this file.
const defaultHeraldURL = "http://app-key:app-secret@127.0.0.1:6001/apps/app-id"

//go:embed chat.html
var pageHTML string

var pageTmpl = template.Must(template.New("chat").Parse(pageHTML))

// app is the whole backend: the SDK client, the rooms, the sessions and
// what the page needs to reach Herald.
type app struct {
	pusher   *pusher.Client
	rooms    []room
	sessions *sessionStore
	browser  browserConfig // ONLY what the browser may know: never the secret
	pusherJS string        // path of pusher.min.js from the npm package
}

// browserConfig is what pusher-js in the page needs to open its WebSocket.
type browserConfig struct {
	Key      string `json:"key"`
	WSHost   string `json:"wsHost"`
	WSPort   int    `json:"wsPort"`
	ForceTLS bool   `json:"forceTLS"`
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmsgprefix)
	log.SetPrefix("chat: ")

	addr := flag.String("addr", envOr("CHAT_ADDR", "127.0.0.1:8080"), "listen address (env CHAT_ADDR)")
	heraldURL := flag.String("herald-url", envOr("HERALD_URL", defaultHeraldURL),
		"Herald app as http(s)://key:secret@host:port/apps/<id> (env HERALD_URL)")
	wsHost := flag.String("ws-host", "", "host the browser connects to (default: the host of -herald-url)")
	wsPort := flag.Int("ws-port", 0, "port the browser connects to (default: the port of -herald-url)")
	roomSpec := flag.String("rooms", envOr("CHAT_ROOMS", "lobby random staff=alice,carol"),
		`rooms separated by spaces: "name" is open to every signed-in user, "name=u1,u2" only to those users (env CHAT_ROOMS)`)
	pusherJS := flag.String("pusher-js", "node_modules/pusher-js/dist/web/pusher.min.js",
		"pusher.min.js from the pusher-js npm package (run npm ci first)")
	flag.Parse()

	a, err := newApp(*heraldURL, *wsHost, *wsPort, *roomSpec, *pusherJS)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(a.pusherJS); err != nil {
		log.Fatalf("%v: run `npm ci` in examples/chat first (or pass -pusher-js)", err)
	}

	srv := &http.Server{Addr: *addr, Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://%s (Herald API at %s, browsers connect to %s:%d)",
		ln.Addr(), redactURL(*heraldURL), a.browser.WSHost, a.browser.WSPort)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newApp builds the app from the flag values; wsHost "" and wsPort 0 take
// the host and port of heraldURL.
func newApp(heraldURL, wsHost string, wsPort int, roomSpec, pusherJS string) (*app, error) {
	cfg, err := pusher.ParseURL(heraldURL)
	if err != nil {
		return nil, fmt.Errorf("-herald-url: %w", err)
	}
	client, err := pusher.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("-herald-url: %w", err)
	}
	rooms, err := parseRooms(roomSpec)
	if err != nil {
		return nil, fmt.Errorf("-rooms: %w", err)
	}
	forceTLS := cfg.Scheme == "https"
	host, portStr, err := net.SplitHostPort(cfg.Host)
	if err != nil { // no port in the URL
		host, portStr = cfg.Host, "80"
		if forceTLS {
			portStr = "443"
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("-herald-url: bad port %q", portStr)
	}
	if wsHost == "" {
		wsHost = host
	}
	if wsPort == 0 {
		wsPort = port
	}
	return &app{
		pusher:   client,
		rooms:    rooms,
		sessions: newSessionStore(),
		browser:  browserConfig{Key: cfg.Key, WSHost: wsHost, WSPort: wsPort, ForceTLS: forceTLS},
		pusherJS: pusherJS,
	}, nil
}

// redactURL is the Herald URL for logs, without its credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	u.User = nil
	return u.String()
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", a.handlePage)
	mux.HandleFunc("/signin", a.handleSignIn)
	mux.HandleFunc("/signout", a.handleSignOut)
	mux.HandleFunc("/messages", a.handleMessage)
	mux.HandleFunc("/pusher/auth", a.handleChannelAuth)
	mux.HandleFunc("/pusher/user-auth", a.handleUserAuth)
	mux.HandleFunc("/static/pusher.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, a.pusherJS)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10) // every body here is small
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "same-origin")
		mux.ServeHTTP(w, r)
	})
}

// roomParam is a room name made safe for a redirect's query string.
func roomParam(name string) string { return url.QueryEscape(name) }

type roomLink struct {
	Name       string
	Restricted bool
	Allowed    bool
	Current    bool
}

// pageConfig is handed to the page's script (html/template JSON-encodes it).
type pageConfig struct {
	browserConfig
	Channel string `json:"channel"`
	Room    string `json:"room"`
	User    string `json:"user"`
}

// handlePage serves the chat page for ?room=<name> (default: the first
// room). Anonymous visitors get it too, with a sign-in form: their attempt
// to join the room is refused by /pusher/auth, and the page shows that.
func (a *app) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	roomName := r.URL.Query().Get("room")
	if roomName == "" {
		roomName = a.rooms[0].Name
	}
	if _, ok := a.findRoom(roomName); !ok {
		http.Error(w, "no such room", http.StatusNotFound)
		return
	}
	sess := a.sessions.getOrCreate(w, r)
	var links []roomLink
	for _, rm := range a.rooms {
		links = append(links, roomLink{
			Name: rm.Name, Restricted: rm.Members != nil,
			Allowed: a.mayEnter(sess.user, rm.Name), Current: rm.Name == roomName,
		})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := pageTmpl.Execute(w, map[string]any{
		"User":  sess.user,
		"CSRF":  sess.csrf,
		"Room":  roomName,
		"Rooms": links,
		"Config": pageConfig{
			browserConfig: a.browser,
			Channel:       presenceChannel(roomName),
			Room:          roomName,
			User:          sess.user,
		},
	})
	if err != nil {
		log.Printf("page: %v", err)
	}
}

var mentionRE = regexp.MustCompile(`@([a-zA-Z0-9_-]{1,32})`)

// handleMessage publishes one chat message: POST room=<name>&text=<text>
// with X-CSRF-Token. The backend, not the browser, triggers the event, so
// only users allowed in the room can post there. Users mentioned as @name
// also get a server-to-user "mention" event (they signed in with
// pusher.signin()).
func (a *app) handleMessage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w)
		return
	}
	sess, ok := a.signedInSession(w, r)
	if !ok || !parseForm(w, r) {
		return
	}
	roomName := r.PostFormValue("room")
	if !a.mayEnter(sess.user, roomName) {
		refuse(w, r, http.StatusForbidden, fmt.Sprintf("%s may not post to %q", sess.user, roomName))
		return
	}
	text := strings.TrimSpace(r.PostFormValue("text"))
	if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > 500 {
		refuse(w, r, http.StatusBadRequest, "a message is 1 to 500 characters")
		return
	}
	msg := map[string]string{"user": sess.user, "text": text, "sent": time.Now().UTC().Format(time.RFC3339)}
	_, err := a.pusher.Trigger(r.Context(), pusher.TriggerParams{
		Channels: []string{presenceChannel(roomName)},
		Event:    "message",
		Data:     msg,
	})
	if err != nil {
		log.Printf("trigger: %v", err)
		http.Error(w, "could not publish the message", http.StatusBadGateway)
		return
	}
	notified := map[string]bool{sess.user: true}
	for _, m := range mentionRE.FindAllStringSubmatch(text, 5) {
		to := m[1]
		if notified[to] || !a.mayEnter(to, roomName) {
			continue // no notices about rooms the mentioned user cannot read
		}
		notified[to] = true
		err := a.pusher.SendToUser(r.Context(), pusher.SendToUserParams{
			UserID: to, Event: "mention",
			Data: map[string]string{"from": sess.user, "room": roomName, "text": text},
		})
		if err != nil {
			log.Printf("send to user %s: %v", to, err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
