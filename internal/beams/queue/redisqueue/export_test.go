package redisqueue

// StopRefresh stops the refresh loop without closing q: a node that hangs
// while holding jobs.
func (q *Queue) StopRefresh() {
	q.stopLoop()
	<-q.loopDone
}

// Keys are the queue's Redis keys: stream, ids hash, cursor hash.
func (q *Queue) Keys() (stream, ids, cursors string) {
	return q.keys.stream, q.keys.ids, q.keys.cursors
}
