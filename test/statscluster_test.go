package test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/server"
)

// dashboardClient logs in to s's dashboard with the admin token.
func dashboardClient(t *testing.T, s *testServer) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Timeout: 5 * time.Second, Jar: jar}
	admin := "http://" + s.admin
	resp, err := cl.Get(admin + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in %.300s", page)
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {adminToken}}
	req, _ := http.NewRequest("POST", admin+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", admin)
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return cl
}

// latestConnections is the server-wide chart's latest "current" value of
// connections on s's dashboard; NaN when it has none yet.
func latestConnections(t *testing.T, s *testServer, cl *http.Client) float64 {
	t.Helper()
	resp, err := cl.Get("http://" + s.admin + "/stats/data?range=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Charts []struct {
			ID    string
			Lines []struct {
				Key    string
				Values []*float64
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /stats/data: %d %v", resp.StatusCode, err)
	}
	for _, c := range d.Charts {
		for _, l := range c.Lines {
			if c.ID != "connections" || l.Key != "current" {
				continue
			}
			for i := len(l.Values) - 1; i >= 0; i-- {
				if l.Values[i] != nil {
					return *l.Values[i]
				}
			}
		}
	}
	return math.NaN()
}

// In cluster mode the dashboard's charts are the cluster's: a client on
// each of three nodes shows as three connections on either dashboard
// (each node records the sum over the nodes in its own history), the
// third node's too, though it has no dashboard.
func TestDashboardChartsClusterWide(t *testing.T) {
	t.Setenv("HERALD_ADMIN_TOKEN", adminToken)
	rdb := redistest.Start(t)
	node := func(name string) *testServer {
		return startServerWith(t, func(c *config.Config) {
			c.DataDir = t.TempDir()
			c.NodeID = name
			c.Redis = config.RedisConfig{URL: rdb.URL(), Prefix: "statstest"}
		}, server.Options{StatsInterval: 500 * time.Millisecond})
	}
	a, b := node("node-a"), node("node-b")
	// Node c has no admin token, hence no dashboard: it still publishes
	// its samples, and counts in the others' charts. (The token is read
	// at start: unsetting it now leaves a and b as they are.)
	os.Unsetenv("HERALD_ADMIN_TOKEN")
	c := node("node-c")
	resp, err := http.Get("http://" + c.admin + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("node-c has a dashboard: GET /login %d", resp.StatusCode)
	}
	connect(t, a)
	connect(t, b)
	connect(t, c)
	for _, s := range []*testServer{a, b} {
		cl := dashboardClient(t, s)
		deadline := time.Now().Add(15 * time.Second)
		for {
			n := latestConnections(t, s, cl)
			if n == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's dashboard shows %v connections, want 3 (one on each node)", s.cfg.NodeID, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
