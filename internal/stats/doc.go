// Package stats keeps the dashboard's time series: per app and server-wide,
// the last hour in 10-second points, the last day in minutes and the last 30
// days in hours, in bounded memory, saved to a bbolt file so they survive a
// restart.
//
// # Source
//
// Nothing in the server reports to this package: Herald already counts all
// of it in its Prometheus collectors (internal/metrics). Run gathers them
// every Config.Interval (10 s) and turns counters into what they counted
// during the interval (a counter that went down was reset: it counted its
// whole value) and gauges into their value, per app_id label; the
// server-wide series are the sum over apps plus what no app can be charged
// with (an empty app_id, or a metric without one). sources.go is the one
// table from metric families to series; Catalog lists the series.
//
// Any prometheus.Gatherer works, but Registry.Gather checks and sorts every
// metric of every family: about 35 ms with 1,000 apps. Gatherer(m, w)
// collects only the table's collectors, directly; with it a whole sampling
// pass (gather, deltas, record) takes about 8 ms for 1,000 busy apps
// (BenchmarkSamplingPass1000Apps, a 2-vCPU VM).
//
// # Rings and down-sampling
//
// Every series of every app has three rings: 10 s x 360, 1 min x 1440,
// 1 h x 720. Each sample is merged into all three at once: a counter's point
// adds it to its Sum, a gauge's keeps the largest (Max) and the latest
// (Last). So a minute point is exactly the aggregate of its six 10-second
// points and an hour point of its sixty minute points, including when some
// are missing; a missing interval (the server was down) has no point at all.
//
// # Memory
//
// A point of a counter is one number, of a gauge two (max, last): 19
// columns per ring for the 18 series, 2,520 slots per column over the three
// rings, plus one presence bit per slot. A column is allocated at its first
// non-zero value and holds 2 bytes per slot while its values are integers
// up to 65535, 4 bytes up to 2^32-1, else 8 (a float64). Per app:
//
//	worst case (every column allocated, 8 bytes):  19 x 2,520 x 8 = 383,040 B + ~2.5 KB = ~385 KB
//	every column allocated, values < 65536:        19 x 2,520 x 2 =  95,760 B + ~2.5 KB = ~98 KB
//	busy app (9 series, up to 2,000 a 10 s):       measured ~64 KB (hour sums need 4 bytes)
//	quiet app (a few series, small values):        ~15-35 KB
//
// With the default 1000 apps that is at most ~385 MB, ~64 MB when all are
// busy. Apps are added only when they show activity, dropped when idle for
// 30 days; when MaxApps is reached the least recently active one makes room
// for a newcomer, unless every app was active in the same interval (then
// the newcomer waits: no churn of histories when too many apps are busy).
//
// # The history file
//
// persist.go describes the layout: one record per chunk of points of one
// app (a minute of 10-second points, an hour of minutes, a day of hours),
// keyed time first, compact varint encoding. Each save (every SaveInterval
// and at Close, one transaction) rewrites only the chunks that changed since
// the previous one, a contiguous run of keys, and deletes those that left
// their ring: ~260 KB of records a minute for 1,000 busy apps, ~14 ms
// (BenchmarkSave1000Apps). At steady state a busy app holds ~55 KB of
// records (30 days). Open drops points older than their ring. A missing
// file starts empty; an unreadable one is moved to Path+".damaged" and an
// empty history starts, with a log line either way.
//
// # Alerts
//
// After each Record (under the same lock) every app is checked for a spike
// of two kinds (alerts.go): failed authorizations (all reasons together)
// and new connections. "Now" is the sum of the last six 10-second slots;
// the baseline is the average per minute over the previous 60 minutes,
// from the minute ring, computed once a minute (the current minute, the
// app's first and partial one, and minutes the store did not record are
// left out; a recorded minute with no point of the app counts as zero).
// An alert is raised when now >= max(min, Factor x baseline): Factor is
// Config.AlertFactor (5), min AlertMinAuthFailures (30) or
// AlertMinNewConnections (120). An app with less than 10 minutes of
// history has its baseline taken as at least min (it needs Factor x min),
// one with no full minute yet is not checked, and nothing is raised in the
// first 2 minutes of recording (after a restart every client reconnects
// at once). An alert clears when now falls below half the threshold that
// raised it (kept from the raise, so a long spike that lifts the baseline
// does not clear itself). Alerts and AlertCounts read them;
// StatsMetrics.AppAlert (herald_app_alert{app_id,kind}) is 1 while one is
// active and its series is deleted when it clears or the app is dropped;
// AlertsRaised counts them. At most two per app, kept in memory only: a
// spike still going on after a restart is raised again. In cluster mode
// Record receives the cluster's sums, so the alerts are the cluster's.
// Checking 1,000 apps costs ~80 µs per Record (each app keeps its counts
// of the last six 10-second slots beside its rings), plus ~1.2 ms once a
// minute for the baselines, and allocates nothing
// (BenchmarkRecordWithAlerts1000Apps, a 2-vCPU VM).
//
// # Cluster mode
//
// One sampling pass produces a Sample (per-app and server-wide values for
// one interval); nothing here depends on where it comes from. In cluster
// mode the server sets Deps.Publish to statsredis's Aggregator: each node
// publishes its Samples to Redis (MarshalBinary, encode.go: versioned,
// non-zero values only, a newer node's extra series skipped) instead of
// recording them, and every node sums the samples of all nodes for each
// interval with Sample.Merge and calls Store.Record with the sum, one
// interval later. So each node keeps the cluster's history in its own
// file and any node's dashboard shows the cluster. Counters add up across
// nodes, and so do gauges (the cluster's connections are the sum of the
// nodes'). A node's sample that reaches Redis after the others read the
// interval is missing from their sums; an interval Redis could not serve
// is a gap (statsredis's package doc has the details).
//
// # Concurrency
//
// A Store is safe for concurrent use. Lock order: Store.saveMu (one save at
// a time; the file), then Store.mu (the rings). Queries hold mu for reading
// and return copies; a save encodes under the read lock and writes the file
// without it.
package stats
