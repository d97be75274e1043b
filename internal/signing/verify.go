package signing

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultWindow is the allowed clock skew of auth_timestamp (strictly less
// than this), as enforced by hosted Pusher.
const DefaultWindow = 600 * time.Second

// VerifyError is every REST authentication failure; the HTTP layer answers
// it with 401 and Reason as the body. Reasons never contain a secret.
type VerifyError struct {
	Reason string
	// Kind says which check refused: KindUnknownKey, KindTimestamp, or ""
	// for the signature and the other auth parameters.
	Kind string

	// logReason, when set, is Reason without the signature the client sent.
	logReason string
}

func (e *VerifyError) Error() string { return e.Reason }

// LogReason is Reason fit for a log: a signature mismatch echoes the
// client's auth_signature (hosted wording), which must not be logged in full.
func (e *VerifyError) LogReason() string {
	if e.logReason != "" {
		return e.logReason
	}
	return e.Reason
}

func verifyErr(reason string) error { return &VerifyError{Reason: reason} }

// Kinds of VerifyError worth telling apart in counts (failed-authorization
// charts): a wrong key and a stale clock are not forged signatures.
const (
	KindUnknownKey = "unknown_key"
	KindTimestamp  = "timestamp"
)

// VerifyRequest authenticates a signed REST request (http-api.md §2.3) and
// returns the credential that signed it. Checks run in the hosted order —
// presence of the auth parameters, version, key, timestamp, body_md5,
// signature — so clients see the same first complaint hosted Pusher gives.
// Several creds may share a key during a rotation: any one verifying wins.
// window <= 0 means DefaultWindow.
func VerifyRequest(method, path, rawQuery string, body []byte, creds []Credential, now time.Time, window time.Duration) (Credential, error) {
	q, err := parseQuery(rawQuery)
	if err != nil {
		return Credential{}, err
	}
	return VerifyQuery(method, path, q, body, creds, now, window)
}

// VerifyQuery is VerifyRequest for a query already read with ParseQuery,
// so that a handler reads its parameters from the same values it verified.
func VerifyQuery(method, path string, q url.Values, body []byte, creds []Credential, now time.Time, window time.Duration) (Credential, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	p, err := schemeParams(q)
	if err != nil {
		return Credential{}, err
	}
	for _, name := range [...]string{paramKey, paramTimestamp, paramVersion, paramSignature} {
		if p[name] == "" {
			return Credential{}, verifyErr("Missing parameter: " + name)
		}
	}
	if p[paramVersion] != authVersion {
		return Credential{}, verifyErr("Version not supported")
	}

	var candidates []Credential
	for _, c := range creds {
		if c.Key == p[paramKey] {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) == 0 {
		return Credential{}, &VerifyError{Reason: "Unknown auth_key", Kind: KindUnknownKey}
	}

	if err := checkTimestamp(p[paramTimestamp], now, window); err != nil {
		return Credential{}, err
	}

	// A present body_md5 is checked even for an empty body: a signed digest
	// that no longer matches means the body was altered or dropped.
	md5, hasMD5 := p[paramBodyMD5]
	if len(body) > 0 && !hasMD5 {
		return Credential{}, verifyErr("Missing parameter: body_md5 (required when the request has a body)")
	}
	if hasMD5 && md5 != MD5Hex(body) {
		return Credential{}, verifyErr("Invalid body_md5: it does not match the MD5 of the request body")
	}

	sts := StringToSign(method, path, q)
	sig := p[paramSignature]
	for _, c := range candidates {
		if equal(HMACHex(c.Secret, []byte(sts)), sig) {
			return c, nil
		}
	}
	// Echoing the string to sign helps SDK authors and leaks nothing: it is
	// built only from what the client sent.
	expected := "Invalid signature: you should have sent HmacSHA256Hex(" + strconv.Quote(sts) + ", your_secret_key)"
	return Credential{}, &VerifyError{Reason: expected + ", but you sent " + strconv.Quote(sig), logReason: expected}
}

// parseQuery form-decodes a raw query (%XX and "+" as space). Unlike
// url.ParseQuery it splits on "&" only: ";" is a legal channel-name
// character and may appear raw in filter_by_prefix.
func parseQuery(raw string) (url.Values, error) {
	q := make(url.Values)
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, verifyErr("Invalid query string: bad escape in parameter name")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, verifyErr("Invalid query string: bad escape in value of " + strconv.Quote(key))
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}

// ParseQuery is how a signed request's query is read: the parameters
// that were signed, exactly. Handlers must read their parameters from it,
// not from url.ParseQuery (which drops any pair containing ";").
func ParseQuery(raw string) (url.Values, error) { return parseQuery(raw) }

// QueryKey returns the auth_key of a query read with ParseQuery, as the
// signature check reads it (any case of the name); "" when it is missing
// or given more than once. Routes that name no app find theirs by it.
func QueryKey(q url.Values) string {
	p, err := schemeParams(q)
	if err != nil {
		return ""
	}
	return p[paramKey]
}

// schemeParams collects the scheme parameters by lower-cased name. A name
// given more than once (including "auth_signature" next to
// "AUTH_SIGNATURE") is refused: which copy counts would be ambiguous.
func schemeParams(q url.Values) (map[string]string, error) {
	p := make(map[string]string, 5)
	for k, vs := range q {
		lk := lowerASCII(k)
		if !isSchemeParam(lk) {
			continue
		}
		if _, dup := p[lk]; dup || len(vs) != 1 {
			return nil, verifyErr("Duplicate parameter: " + lk)
		}
		p[lk] = vs[0]
	}
	return p, nil
}

// checkTimestamp enforces |now - ts| < window in whole seconds.
func checkTimestamp(raw string, now time.Time, window time.Duration) error {
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return &VerifyError{Reason: "Invalid auth_timestamp: expected Unix time in seconds", Kind: KindTimestamp}
	}
	nowS := now.Unix()
	maxSkew := uint64((window - 1) / time.Second) // largest allowed |difference|
	// Unsigned subtraction gives the exact distance for any two int64s, so
	// absurd timestamps cannot overflow their way into the window.
	var diff uint64
	if ts >= nowS {
		diff = uint64(ts) - uint64(nowS)
	} else {
		diff = uint64(nowS) - uint64(ts)
	}
	if diff <= maxSkew {
		return nil
	}
	return &VerifyError{Kind: KindTimestamp, Reason: "Timestamp expired: Given timestamp (" + formatUnix(ts) +
		") not within " + formatWindow(window) + " of server time (" + formatUnix(nowS) + ")"}
}

func formatUnix(s int64) string {
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

func formatWindow(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
