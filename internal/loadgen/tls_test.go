package loadgen_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/loadgen"
)

// startTLSHerald runs a Herald that serves only TLS, with a self-signed
// certificate for 127.0.0.1, and returns its plaintext target and the
// certificate. Events may carry up to 40 KiB, so that one frame spans
// several TLS records.
func startTLSHerald(t *testing.T) (loadgen.Target, *loadgen.SelfSignedCert) {
	t.Helper()
	cert, err := loadgen.WriteSelfSignedCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tg := startHeraldWith(t, func(c *config.Config) {
		c.TLS = config.TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
		c.Apps[0].MaxEventPayloadKB = 40
	})
	return tg, cert
}

func withTLS(tg loadgen.Target, o loadgen.TLSOptions) loadgen.Target {
	tg.TLS = loadgen.NewClientTLS(o)
	return tg
}

// TestTLSConnect: connect over TLS resumes sessions by default, makes a
// full handshake per connection with NoResume, and verifies the
// certificate against its roots when not Insecure.
func TestTLSConnect(t *testing.T) {
	plain, cert := startTLSHerald(t)
	for _, tc := range []struct {
		name string
		o    loadgen.TLSOptions
	}{
		{"insecure, resumed", loadgen.TLSOptions{Insecure: true}},
		{"insecure, full handshakes", loadgen.TLSOptions{Insecure: true, NoResume: true}},
		{"verified against the certificate", loadgen.TLSOptions{RootCAs: cert.Roots}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := common(withTLS(plain, tc.o))
			c.Duration = 700 * time.Millisecond
			r, err := loadgen.Connect(ctx(t), loadgen.ConnectOptions{Common: c, Concurrency: 4})
			if err != nil {
				t.Fatal(err)
			}
			table(t, "connect over TLS", r)
			if r.Established == 0 || r.Failed != 0 {
				t.Fatalf("established %d failed %d: %s", r.Established, r.Failed, r.FirstError)
			}
			if r.TLS == "" || !strings.Contains(r.Target, "over TLS") || r.TLSHandshakesPerSec != r.PerSec || !strings.HasPrefix(r.TLSNegotiated, "TLS 1.3, TLS_") {
				t.Errorf("TLS %q, target %q, handshakes/s %v vs %v, negotiated %q", r.TLS, r.Target, r.TLSHandshakesPerSec, r.PerSec, r.TLSNegotiated)
			}
			// One handshake per connection; the first ones (one per
			// worker, at most) are full.
			if r.TLSFull+r.TLSResumed != r.Established {
				t.Errorf("%d full + %d resumed handshakes for %d connections", r.TLSFull, r.TLSResumed, r.Established)
			}
			if tc.o.NoResume {
				if r.TLSResumed != 0 {
					t.Errorf("%d resumed handshakes with NoResume", r.TLSResumed)
				}
			} else if r.TLSResumed == 0 || r.TLSFull > 4 {
				t.Errorf("%d full and %d resumed handshakes: sessions not resumed", r.TLSFull, r.TLSResumed)
			}
		})
	}
}

// TestTLSVerifiedPerAddress: spread over two names of the server
// (--ws-addrs), each connection verifies the certificate against the name
// it dialled, 127.0.0.1 or localhost.
func TestTLSVerifiedPerAddress(t *testing.T) {
	plain, cert := startTLSHerald(t)
	tg := withTLS(plain, loadgen.TLSOptions{RootCAs: cert.Roots})
	tg.SpreadSource = false // localhost may be ::1 first: no IPv4 source address
	tg.WSAddrs = []string{tg.Addr(), "localhost:" + strconv.Itoa(tg.Port)}
	c := common(tg)
	c.Duration = 200 * time.Millisecond
	r, err := loadgen.Idle(ctx(t), loadgen.IdleOptions{Common: c, Connections: 4, Settle: 50 * time.Millisecond})
	if err != nil || r.Subscribed != 4 {
		t.Fatalf("idle over two names: %v, %+v", err, r)
	}
	if s := tg.TLS.Stats(); s.Full+s.Resumed != 4 || s.Full < 2 {
		t.Errorf("handshakes %+v: want 4, a full one at least per name (a session cache each)", s)
	}
}

