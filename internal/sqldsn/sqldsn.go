// Package sqldsn holds what the SQL stores (the app store and the Beams
// device store) share about database connection strings and queries:
// keeping passwords out of what they print, and PostgreSQL placeholders.
package sqldsn

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Numbered rewrites ? placeholders as PostgreSQL's $1, $2, ... The stores'
// queries never contain a literal question mark.
func Numbered(query string) string {
	var b strings.Builder
	b.Grow(len(query) + len(query)/8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Redact hides the password of a URL-shaped DSN, in its user info and in a
// password= query parameter.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if strings.Contains(dsn, "@") {
			return "<unparsable DSN>"
		}
		return dsn
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// password returns the password a DSN carries, or "".
func password(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok && p != "" {
		return p
	}
	return u.Query().Get("password")
}

// Scrub removes the DSN's password from a driver error. When the password
// appears, the error chain is cut too, so nothing can print the original.
func Scrub(err error, dsn string) error {
	p := password(dsn)
	if err == nil || p == "" || !strings.Contains(err.Error(), p) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
}
