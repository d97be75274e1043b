package signing

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"slices"
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
	p, err := readSchemeParams(q)
	if err != nil {
		return Credential{}, err
	}
	for _, i := range [...]schemeParam{spKey, spTimestamp, spVersion, spSignature} {
		if p.value[i] == "" {
			return Credential{}, verifyErr("Missing parameter: " + schemeParamNames[i])
		}
	}
	if p.value[spVersion] != authVersion {
		return Credential{}, verifyErr("Version not supported")
	}

	key := p.value[spKey]
	if !slices.ContainsFunc(creds, func(c Credential) bool { return c.Key == key }) {
		return Credential{}, &VerifyError{Reason: "Unknown auth_key", Kind: KindUnknownKey}
	}

	if err := checkTimestamp(p.value[spTimestamp], now, window); err != nil {
		return Credential{}, err
	}

	// A present body_md5 is checked even for an empty body: a signed digest
	// that no longer matches means the body was altered or dropped.
	hasMD5 := p.present[spBodyMD5]
	if len(body) > 0 && !hasMD5 {
		return Credential{}, verifyErr("Missing parameter: body_md5 (required when the request has a body)")
	}
	if hasMD5 {
		var sum [2 * md5.Size]byte
		if p.value[spBodyMD5] != string(md5Hex(&sum, body)) {
			return Credential{}, verifyErr("Invalid body_md5: it does not match the MD5 of the request body")
		}
	}

	m := getMAC()
	defer m.release()
	m.msg = appendStringToSign(m.msg, method, path, q)
	sig := p.value[spSignature]
	// The signature is compared as bytes in constant time; one of another
	// length cannot match (valid ones have a fixed, public length).
	var given [2 * sha256.Size]byte
	sigLenOK := len(sig) == len(given)
	copy(given[:], sig)
	for _, c := range creds {
		if c.Key != key {
			continue
		}
		if subtle.ConstantTimeCompare(m.sumHex(c.Secret, m.msg), given[:]) == 1 && sigLenOK {
			return c, nil
		}
	}
	// Echoing the string to sign helps SDK authors and leaks nothing: it is
	// built only from what the client sent.
	expected := "Invalid signature: you should have sent HmacSHA256Hex(" + strconv.Quote(string(m.msg)) + ", your_secret_key)"
	return Credential{}, &VerifyError{Reason: expected + ", but you sent " + strconv.Quote(sig), logReason: expected}
}

// parseQuery form-decodes a raw query (%XX and "+" as space). Unlike
// url.ParseQuery it splits on "&" only: ";" is a legal channel-name
// character and may appear raw in filter_by_prefix.
func parseQuery(raw string) (url.Values, error) {
	n := strings.Count(raw, "&") + 1
	q := make(url.Values, n)
	// One array holds the first value of every key (a key is rarely
	// repeated); the three-index slices make a repeat's append copy out.
	vals := make([]string, 0, n)
	// Without "%" or "+" there is nothing to unescape (the SDKs' queries
	// are hex, digits and plain names): one scan instead of one per name
	// and value.
	escaped := strings.IndexByte(raw, '%') >= 0 || strings.IndexByte(raw, '+') >= 0
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		key, val, _ := strings.Cut(part, "=")
		if escaped {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				return nil, verifyErr("Invalid query string: bad escape in parameter name")
			}
			if val, err = url.QueryUnescape(val); err != nil {
				return nil, verifyErr("Invalid query string: bad escape in value of " + strconv.Quote(key))
			}
		}
		if prev, ok := q[key]; ok {
			q[key] = append(prev, val)
			continue
		}
		vals = append(vals, val)
		q[key] = vals[len(vals)-1 : len(vals) : len(vals)]
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
	p, err := readSchemeParams(q)
	if err != nil {
		return ""
	}
	return p.value[spKey]
}

// schemeParam indexes the scheme parameters in schemeParams.
type schemeParam uint8

const (
	spKey schemeParam = iota
	spTimestamp
	spVersion
	spSignature
	spBodyMD5
	numSchemeParams
)

var schemeParamNames = [numSchemeParams]string{
	spKey: paramKey, spTimestamp: paramTimestamp, spVersion: paramVersion, spSignature: paramSignature, spBodyMD5: paramBodyMD5,
}

// schemeParams are the scheme parameters of a query, by lower-cased name.
type schemeParams struct {
	value   [numSchemeParams]string
	present [numSchemeParams]bool
}

// readSchemeParams collects the scheme parameters by lower-cased name. A
// name given more than once (including "auth_signature" next to
// "AUTH_SIGNATURE") is refused: which copy counts would be ambiguous.
func readSchemeParams(q url.Values) (schemeParams, error) {
	var p schemeParams
	for k, vs := range q {
		i, ok := schemeParamIndex(lowerASCII(k))
		if !ok {
			continue
		}
		if p.present[i] || len(vs) != 1 {
			return schemeParams{}, verifyErr("Duplicate parameter: " + schemeParamNames[i])
		}
		p.value[i], p.present[i] = vs[0], true
	}
	return p, nil
}

func schemeParamIndex(lk string) (schemeParam, bool) {
	switch lk {
	case paramKey:
		return spKey, true
	case paramTimestamp:
		return spTimestamp, true
	case paramVersion:
		return spVersion, true
	case paramSignature:
		return spSignature, true
	case paramBodyMD5:
		return spBodyMD5, true
	}
	return 0, false
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
