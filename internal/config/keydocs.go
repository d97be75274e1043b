package config

// keyDoc documents one key of Keys: a one-line description, the HERALD_*
// variable and `herald serve` flag that set it (TestKeyEnvAndFlags checks
// both against Load and the serve command), and what its default depends
// on when ApplyDefaults alone does not tell.
type keyDoc struct {
	doc  string
	env  string
	flag string
	note string
}

// keyDocs describes every key Keys finds, by path; TestKeysDescribed fails
// when one is missing or names no key.
var keyDocs = map[string]keyDoc{
	"host":     {doc: "Address the public listener binds: an IP address or a host name.", env: EnvHost, flag: "--host"},
	"port":     {doc: "Port of the public listener (WebSocket, REST API, Beams API).", env: EnvPort, flag: "--port"},
	"data_dir": {doc: "Directory for generated credentials (default app, Beams instance, admin token) and the SQLite app store.", env: EnvDataDir, flag: "--data-dir"},
	"database_url": {doc: `SQL app store managed with ` + "`herald apps`" + `: ` + "`sqlite:<path>` or `postgres://…`.", env: EnvDatabaseURL,
		note: "`sqlite:<data_dir>/apps.db` when that file exists or an admin token is set; else none"},
	"path_prefix": {doc: `Prefix of every route (pusher-js wsPath); must start with "/".`, env: EnvPathPrefix, flag: "--path-prefix"},
	"admin_listen": {doc: `host:port of the operators' plain-HTTP listener (/metrics, /ready, pprof); "off" turns it off. Keep it private.`,
		env: EnvAdminListen, flag: "--admin-listen", note: "127.0.0.1:6002 with the dashboard when no app is configured; when the address is taken the server starts without it"},
	"log":           {doc: "Logging."},
	"log.format":    {doc: "Log handler: text or json.", env: EnvLogFormat, flag: "--log-format"},
	"log.level":     {doc: "Minimum level: debug, info, warn or error.", env: EnvLogLevel, flag: "--log-level"},
	"tls":           {doc: "TLS for the public listener: on when both files are set, else plain ws/http."},
	"tls.cert_file": {doc: "PEM certificate chain.", env: EnvTLSCertFile, flag: "--tls-cert-file"},
	"tls.key_file":  {doc: "PEM private key.", env: EnvTLSKeyFile, flag: "--tls-key-file"},

	"limits":                       {doc: "Server-wide bounds."},
	"limits.max_frame_kb":          {doc: "Largest WebSocket frame accepted, in KiB."},
	"limits.max_channel_name_len":  {doc: "Longest channel name, in bytes."},
	"limits.max_event_name_len":    {doc: "Longest event name, in bytes."},
	"limits.write_buffer_kb":       {doc: "Bytes a connection may have pending, in KiB; beyond it the connection is closed with 4100."},
	"limits.client_events_per_sec": {doc: "Client events one connection may send per second."},
	"limits.max_request_body_kb":   {doc: "Largest REST API request body, in KiB."},
	"limits.max_user_info_kb":      {doc: "Largest presence channel_data (user info), in KiB."},
	"limits.max_user_id_len":       {doc: "Longest user id, in bytes."},
	"limits.max_watchlist_size":    {doc: "User ids kept from a sign-in's watchlist."},
	"limits.max_connections": {doc: "WebSocket connections this node accepts; more are refused with 4100.",
		note: "means the open-files limit minus a reserve (a larger value is lowered to it, with a warning)"},
	"limits.max_memory_mb": {doc: "Memory this node may use, in MiB; near it new connections get 4100 and API publishes 503.",
		note: "means GOMEMLIMIT when set, else the container's (cgroup) memory limit, else none"},

	"metrics":              {doc: "The Prometheus /metrics endpoint (always on the admin listener)."},
	"metrics.enabled":      {doc: "Allow /metrics on the public port (with public_token).", env: EnvMetricsEnabled},
	"metrics.public_token": {doc: `Bearer token that serves /metrics on the public port; at least 16 characters. Empty: not on the public port.`, env: EnvMetricsToken},

	"webhooks":                  {doc: "Webhook delivery for every app (the endpoints are in apps[].webhooks)."},
	"webhooks.leave_delay":      {doc: "How long channel_vacated and member_removed wait; a rejoin within it cancels both."},
	"webhooks.batch_window":     {doc: "How long an endpoint's first pending event waits for more to share its request."},
	"webhooks.batch_max_events": {doc: "Most events in one request (at most 1000)."},
	"webhooks.timeout":          {doc: "Bound on one request, response included."},
	"webhooks.retry_window":     {doc: "How long a failing request is retried, with backoff, before it is recorded as dead."},
	"webhooks.max_queue":        {doc: "Events and batches waiting for delivery; beyond it new events are dropped (counted, logged)."},
	"webhooks.workers":          {doc: "Concurrent requests over all endpoints (at most 1024)."},

	"redis":        {doc: "Cluster mode: every node pointing at the same Redis shares channels and presence (docs/scaling.md)."},
	"redis.url":    {doc: "redis://[[user]:password@]host[:port][/db], rediss://… (TLS) or unix://…; empty: one node, in memory. No flag: it may hold a password.", env: EnvRedisURL},
	"redis.prefix": {doc: "Start of every Redis key and channel, so clusters can share a Redis; no white space, '{' or '}'.", env: EnvRedisPrefix},
	"node_id": {doc: "This node's name in the cluster: at most 64 of A-Z a-z 0-9 . _ -, unique per running node.", env: EnvNodeID,
		note: "generated at each start from the host name and random digits"},

	"beams":                         {doc: "Push notifications: a Beams-compatible API (docs/beams.md)."},
	"beams.allow_private_endpoints": {doc: "Accept push endpoints on private addresses and plain http. Only for tests."},
	"beams.publish_rate":            {doc: "Publishes and user deletions per second per instance; more get 429."},
	"beams.max_devices_per_user":    {doc: "Devices one user may have; one more is refused with 422."},
	"beams.max_queue":               {doc: "Publishes stored and not yet delivered; more are refused with 503."},
	"beams.workers":                 {doc: "Push requests in flight over all instances (at most 4096)."},
	"beams.device_rate":             {doc: "Device API writes per second per client address; -1 turns the limit off."},
	"beams.device_burst":            {doc: "Device API writes one client address may make at once; -1 turns the limit off."},
	"beams.max_per_origin":          {doc: "Pushes in flight to one push service at once."},
	"beams.instances": {doc: "Beams instances served from the config file (more live in the app store, `herald beams`).",
		note: "none; with no apps configured, one generated in `<data_dir>/default-beams.json`"},
	"beams.instances[].id":                       {doc: "Instance id the SDKs are given: a UUID."},
	"beams.instances[].secret_key":               {doc: "Authorizes publishes and signs Beams tokens. Never logged."},
	"beams.instances[].vapid_subject":            {doc: `Contact push services see in Web Push requests: "mailto:…" or "https://…".`},
	"beams.instances[].fcm":                      {doc: "FCM sender for Android devices; without it FCM devices are skipped."},
	"beams.instances[].fcm.service_account_file": {doc: "Google service-account JSON key (its project_id is the FCM project)."},
	"beams.instances[].apns":                     {doc: "APNs sender (token-based) for Apple devices; without it APNs devices are skipped."},
	"beams.instances[].apns.key_file":            {doc: "The .p8 signing key from Apple."},
	"beams.instances[].apns.key_id":              {doc: "Its 10-character key id."},
	"beams.instances[].apns.team_id":             {doc: "The 10-character team id."},
	"beams.instances[].apns.topic":               {doc: "The app's bundle id."},
	"beams.instances[].apns.production":          {doc: "Send to api.push.apple.com rather than the sandbox."},

	"activity_timeout": {doc: "Seconds of silence after which clients ping, announced to them (and after which the server pings).", env: EnvActivityTimeout, flag: "--activity-timeout"},
	"pong_timeout":     {doc: "How long to wait for any frame after the server's pusher:ping before closing.", env: EnvPongTimeout},
	"cache_ttl":        {doc: "How long a cache channel keeps its last event."},
	"signin_timeout":   {doc: "How long a connection of a require_signin app may stay without signing in before 4009."},
	"shutdown_timeout": {doc: "Bound on graceful shutdown.", env: EnvShutdownTimeout},

	"apps": {doc: "The apps (tenants) served from the config file; SIGHUP re-reads them.",
		note: "none; with no apps (and no app store), one generated in `<data_dir>/default-app.json`"},
	"apps[].id":                        {doc: "App id (REST API paths); unique, no '/', '?', '#', '%', '\\' or white space."},
	"apps[].key":                       {doc: "App key clients connect with (/app/{key}); unique, same characters as id."},
	"apps[].secret":                    {doc: "Signs REST requests, channel authorizations and webhooks."},
	"apps[].enabled":                   {doc: "Accept connections and API requests."},
	"apps[].enable_client_messages":    {doc: "Let clients send client-* events on private and presence channels."},
	"apps[].require_signin":            {doc: "Close connections that neither sign in nor join a private/presence channel within signin_timeout."},
	"apps[].enable_subscription_count": {doc: "Send pusher_internal:subscription_count on non-presence channels."},
	"apps[].max_connections":           {doc: "Connections of this app; 0: unlimited."},
	"apps[].max_presence_members":      {doc: "Members of one presence channel."},
	"apps[].max_event_payload_kb":      {doc: "Largest event payload, in KiB."},
	"apps[].webhooks":                  {doc: "Webhook endpoints of the app."},
	"apps[].webhooks[].url":            {doc: "http(s) URL the events are POSTed to."},
	"apps[].webhooks[].event_types": {doc: "Events sent: channel_occupied, channel_vacated, member_added, member_removed, " +
		"client_event, cache_miss, subscription_count (at least one)."},
	"apps[].webhooks[].headers":                         {doc: "Extra request headers, name to value."},
	"apps[].webhooks[].filter":                          {doc: "Limits the webhook to some channels; empty: all."},
	"apps[].webhooks[].filter.channel_name_starts_with": {doc: "Only channels whose name starts with this."},
	"apps[].webhooks[].filter.channel_name_ends_with":   {doc: "Only channels whose name ends with this."},
	"apps[].previous_secrets":                           {doc: "Rotated-out secrets still accepted for signatures until they expire."},
	"apps[].previous_secrets[].secret":                  {doc: "The old secret."},
	"apps[].previous_secrets[].expires_at":              {doc: "When it stops being accepted, e.g. 2026-01-31T00:00:00Z."},
	"apps[].client_events_per_sec":                      {doc: "Client events per connection per second.", note: "means limits.client_events_per_sec"},
	"apps[].max_user_info_kb":                           {doc: "Largest presence channel_data, in KiB.", note: "means limits.max_user_info_kb"},
	"apps[].max_channels_per_trigger":                   {doc: "Channels in one POST /events.", note: "means 100"},
	"apps[].max_batch_size":                             {doc: "Events in one POST /batch_events.", note: "means 10"},
	"apps[].api_rate_limit":                             {doc: "REST API requests per second; more get 429. 0: unlimited."},
	"apps[].api_rate_burst":                             {doc: "REST API requests at once (token-bucket size).", note: "means api_rate_limit, at least 1"},
	"apps[].allowed_origins":                            {doc: `WebSocket Origin allow-list: "https://app.example.com", "https://*.example.com" or "*"; empty: any.`},
}
