// Package webhooks delivers Pusher webhooks: it turns the hub's events into
// signed, batched POSTs to each app's endpoints, with Pusher's leave delay,
// retries with backoff, and a bbolt queue so pending webhooks survive a
// restart.
//
// # Flow
//
// Observe (called by the hub with its locks held) only enqueues into a
// bounded inbox. One loop goroutine owns all state and is the only writer of
// the database; per iteration it
//
//  1. takes up to maxTxEvents events from the inbox (or a delivery result,
//     or a timer tick),
//  2. applies the leave delay and cache_miss de-duplication, and fans each
//     surviving event out to the endpoints whose type and channel filters
//     match, as one event record per endpoint,
//  3. turns due endpoints' pending events into a batch record (the exact
//     body bytes) and deletes those event records,
//  4. commits all of it in ONE bbolt transaction (group commit),
//  5. only then hands the batches to a bounded pool of delivery workers.
//
// An event is accepted once that commit returns. Because a batch record is
// created in the transaction that deletes its events, every event is, at any
// moment, in exactly one stored place: an event record, a delayed leave, or
// one batch. After a crash the same batch (same bytes, same time_ms) is
// resent, never a different batch holding the same event; at most a request
// in flight at the crash is delivered twice (at-least-once, like Pusher).
//
// Each endpoint has at most one request in flight and delivers its batches in
// order; a failing batch holds back only that endpoint's later events.
//
// # Failures in the log
//
// The loop also keeps a failure log (failurelog.go): per failing endpoint a
// WARN line at its first failed attempt, at most one summary per
// Config.FailureLogEvery while it keeps failing (attempts, dropped batches,
// events refused for a full queue) and an INFO line when it recovers. The
// formats are in docs/webhooks-operations.md.
package webhooks
