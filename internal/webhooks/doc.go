// Package webhooks delivers Pusher webhooks: it turns the hub's events into
// signed, batched POSTs to each app's endpoints, with Pusher's leave delay,
// retries with backoff, and a bbolt queue so pending webhooks survive a
// restart (single-node mode) or the broker's shared queue (cluster mode,
// below).
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
// order; a failing batch holds back only that endpoint's later events. An
// event on a private-encrypted- channel without data is a batch of its own
// (sentAlone: the official Go and PHP SDKs fail to decrypt it and would lose
// its companions); batches are cut around it, so the order stays.
//
// # Failures in the log
//
// The loop also keeps a failure log (failurelog.go): per failing endpoint a
// WARN line at its first failed attempt, at most one summary per
// Config.FailureLogEvery while it keeps failing (attempts, dropped batches,
// events refused for a full queue) and an INFO line when it recovers. The
// formats are in docs/webhooks-operations.md.
//
// # Cluster mode
//
// With Deps.Queue (a broker.HookQueue) the queue is the cluster's, in the
// broker, and no database is opened. The broker appends the transitions'
// hooks itself, in the step that decides them; Observe hands the rest
// (client_event, cache_miss, subscription_count, and any transition that
// reaches it) to a writer goroutine that appends them with AddHook in the
// order it got them, through the same bounded inbox.
//
// One node at a time delivers an app's queue: the holder of its hook lease.
// A claimer goroutine calls ClaimHooks with Deps.Candidates every
// Config.ClaimEvery; reader goroutines read each held app's queue every
// Config.PollEvery (again at once after a full page), from the oldest
// unacked entry when the lease is new. Each entry becomes the hub event it
// describes and takes the single-node path from accept on: leave delay,
// cache_miss de-duplication, filters, batches, signing, retries, failure
// log, metrics. The leave delay counts from the entry's time_ms (a new
// holder may read it late), and a due leave also waits until its app's
// queue has been read past its due time: reading a backlog, the rejoin that
// cancels it may be in the next page.
//
// An entry is acked (AckHooks, by an acker goroutine) once nothing more
// will be sent for it: every batch holding it delivered or given up, or it
// was debounced, de-duplicated, unrouted or of an unknown app; a reference
// count per entry tracks the endpoints still to deliver it. Nothing is
// acked before its delivery finished, so the next holder of a dead node's
// lease delivers what it left (at least once: a request in flight, or an
// ack not yet written, is sent again).
//
// Losing a lease forgets the app's state in memory (a request in flight
// finishes, but its result acks nothing); gaining one reads from the oldest
// unacked entry. A lease ClaimHooks reports fresh (it lapsed since the last
// claim: the node was cut off, and another may have delivered and acked
// meanwhile) counts as lost and gained: what the node remembered of the
// app, a leave whose rejoin it never saw say, is stale. The acks of a lost
// lease are dropped unsent (the broker ignores those of a node that does
// not hold the lease anyway), and a new lease reads nothing while an ack
// of an earlier one is under way: an ack landing between a holder's reads
// could hide from it the join that cancels a leave it read.
//
// MaxQueue bounds memory by reading less: entries wait in the shared queue
// instead of being dropped. An entry read counts as one record per
// endpoint of its app, and each app holds at most its share of MaxQueue
// (split among the held apps, at least min(256, MaxQueue/8)), so an app
// whose endpoint fails stops its own reading, not the others'. While acks
// fail, reading also stops once too many wait (maxAcks), which bounds
// them. Queue errors are logged rate-limited and retried at the next tick;
// while ClaimHooks fails nothing new is read or sent (the leases may have
// gone). At a clean stop in-flight requests are cancelled and stay
// unacked, finished ones are acked, the writer appends what the inbox
// still holds (for up to two seconds) and the leases are released so
// another node takes over at once.
//
// The loop does no queue I/O itself: it exchanges values with those
// goroutines over bounded channels, never blocking on them, and every call
// has a timeout.
package webhooks
