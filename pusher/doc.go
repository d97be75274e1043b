// Package pusher is the Go server SDK for Herald and any Pusher Channels
// compatible server: it publishes events, queries channel state, signs the
// channel authorizations and user sign-ins that pusher-js asks the app
// backend for, encrypts payloads for private-encrypted- channels and
// verifies webhooks.
//
// Every call that does I/O takes a context first and one params struct,
// returns typed results, and reports problems as:
//
//   - *ValidationError (errors.Is(err, ErrInvalidParams)) for input refused
//     before any request: channel names ([-a-zA-Z0-9_=@,.;], ≤ 200 bytes),
//     1–100 channels, event names (1–200 bytes), data ≤ 10,240 bytes after
//     encoding, socket ids (^\d+\.\d+$), 1–10 batch events, user ids
//     (1–200 bytes), encrypted channels without a master key
//     (errors.Is(err, ErrNoMasterKey));
//   - *RequestError{Status, Body} for a non-2xx answer;
//   - errors wrapping ErrInvalidResponse for a 2xx answer that is empty or
//     not the expected JSON;
//   - *WebhookError (errors.Is(err, ErrInvalidWebhook)) from ParseWebhook;
//   - transport and context errors, wrapped with %w.
//
// The package is a module of its own (Go 1.24+, depending only on
// golang.org/x/crypto): importing it brings none of the server's
// dependencies. Its signing is tested against the spec's vectors and
// against Herald itself. Requests carry Content-Type: application/json and
// X-Pusher-Library: herald-go <Version>, and reuse connections of one
// http.Client. Request bodies use the key order of pusher-http-node.
//
// # Construction
//
//	c, err := pusher.New(pusher.Config{
//		AppID: "1", Key: "app-key", Secret: "app-secret",
//		Host: "127.0.0.1:6001", // Scheme "http" by default
//		EncryptionMasterKeyBase64: os.Getenv("MASTER_KEY"), // optional
//	})
//	c, err = pusher.NewFromURL("http://app-key:app-secret@127.0.0.1:6001/apps/1")
//	c, err = pusher.NewFromEnv() // HERALD_URL, PUSHER_URL or PUSHER_APP_ID/KEY/SECRET/HOST/PORT/SCHEME
//
// # Publishing
//
//	res, err := c.Trigger(ctx, pusher.TriggerParams{
//		Channels: []string{"orders", "presence-room"},
//		Event:    "order-shipped",
//		Data:     map[string]any{"id": 42}, // strings and []byte are sent as they are
//		SocketID: senderSocketID,           // optional: skip the sender
//		Info:     []string{pusher.InfoSubscriptionCount},
//	})
//	n := res.Channels["orders"].SubscriptionCount
//
//	batch, err := c.TriggerBatch(ctx, []pusher.BatchEvent{
//		{Channel: "orders", Event: "created", Data: "1"},
//		{Channel: "presence-room", Event: "ping", Data: "{}", Info: []string{pusher.InfoUserCount}},
//	})
//	users := batch.Batch[1].UserCount
//
//	err = c.SendToUser(ctx, pusher.SendToUserParams{UserID: "42", Event: "notice", Data: "hi"})
//	err = c.TerminateUserConnections(ctx, "42") // closed with 4009
//
// A Trigger on a private-encrypted- channel encrypts Data with NaCl
// secretbox under the channel's key (SHA-256 of the name and the master
// key); such a channel must be the only one of its Trigger. Decrypt and
// Client.Decrypt open such payloads.
//
// # Queries
//
//	list, err := c.Channels(ctx, pusher.ChannelsParams{Prefix: "presence-", Info: []string{pusher.InfoUserCount}})
//	st, err := c.Channel(ctx, "cache-prices", pusher.ChannelParams{Info: []string{pusher.InfoSubscriptionCount, pusher.InfoCache}})
//	members, err := c.PresenceUsers(ctx, "presence-room") // []pusher.User{{ID: "42"}}
//
// # Auth endpoints
//
//	http.HandleFunc("/pusher/auth", func(w http.ResponseWriter, r *http.Request) {
//		body, _ := io.ReadAll(r.Body)
//		p, err := pusher.ParseChannelAuthRequest(body) // socket_id, channel_name
//		if err != nil { http.Error(w, err.Error(), http.StatusBadRequest); return }
//		p.Member = &pusher.Member{UserID: "42", UserInfo: map[string]string{"name": "Ann"}} // presence only
//		auth, err := c.AuthorizeChannel(p)
//		if err != nil { http.Error(w, err.Error(), http.StatusForbidden); return }
//		json.NewEncoder(w).Encode(auth) // {"auth":…,"channel_data":…,"shared_secret":…}
//	})
//
//	http.HandleFunc("/pusher/user-auth", func(w http.ResponseWriter, r *http.Request) {
//		body, _ := io.ReadAll(r.Body)
//		sid, err := pusher.ParseUserAuthRequest(body)
//		...
//		ua, err := c.AuthenticateUser(pusher.UserAuthParams{SocketID: sid, User: pusher.UserData{ID: "42"}})
//		json.NewEncoder(w).Encode(ua) // {"auth":…,"user_data":…}
//	})
//
// A presence channel needs a Member, except when the browser has signed in
// with pusher.signin(): then set UseSignedInUser and the server uses the
// signed-in user as the member.
//
// # Webhooks
//
//	http.HandleFunc("/pusher/webhook", func(w http.ResponseWriter, r *http.Request) {
//		wh, err := c.ParseWebhookRequest(r) // or c.ParseWebhook(r.Header, body)
//		if err != nil { http.Error(w, err.Error(), http.StatusUnauthorized); return }
//		for _, e := range wh.Events { log.Println(e.Name, e.Channel, e.UserID) }
//	})
package pusher
