package redistest

import (
	"strings"
	"testing"
)

func TestSentinel(t *testing.T) {
	s := StartSentinel(t, SentinelConfig{Sentinels: 3, Replicas: 1})
	if got := s.Master(); got != s.Servers[0] {
		t.Fatalf("master %s, want %s", got.Addr(), s.Servers[0].Addr())
	}
	u := s.URL()
	if !strings.HasPrefix(u, s.Sentinels[0].URL()+"?addr=") || strings.Count(u, "addr=") != 2 || !strings.HasSuffix(u, "&master_set="+MasterSet) {
		t.Fatalf("URL %s", u)
	}
	if one := StartSentinel(t, SentinelConfig{}); one.URL() != one.Sentinels[0].URL()+"?master_set="+MasterSet {
		t.Fatalf("URL %s", one.URL())
	}
	for _, sen := range s.Sentinels {
		if out, err := cli(sen.Addr(), "info", "server"); err != nil || !strings.Contains(out, "redis_mode:sentinel") {
			t.Fatalf("%s is no sentinel: %v %s", sen.Addr(), err, out)
		}
	}
	s.WaitSynced()
	next := s.Failover()
	if next != s.Servers[1] {
		t.Fatalf("new master %s, want the replica %s", next.Addr(), s.Servers[1].Addr())
	}
	if out, err := cli(next.Addr(), "role"); err != nil || !strings.HasPrefix(out, "master") {
		t.Fatalf("new master's role: %v %s", err, out)
	}
	s.WaitReplica(s.Servers[0])
}
