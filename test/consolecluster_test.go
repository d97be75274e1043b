package test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/server"
)

// In cluster mode the debug console shows every node: a console opened on
// node a sees a client that connects to node b and subscribes there.
func TestDashboardConsoleClusterWide(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	rdb := redistest.Start(t)
	node := func(name string) *testServer {
		return startServerWith(t, func(c *config.Config) {
			c.DataDir = t.TempDir()
			c.NodeID = name
			c.Redis = config.RedisConfig{URL: rdb.URL(), Prefix: "consoletest"}
		}, server.Options{})
	}
	a, b := node("node-a"), node("node-b")

	// Each node has its own app store: the same app in both.
	code, body := adminCall(t, a, "POST", "/admin/apps", `{}`)
	var app struct{ ID, Key, Secret string }
	if code != 201 || json.Unmarshal(body, &app) != nil || app.Secret == "" {
		t.Fatalf("create app on a: %d %s", code, body)
	}
	same, _ := json.Marshal(map[string]string{"id": app.ID, "key": app.Key, "secret": app.Secret})
	if code, body := adminCall(t, b, "POST", "/admin/apps", string(same)); code != 201 {
		t.Fatalf("create app on b: %d %s", code, body)
	}

	cl := dashboardClient(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a.admin+"/apps/"+app.ID+"/console/stream", nil)
	resp, err := (&http.Client{Jar: cl.Jar}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("console stream on a: %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()

	// Node b learns of the viewer within its poll period (1 s): until
	// then its events are not forwarded. Connect and subscribe again
	// until one shows.
	for i := 0; ; i++ {
		ws := connectKey(t, b, app.Key)
		channel := "news-" + string(rune('a'+i%26))
		ws.subscribe(channel)
		if waitLine(ctx, t, lines, 500*time.Millisecond, func(l string) bool {
			// Any of the tries' subscriptions will do: a slow one may
			// show during a later try's wait.
			return strings.Contains(l, `"subscribed"`) && strings.Contains(l, `"news-`) && strings.Contains(l, `"node":"node-b"`)
		}) {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("node b's subscription never showed in node a's console")
		}
	}
}

// waitLine reports whether a data line matching ok arrives within d.
func waitLine(ctx context.Context, t *testing.T, lines <-chan string, d time.Duration, ok func(string) bool) bool {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, open := <-lines:
			if !open {
				t.Fatal("console stream ended")
			}
			if strings.HasPrefix(l, "data: ") && ok(l) {
				return true
			}
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
