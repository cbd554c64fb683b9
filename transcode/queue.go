package transcode

import (
	"sync"

	"github.com/livecdn/livecdn/ingest"
)

// unitQueue hands units from the publisher's goroutine to the goroutine that
// writes ffmpeg's stdin. Pushing never blocks: a publisher must not stall
// because ffmpeg is slow (the passthrough rung would stall with it), so a
// full queue refuses the unit and the caller skips to the next keyframe.
type unitQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*queued
	bytes  int
	limit  int
	closed bool
}

type queued struct {
	u     *ingest.Unit
	video bool
}

func newUnitQueue(limit int) *unitQueue {
	q := &unitQueue{limit: limit}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push adds u unless the queue is closed or holds more than limit bytes.
func (q *unitQueue) push(u *ingest.Unit, video bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := u.Size()
	if q.closed || (q.bytes+n > q.limit && len(q.items) > 0) {
		return false
	}
	q.items = append(q.items, &queued{u, video})
	q.bytes += n
	q.cond.Signal()
	return true
}

// pop waits for the next unit; ok is false once the queue is closed and
// empty. more reports whether further units are already waiting.
func (q *unitQueue) pop() (it *queued, more, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return nil, false, false
	}
	it = q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	q.bytes -= it.u.Size()
	return it, len(q.items) > 0, true
}

// close ends the queue; pop drains what is left, then reports !ok.
func (q *unitQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// discard drops everything queued (ffmpeg is gone) and closes the queue.
func (q *unitQueue) discard() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items, q.bytes, q.closed = nil, 0, true
	q.cond.Broadcast()
}