// TestTLSPlaintextRefused: the TLS server refuses plaintext on its port,
// so a run that succeeds over TLS really used it.
func TestTLSPlaintextRefused(t *testing.T) {
	plain, _ := startTLSHerald(t)
	c := common(plain)
	c.Duration = 300 * time.Millisecond
	r, err := loadgen.Connect(ctx(t), loadgen.ConnectOptions{Common: c, Concurrency: 1})
	var all *loadgen.AllFailedError
	if !errors.As(err, &all) || r.Established != 0 || !loadgen.PlaintextToTLS(err.Error()) {
		t.Fatalf("plaintext connect to a TLS server: %v (%d established)", err, r.Established)
	}
	a, err := loadgen.API(ctx(t), loadgen.APIOptions{Common: c, Concurrency: 1})
	if !errors.As(err, &all) || a.OK != 0 {
		t.Fatalf("plaintext API call to a TLS server: %v (%d ok)", err, a.OK)
	}
}

// TestTLSSelfSignedRefused: without Insecure (or the certificate among the
// roots) the bench refuses a self-signed certificate, with x509's reason.
func TestTLSSelfSignedRefused(t *testing.T) {
	plain, _ := startTLSHerald(t)
	c := common(withTLS(plain, loadgen.TLSOptions{}))
	c.Duration = 300 * time.Millisecond
	r, err := loadgen.Connect(ctx(t), loadgen.ConnectOptions{Common: c, Concurrency: 1})
	if err == nil || r.Established != 0 || !loadgen.CertificateRefused(err.Error()) || !strings.Contains(err.Error(), "TLS handshake with ") {
		t.Fatalf("connect: %v (%d established)", err, r.Established)
	}
	a, err := loadgen.API(ctx(t), loadgen.APIOptions{Common: c, Concurrency: 1})
	if err == nil || a.OK != 0 || !loadgen.CertificateRefused(err.Error()) {
		t.Fatalf("api: %v (%d ok)", err, a.OK)
	}
	if s := c.Target.TLS.Stats(); s.Full+s.Resumed+s.API != 0 {
		t.Errorf("handshakes counted though every one failed: %+v", s)
	}
}

// TestTLSScenarios: fanout (HTTP API publishers and client events), api,
// idle and presence over TLS, the pools reading TLS connections on their
// pollers; frames larger than a TLS record are reassembled.
func TestTLSScenarios(t *testing.T) {
	plain, _ := startTLSHerald(t)
	tg := withTLS(plain, loadgen.TLSOptions{Insecure: true})
	before := tg.TLS.Stats()

	r, err := loadgen.Fanout(ctx(t), loadgen.FanoutOptions{Common: common(tg), Subscribers: 60, Channels: 3,
		Rates: []float64{50}, Size: 30000, Publishers: 2, MaxP99: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	table(t, "fanout over TLS", r)
	s := r.Steps[0]
	if s.Published == 0 || s.PublishErrors != 0 || s.Lost != 0 || s.Duplicates != 0 || s.Delivered != s.Expected || s.Disconnected != 0 {
		t.Fatalf("fanout: %+v", s)
	}
	st := tg.TLS.Stats()
	if got := st.Full + st.Resumed - before.Full - before.Resumed; got != 60 || st.API == 0 {
		t.Errorf("fanout: %d WebSocket handshakes for 60 subscribers, %d API handshakes", got, st.API)
	}

	r, err = loadgen.Fanout(ctx(t), loadgen.FanoutOptions{Common: common(tg), Subscribers: 20, Channels: 2,
		Rates: []float64{8}, Publishers: 2, Via: "client", MaxP99: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Steps[0]; s.Published == 0 || s.PublishErrors != 0 || s.Lost != 0 || s.Delivered != s.Expected {
		t.Fatalf("fanout via client events: %+v", s)
	}

	a, err := loadgen.API(ctx(t), loadgen.APIOptions{Common: common(tg), Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	table(t, "api over TLS", a)
	if a.OK == 0 || a.Errors != 0 || a.TLS == "" {
		t.Fatalf("api: ok %d errors %d TLS %q: %s", a.OK, a.Errors, a.TLS, a.FirstError)
	}

	c := common(tg)
	c.Duration = 300 * time.Millisecond
	i, err := loadgen.Idle(ctx(t), loadgen.IdleOptions{Common: c, Connections: 50, Channels: 5, Settle: 100 * time.Millisecond})
	if err != nil || i.Subscribed != 50 || i.Disconnected != 0 {
		t.Fatalf("idle: %v, %+v", err, i)
	}

	p, err := loadgen.Presence(ctx(t), loadgen.PresenceOptions{Common: c, Channels: 2, Watchers: 2, Churners: 6, Rate: 30})
	if err != nil || p.Joins == 0 || p.Missing != 0 || p.Duplicates != 0 || p.ProtoErrors != 0 || p.Disconnected != 0 {
		t.Fatalf("presence: %v, %+v", err, p)
	}
}
