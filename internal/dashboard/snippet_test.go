package dashboard

import (
	"testing"
	"time"
)

func TestSnippets(t *testing.T) {
	cfg := Config{PublicHost: "0.0.0.0", PublicPort: 6001}
	if got, want := cfg.pusherJSSnippet("app-key"), `import Pusher from 'pusher-js';
const pusher = new Pusher('app-key', {
  wsHost: '127.0.0.1',
  wsPort: 6001,
  wssPort: 6001,
  forceTLS: false,
  enabledTransports: ['ws', 'wss'],
  cluster: 'herald',
  channelAuthorization: { endpoint: '/pusher/auth' }, // your backend; in Node a full URL
});
`; got != want {
		t.Errorf("pusher-js:\n%s\nwant:\n%s", got, want)
	}
	if got, want := cfg.pusherNodeSnippet("app-id", "app-key", ""), `const Pusher = require('pusher'); // the server SDK, not pusher-js
const pusher = new Pusher({
  appId: 'app-id',
  key: 'app-key',
  secret: process.env.PUSHER_APP_SECRET,
  host: '127.0.0.1',
  port: '6001',
  useTLS: false,
});
await pusher.trigger('my-channel', 'my-event', { message: 'hello' });
`; got != want {
		t.Errorf("pusher (Node):\n%s\nwant:\n%s", got, want)
	}

	tls := Config{PublicHost: "[2001:db8::1]", PublicPort: 443, TLS: true, PathPrefix: "/rt/"}
	if got, want := tls.pusherJSSnippet("k"), `import Pusher from 'pusher-js';
const pusher = new Pusher('k', {
  wsHost: '2001:db8::1',
  wsPort: 443,
  wssPort: 443,
  wsPath: '/rt',
  forceTLS: true,
  enabledTransports: ['ws', 'wss'],
  cluster: 'herald',
  channelAuthorization: { endpoint: '/pusher/auth' }, // your backend; in Node a full URL
});
`; got != want {
		t.Errorf("pusher-js with TLS and a prefix:\n%s\nwant:\n%s", got, want)
	}
	if got, want := tls.pusherNodeSnippet("i", "k", "it's-a-secret"), `const Pusher = require('pusher'); // the server SDK, not pusher-js
const pusher = new Pusher({
  appId: 'i',
  key: 'k',
  secret: 'it\'s-a-secret',
  host: '2001:db8::1',
  port: '443',
  useTLS: true,
});
await pusher.trigger('my-channel', 'my-event', { message: 'hello' });
`; got != want {
		t.Errorf("pusher (Node) with TLS and a secret:\n%s\nwant:\n%s", got, want)
	}
	if got, want := cfg.beamsNodeSnippet("inst", ""), `const PushNotifications = require('@pusher/push-notifications-server');
const beams = new PushNotifications({
  instanceId: 'inst',
  secretKey: process.env.BEAMS_SECRET_KEY,
  endpoint: '127.0.0.1',
  port: 6001,
});
beams.publishToInterests(['hello'], { web: { notification: { title: 'Hello', body: 'Hello, world!' } } });
`; got != want {
		t.Errorf("Beams (Node):\n%s\nwant:\n%s", got, want)
	}
}

func TestDefaultPublicPort(t *testing.T) {
	h := New(Config{Token: testToken}, Deps{})
	if h.cfg.PublicPort != 6001 {
		t.Errorf("PublicPort defaults to %d, want 6001", h.cfg.PublicPort)
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:                         "24h",
		90 * time.Minute:                       "1h30m",
		15 * time.Minute:                       "15m",
		45 * time.Second:                       "45s",
		2*time.Hour + 29*time.Second:           "2h",
		10*time.Minute + 1500*time.Millisecond: "10m2s",
	} {
		if got := roundDuration(d); got != want {
			t.Errorf("roundDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
