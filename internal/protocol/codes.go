package protocol

// Close and error codes (channels-protocol §5.2). pusher-js never reconnects
// after 4000-4099 or >= 4300, backs off after 41xx and retries at once after
// 42xx, so the code chosen decides the client's next move.
const (
	CodeTLSOnly             = 4000 // close: app requires wss://; pusher-js switches to TLS
	CodeAppNotFound         = 4001 // close: unknown app key
	CodeAppDisabled         = 4003 // close
	CodeOverQuota           = 4004 // close: hard per-app connection limit
	CodePathNotFound        = 4005 // close
	CodeInvalidVersion      = 4006 // close: unparsable protocol version
	CodeUnsupportedProtocol = 4007 // close
	CodeNoProtocol          = 4008 // close: no protocol parameter
	CodeUnauthorized        = 4009 // close and/or pusher:error: bad sign-in, kicked user
	CodeOverCapacity        = 4100 // close: transient capacity, slow consumer; client retries after 1 s
	CodeReconnect           = 4200 // close: restart or shutdown; client reconnects immediately
	CodePongTimeout         = 4201 // close: no pong in time
	CodeInactivity          = 4202 // close: idle client without ping support
	CodeClientRateLimit     = 4301 // pusher:error only; never a close code
	CodeWatchlistLimit      = 4302 // pusher:error only, sent alongside signin_success
)

// Event names of the protocol.
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventSubscriptionError     = "pusher:subscription_error"
	EventCacheMiss             = "pusher:cache_miss"

	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	EventSubscriptionCount     = "pusher_internal:subscription_count"
	EventWatchlistEvents       = "pusher_internal:watchlist_events"

	// ClientEventPrefix starts every event a client may relay to others.
	ClientEventPrefix = "client-"
)
