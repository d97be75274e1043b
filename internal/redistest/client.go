package redistest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/rueidis"
)

// NewClient connects to url (a server of this package, or a cluster's
// seed) without client-side caching, closed when the test ends.
func NewClient(t testing.TB, url string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var prefixes atomic.Int64

// NewPrefix is a key prefix no other test of the process uses, so that
// tests can share one server.
func NewPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }
