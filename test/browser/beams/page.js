'use strict';
// Stand-in for the browser's push service subscription, installed before the
// web SDK loads. Headless Chromium cannot subscribe at a real push service
// (no FCM in the test), so only PushManager.prototype.subscribe and
// getSubscription are replaced: subscribe() asks the test backend to create a
// subscription at the loopback push service (test/compat/pushservice.js) for
// the applicationServerKey the SDK passes (the VAPID key Herald served), and
// returns a PushSubscription-like object whose JSON form is what a real one
// gives. Everything else on this page is the SDK's own code.
(function () {
  const calls = [];
  let current = null;

  function b64url(bytes) {
    let s = '';
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function fromB64url(s) {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  function makeSubscription(json, options) {
    return {
      endpoint: json.endpoint,
      expirationTime: null,
      options,
      getKey(name) {
        const v = json.keys[name];
        return v ? fromB64url(v).buffer : null;
      },
      toJSON() {
        return { endpoint: json.endpoint, expirationTime: null, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } };
      },
      unsubscribe() {
        calls.push({ call: 'unsubscribe', endpoint: json.endpoint });
        if (current && current.endpoint === json.endpoint) current = null;
        return Promise.resolve(true);
      },
    };
  }

  PushManager.prototype.subscribe = async function subscribe(options) {
    const key = options && options.applicationServerKey;
    calls.push({ call: 'subscribe', userVisibleOnly: options && options.userVisibleOnly, keyLength: key ? key.byteLength : 0 });
    // What the browser enforces: permission, userVisibleOnly, a key.
    if (Notification.permission !== 'granted') throw new DOMException('Registration failed - permission denied', 'NotAllowedError');
    if (!options || options.userVisibleOnly !== true) throw new DOMException('userVisibleOnly must be true', 'NotAllowedError');
    if (!key) throw new DOMException('applicationServerKey required', 'AbortError');
    const applicationServerKey = b64url(key instanceof ArrayBuffer ? key : key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength));
    const res = await fetch('/test/subscribe', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ applicationServerKey }),
    });
    if (!res.ok) throw new DOMException(`push service refused: ${res.status} ${await res.text()}`, 'AbortError');
    current = makeSubscription(await res.json(), { userVisibleOnly: true, applicationServerKey: fromB64url(applicationServerKey).buffer });
    return current;
  };

  PushManager.prototype.getSubscription = async function getSubscription() {
    return current;
  };

  window.pushStandIn = {
    calls,
    current: () => (current ? current.toJSON() : null),
  };
})();
