package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/apps"
)

// fakeTester records the tests asked for and answers with res and err.
type fakeTester struct {
	mu    sync.Mutex
	calls []testCall
	res   WebhookTestResult
	err   error
}

type testCall struct {
	appID, secret, url string
}

func (f *fakeTester) TestWebhook(_ context.Context, a *apps.App, u string) (WebhookTestResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, testCall{a.ID, a.Secret, u})
	return f.res, f.err
}

func (f *fakeTester) called() []testCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]testCall(nil), f.calls...)
}

// newTesterHarness is a logged-in harness whose dashboard has tester.
func newTesterHarness(t *testing.T, tester WebhookTester) *harness {
	t.Helper()
	hs := newHarness(t, harnessOpts{})
	hs.h = New(Config{Token: testToken}, Deps{Apps: hs.apps, WebhookTester: tester,
		Logger: slog.New(slog.NewTextHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    hs.clock})
	hs.login()
	return hs
}

// createApp makes app id through the dashboard with one webhook per URL.
func (hs *harness) createApp(id string, urls ...string) {
	hs.t.Helper()
	form := url.Values{"id": {id}, "webhook_rows": {"20"}}
	for i, u := range urls {
		p := "webhook_" + strconv.Itoa(i) + "_"
		form.Set(p+"url", u)
		form.Set(p+"event_types", "channel_occupied")
	}
	hs.wantRedirect(hs.post("/apps", form), "/apps/"+id+"?notice=created")
}

const (
	hookA = "https://a.example.com/hooks?token=t0ken"
	hookB = "https://b.example.com/pusher"
)

func TestWebhookTestButtons(t *testing.T) {
	hs := newTesterHarness(t, &fakeTester{})
	hs.createApp("shop", hookA, hookB)
	hs.createApp("bare")

	page := hs.get("/apps/shop/edit")
	hs.want(page, http.StatusOK, `<form id="webhook-test" method="post" action="/apps/shop/webhooks/test">`,
		`form="webhook-test" name="url" value="https://a.example.com/hooks?token=t0ken"`,
		`form="webhook-test" name="url" value="https://b.example.com/pusher"`,
		"save a new or changed URL first")
	if n := strings.Count(page.body, ">Send test webhook</button>"); n != 2 {
		t.Errorf("%d test buttons, want 2 (none for the empty row)", n)
	}
	// The test form carries the session's CSRF token.
	if i := strings.Index(page.body, `<form id="webhook-test"`); i < 0 || !strings.Contains(page.body[i:], `name="csrf" value="`+hs.csrf+`"`) {
		t.Error("the test form has no CSRF token")
	}

	// An app without webhooks, the create form, and a refused edit (its
	// rows are not saved): no buttons.
	for _, body := range []string{
		hs.get("/apps/bare/edit").body,
		hs.get("/apps/new").body,
		hs.post("/apps/shop/edit", url.Values{"key": {"k!"}, "webhook_rows": {"1"}, "webhook_0_url": {hookA}}).body,
	} {
		if strings.Contains(body, "Send test webhook</button>") {
			t.Errorf("a test button where none belongs:\n%s", body)
		}
	}

	// Under the /dashboard prefix the form posts there.
	hs.want(hs.get("/dashboard/apps/shop/edit"), http.StatusOK, `action="/dashboard/apps/shop/webhooks/test"`)
}

func TestWebhookTestNoTester(t *testing.T) {
	hs := newHarness(t, harnessOpts{})
	hs.login()
	hs.createApp("shop", hookA)
	page := hs.get("/apps/shop/edit")
	hs.want(page, http.StatusOK)
	if strings.Contains(page.body, "Send test webhook") || strings.Contains(page.body, `id="webhook-test"`) {
		t.Error("test buttons without a tester")
	}
	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}}), http.StatusNotFound)
}

func TestWebhookTestNeedsSessionAndCSRF(t *testing.T) {
	ft := &fakeTester{res: WebhookTestResult{Status: 200}}
	hs := newTesterHarness(t, ft)
	hs.createApp("shop", hookA)

	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}, csrfField: {"forged"}}), http.StatusForbidden)
	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}, csrfField: {""}}), http.StatusForbidden)
	// A foreign page posting with the right token is refused by its origin.
	form := url.Values{"url": {hookA}, csrfField: {hs.csrf}}
	r := hs.do("POST", "/apps/shop/webhooks/test", strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"https://evil.example"}})
	hs.want(r, http.StatusForbidden)
	if r := hs.get("/apps/shop/webhooks/test"); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.code)
	}
	delete(hs.cookies, sessionCookie)
	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}}), http.StatusUnauthorized)
	if calls := ft.called(); len(calls) != 0 {
		t.Fatalf("sent without a session or token: %+v", calls)
	}
}

