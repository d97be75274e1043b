package deliver

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backoffDelay is the wait after the attempts-th failure: uniform in
// [0, min(BackoffBase·2^(attempts-1), BackoffMax)] (full jitter, so the
// devices of one failing push service do not come back together).
func (p *Pipeline) backoffDelay(attempts int) time.Duration {
	ceil := p.cfg.BackoffBase
	for i := 1; i < attempts && ceil < p.cfg.BackoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.cfg.BackoffMax)
	return rand.N(ceil + 1)
}

// scheduler holds the deliveries waiting for a retry in a min-heap by due
// time; one goroutine (run) hands each back to the workers when due.
// Bounded by max; safe for concurrent use.
type scheduler struct {
	max   int
	gauge prometheus.Gauge
	wake  chan struct{} // a new earliest item: run re-arms its timer

	mu sync.Mutex
	h  []retryItem
}

type retryItem struct {
	due time.Time
	t   task
}

func newScheduler(max int, gauge prometheus.Gauge) *scheduler {
	return &scheduler{max: max, gauge: gauge, wake: make(chan struct{}, 1)}
}

// add schedules t at due; false when max deliveries already wait.
func (s *scheduler) add(t task, due time.Time) bool {
	s.mu.Lock()
	if len(s.h) >= s.max {
		s.mu.Unlock()
		return false
	}
	s.h = append(s.h, retryItem{due: due, t: t})
	s.up(len(s.h) - 1)
	first := s.h[0].due.Equal(due)
	s.gauge.Set(float64(len(s.h)))
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	return true
}

// run hands due deliveries to work until ctx ends.
func (s *scheduler) run(ctx context.Context, work chan<- task, now func() time.Time) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		t, wait, ok := s.popDue(now())
		if ok {
			select {
			case work <- t:
				continue
			case <-ctx.Done():
				s.mu.Lock()
				s.h = append(s.h, retryItem{due: now(), t: t}) // for drain to count
				s.mu.Unlock()
				return
			}
		}
		if wait < 0 {
			wait = time.Hour // nothing waits: sleep until add wakes us
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// popDue removes and returns the earliest delivery if due at now;
// otherwise it returns how long until it is (-1: none waits).
func (s *scheduler) popDue(now time.Time) (task, time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return task{}, -1, false
	}
	if wait := s.h[0].due.Sub(now); wait > 0 {
		return task{}, wait, false
	}
	t := s.h[0].t
	last := len(s.h) - 1
	s.h[0] = s.h[last]
	s.h[last] = retryItem{} // let the message go once no delivery needs it
	s.h = s.h[:last]
	if last > 0 {
		s.down(0)
	}
	if cap(s.h) > 1024 && len(s.h) < cap(s.h)/4 {
		s.h = slices.Clone(s.h) // a burst of retries past: give its memory back
	}
	s.gauge.Set(float64(len(s.h)))
	return t, 0, true
}

// drain empties the scheduler (after run ended) and returns what waited.
func (s *scheduler) drain() []task {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]task, len(s.h))
	for i, it := range s.h {
		out[i] = it.t
	}
	s.h = nil
	s.gauge.Set(0)
	return out
}

func (s *scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

func (s *scheduler) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !s.h[i].due.Before(s.h[parent].due) {
			return
		}
		s.h[i], s.h[parent] = s.h[parent], s.h[i]
		i = parent
	}
}

func (s *scheduler) down(i int) {
	n := len(s.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		least := l
		if r := l + 1; r < n && s.h[r].due.Before(s.h[l].due) {
			least = r
		}
		if !s.h[least].due.Before(s.h[i].due) {
			return
		}
		s.h[i], s.h[least] = s.h[least], s.h[i]
		i = least
	}
}
