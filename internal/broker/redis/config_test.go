package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/broker"
)

func TestNewRefusesBadConfig(t *testing.T) {
	h := &hub{}
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"no URL":          {Config{}, "URL is required"},
		"unparsable":      {Config{URL: "redis://user:secret@[::1"}, "URL"},
		"slash in secret": {Config{URL: "redis://user:secret/x@localhost"}, "URL"},
		"hash in secret":  {Config{URL: "redis://:secret#x@localhost"}, "URL"},
		"bad escape":      {Config{URL: "redis://user:secret%zz@localhost"}, "URL"},
		"wrong scheme":    {Config{URL: "http://localhost:6379"}, `scheme "http"`},
		"no scheme":       {Config{URL: "localhost:6379"}, "scheme"},
		"bad db":          {Config{URL: "redis://localhost/abc"}, "database"},
		"unknown param":   {Config{URL: "redis://localhost?master-set=x"}, `"master-set"`},
		"bad timeout":     {Config{URL: "redis://localhost?dial_timeout=soon"}, "dial timeout"},
		"braces prefix":   {Config{URL: "redis://localhost", Prefix: "a{b}"}, "braces"},
		"bad node id":     {Config{URL: "redis://localhost", NodeID: "a:b"}, "node id"},
		"slow heartbeats": {Config{URL: "redis://localhost", LeaseTTL: time.Second, Heartbeat: time.Second}, "heartbeat"},
	} {
		_, err := New(c.cfg, Deps{}, h)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if _, err := New(Config{URL: "redis://localhost"}, Deps{}, nil); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestURLForms(t *testing.T) {
	for _, u := range []string{
		"redis://localhost",
		"redis://user:pw@localhost:6380/3",
		"rediss://cache.example:6380?skip_verify=true",
		"unix:///run/redis.sock?db=2",
		"redis://a:7000?addr=b:7000&addr=c:7000",
		"redis://s1:26379?addr=s2:26379&master_set=mymaster",
		"redis://localhost?dial_timeout=1s&write_timeout=3s&client_name=x",
	} {
		b, err := New(Config{URL: u}, Deps{}, &hub{})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if u == "redis://s1:26379?addr=s2:26379&master_set=mymaster" && b.opt.Sentinel.MasterSet != "mymaster" {
			t.Errorf("sentinel master set not read")
		}
	}
	b, _ := New(Config{URL: "redis://localhost?dial_timeout=1s"}, Deps{}, &hub{})
	if b.opt.Dialer.Timeout != time.Second || b.opt.ConnWriteTimeout != defaultWriteTimeout || b.opt.BlockingPoolSize != defaultPoolSize {
		t.Errorf("options %v %v %v", b.opt.Dialer.Timeout, b.opt.ConnWriteTimeout, b.opt.BlockingPoolSize)
	}
	if b.cfg.Prefix != "herald" || b.cfg.LeaseTTL != 10*time.Second || len(b.NodeID()) != 8 {
		t.Errorf("defaults %+v", b.cfg)
	}
}

// TestNoRedisAtNew: New does not connect; Ping, Ready and calls report
// ErrUnavailable while nothing listens.
func TestNoRedisAtNew(t *testing.T) {
	srv := startRedis(t)
	url := srv.URL()
	srv.Kill()
	b, err := New(Config{URL: url, DialTimeout: 200 * time.Millisecond}, Deps{}, &hub{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if err := b.Ready(); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("ready before connecting: %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
	if _, err := b.Join(ctx, broker.JoinRequest{App: "1", Channel: "c", SocketID: "1.1"}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("join: %v", err)
	}
	srv.Restart()
	time.Sleep(redialEvery)
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("ping once Redis runs: %v", err)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("ready: %v", err)
	}
}
