package redistest

import (
	"strings"
	"testing"
)

func TestLifecycle(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	if got, want := s.URL(), "redis://"+s.Addr(); got != want {
		t.Errorf("URL %q, want %q", got, want)
	}
	s.Stop()
	if ping(s.Addr()) == nil {
		t.Fatal("stopped server still answers")
	}
	s.Restart()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
	s.Kill()
	if ping(s.Addr()) == nil {
		t.Fatal("killed server still answers")
	}
	s.Restart()
	s.Pause()
	if ping(s.Addr()) == nil {
		t.Fatal("paused server answers")
	}
	s.Resume()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
	s.Kill()
	s.Kill() // twice is fine
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	for _, s := range c.Servers {
		if err := ping(s.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(c.URL(), "?addr=") || strings.Count(c.URL(), "addr=") != 2 {
		t.Fatalf("URL %s", c.URL())
	}
}