func TestWebhookTestOnlySavedURLs(t *testing.T) {
	ft := &fakeTester{res: WebhookTestResult{Status: 200}}
	hs := newTesterHarness(t, ft)
	hs.createApp("shop", hookA)
	hs.createApp("other", hookB)

	for _, u := range []string{"", "http://169.254.169.254/latest/meta-data", hookB, hookA + "&x=1", " " + hookA} {
		r := hs.post("/apps/shop/webhooks/test", url.Values{"url": {u}})
		hs.want(r, http.StatusUnprocessableEntity, "only a saved webhook URL of this app can be tested", "Save the settings first")
	}
	hs.want(hs.post("/apps/nope/webhooks/test", url.Values{"url": {hookA}}), http.StatusNotFound)
	if calls := ft.called(); len(calls) != 0 {
		t.Fatalf("sent to a URL the app does not have: %+v", calls)
	}
}

func TestWebhookTestShowsAnswer(t *testing.T) {
	ft := &fakeTester{res: WebhookTestResult{Status: 500, Latency: 12300 * time.Microsecond,
		ContentType: "text/html", Body: `<script>alert("owned")</script> & more`}}
	hs := newTesterHarness(t, ft)
	hs.createApp("shop", hookA, hookB)

	r := hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookB}})
	hs.want(r, http.StatusOK, `id="webhook-test-result"`, "500 Internal Server Error", "12.3 ms", "<code>text/html</code>",
		`<pre id="webhook-test-body">&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; &amp; more</pre>`,
		"deliveries fail and are retried", "Settings of app shop", `name="webhook_1_url"`)
	if strings.Contains(r.body, `<script>alert(`) {
		t.Fatal("the receiver's body is not escaped")
	}
	a := hs.app("shop")
	if calls := ft.called(); len(calls) != 1 || calls[0] != (testCall{"shop", a.Secret, hookB}) {
		t.Fatalf("calls %+v", calls)
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, "test webhook sent") || !strings.Contains(logs, "app_id=shop") || !strings.Contains(logs, "status=500") {
		t.Errorf("not logged:\n%s", logs)
	}
	if strings.Contains(logs, "t0ken") || strings.Contains(logs, a.Secret) {
		t.Errorf("the log holds the URL's token or the secret:\n%s", logs)
	}

	// A 2xx, a redirect and a refusal each say what they mean.
	for status, want := range map[int]string{
		204: "Accepted: deliveries to this URL count as delivered.",
		302: "webhooks do not follow redirects",
		401: "verifies X-Pusher-Signature with this app&#39;s key and current secret",
	} {
		hs.advance(2 * time.Second)
		ft.mu.Lock()
		ft.res = WebhookTestResult{Status: status}
		ft.mu.Unlock()
		hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}}), http.StatusOK, want)
	}

	// No answer: the error, clearly.
	hs.advance(2 * time.Second)
	ft.mu.Lock()
	ft.res, ft.err = WebhookTestResult{Latency: 5 * time.Second}, errors.New("timeout: no answer within 5s")
	ft.mu.Unlock()
	r = hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}})
	hs.want(r, http.StatusOK, `<p class="error" role="status">No answer: timeout: no answer within 5s</p>`, "no answer</dd>", "5000.0 ms")
	if strings.Contains(r.body, "Response body") {
		t.Error("a body section without an answer")
	}
}

func TestWebhookTestRateLimited(t *testing.T) {
	ft := &fakeTester{res: WebhookTestResult{Status: 200}}
	hs := newTesterHarness(t, ft)
	hs.createApp("shop", hookA, hookB)
	hs.createApp("other", hookB)

	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookA}}), http.StatusOK, "200 OK")
	hs.advance(500 * time.Millisecond)
	r := hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookB}}) // another URL of the same app too
	hs.want(r, http.StatusTooManyRequests, "less than 2s ago", "Try again in 2s")
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q", got)
	}
	// Another app is not held back.
	hs.want(hs.post("/apps/other/webhooks/test", url.Values{"url": {hookB}}), http.StatusOK, "200 OK")
	hs.advance(1500 * time.Millisecond)
	hs.want(hs.post("/apps/shop/webhooks/test", url.Values{"url": {hookB}}), http.StatusOK, "200 OK")
	if n := len(ft.called()); n != 3 {
		t.Errorf("%d tests sent, want 3", n)
	}
}

func TestTestLimiterBounded(t *testing.T) {
	l := newTestLimiter(time.Second)
	now := time.Unix(1e9, 0)
	for i := range maxTestLimited {
		if l.take(string(rune('a'+i%26))+strings.Repeat("x", i/26), now) != 0 {
			t.Fatal("a first test held back")
		}
	}
	if l.take("late", now.Add(time.Second)) != 0 || len(l.last) != 1 {
		t.Errorf("%d entries kept after the interval", len(l.last))
	}
	if l.take("late", now) != 0 { // the clock went back
		t.Error("a clock going back holds tests back")
	}
}
