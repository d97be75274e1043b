package stats

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/metrics"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testStore struct {
	*Store
	clock *clock
	log   *logBuf
	m     *metrics.StatsMetrics
}

// hour0 is an hour boundary (and so a day's 10-second, minute and hour
// boundary too).
var hour0 = time.Unix(1_700_000_000-1_700_000_000%86400, 0)

func open(t testing.TB, cfg Config, at time.Time) *testStore {
	t.Helper()
	c := &clock{t: at}
	lb := &logBuf{}
	m := metrics.NewStats(prometheus.NewRegistry())
	s, err := Open(cfg, Deps{Logger: slog.New(slog.NewTextHandler(lb, nil)), Metrics: m, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &testStore{Store: s, clock: c, log: lb, m: m}
}

// sample builds a Sample at t; values are given per app ("" = server) as
// series name/label -> value.
func sample(t time.Time, apps map[string]map[[2]string]float64) *Sample {
	s := &Sample{Time: t, Apps: map[string]*Values{}}
	for app, series := range apps {
		v := &s.Server
		if app != "" {
			v = new(Values)
			s.Apps[app] = v
		}
		for k, x := range series {
			if !v.Set(k[0], k[1], x) {
				panic("unknown series " + k[0] + "/" + k[1])
			}
		}
	}
	return s
}
