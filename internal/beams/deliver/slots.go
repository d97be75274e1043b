package deliver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/heraldhq/herald/internal/beams/queue"
)

// slots shares the job slots (Config.Jobs) fairly between instances. One
// goroutine (fetch) takes jobs from the queue, in order, into a buffer of
// at most Config.JobBuffer jobs not yet started; the job loops start them.
// A free slot goes to the first buffered job whose instance holds fewer
// than its share (half the slots, at least one); when every buffered job's
// instance holds its share already, to the first buffered job. So an
// instance alone with work may use every slot, and while another
// instance's job waits no instance takes a slot beyond its share (with an
// odd Jobs, the odd slot goes to the first job rather than stay unused).
// Nothing is taken from a running job: an instance that had the slots to
// itself gives them up as its jobs end. Safe for concurrent use; its lock
// is a leaf.
type slots struct {
	share  int // slots an instance may hold while another's jobs wait
	buffer int

	mu      sync.Mutex
	waiting []queue.Job    // taken from the queue, not started, in queue order
	running map[string]int // jobs started and not ended, by instance
	changed chan struct{}  // closed, and replaced, on every change
}

func newSlots(jobs, buffer int) *slots {
	return &slots{
		share:   max(jobs/2, 1),
		buffer:  buffer,
		running: map[string]int{},
		changed: make(chan struct{}),
	}
}

// fetch fills the buffer from q until ctx ends (nil) or q is closed.
func (p *Pipeline) fetch(ctx context.Context) error {
	failures := 0
	for {
		if !p.slots.room(ctx) {
			return nil
		}
		j, err := p.q.Next(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, queue.ErrClosed):
			return fmt.Errorf("beams deliver: %w", err)
		case err != nil:
			failures++
			p.log.Warn("cannot read the publish queue", "err", err)
			if !sleep(ctx, p.backoffDelay(failures)) {
				return nil
			}
			continue
		}
		failures = 0
		p.m.Queue.Set(float64(p.q.Len()))
		p.slots.put(j)
	}
}

// jobLoop delivers the jobs slots gives it, one at a time.
func (p *Pipeline) jobLoop(ctx context.Context) {
	for {
		j, ok := p.slots.take(ctx)
		if !ok {
			return
		}
		p.deliver(ctx, j)
		p.slots.end(j.Instance)
	}
}

// room waits until the buffer has room; false when ctx ended first.
func (s *slots) room(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if len(s.waiting) < s.buffer {
			s.mu.Unlock()
			return true
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *slots) put(j queue.Job) {
	s.mu.Lock()
	s.waiting = append(s.waiting, j)
	s.changedLocked()
	s.mu.Unlock()
}

// take waits for a job that may start, and counts it running; false when
// ctx ended first.
func (s *slots) take(ctx context.Context) (queue.Job, bool) {
	for {
		s.mu.Lock()
		if i := s.pickLocked(); i >= 0 {
			j := s.waiting[i]
			s.waiting = slices.Delete(s.waiting, i, i+1)
			s.running[j.Instance]++
			s.changedLocked()
			s.mu.Unlock()
			return j, true
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return queue.Job{}, false
		}
	}
}

// pickLocked returns the index of the waiting job to start, or -1 when
// none waits. Only the Config.Jobs job loops take, so it is called only
// when a slot is free.
func (s *slots) pickLocked() int {
	for i, j := range s.waiting {
		if s.running[j.Instance] < s.share {
			return i
		}
	}
	if len(s.waiting) > 0 {
		return 0 // every instance waiting holds its share: keep the slot busy
	}
	return -1
}

// end counts a job of instance ended.
func (s *slots) end(instance string) {
	s.mu.Lock()
	if s.running[instance]--; s.running[instance] <= 0 {
		delete(s.running, instance)
	}
	s.changedLocked()
	s.mu.Unlock()
}

func (s *slots) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
