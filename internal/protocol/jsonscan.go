package protocol

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// This file walks the top level of JSON objects that json.Valid has already
// accepted. A hand walk instead of json.Unmarshal into a struct because
// encoding/json matches keys case-insensitively ("EVENT" would fill Event)
// while every Pusher client and JSON.parse are case-sensitive; and because
// it lets values stay raw slices without a decode-then-re-encode round trip.
// Every function here assumes valid JSON; callers validate first.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string literal starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at i. It is
// iterative, so nesting depth cannot exhaust the stack.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
			i++
		}
		return i
	}
}

// objectIter yields the members of a valid JSON object in order.
type objectIter struct {
	b []byte
	i int
}

// newObjectIter reports false when the valid JSON value b is not an object.
func newObjectIter(b []byte) (objectIter, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objectIter{}, false
	}
	return objectIter{b: b, i: i + 1}, true
}

// next returns the raw key (with quotes) and raw value of the next member.
func (it *objectIter) next() (key, val []byte, ok bool) {
	b := it.b
	i := skipSpace(b, it.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		it.i = len(b)
		return nil, nil, false
	}
	k := skipString(b, i)
	key = b[i:k]
	i = skipSpace(b, k)
	if i >= len(b) || b[i] != ':' {
		it.i = len(b)
		return nil, nil, false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) {
		it.i = len(b)
		return nil, nil, false
	}
	v := skipValue(b, i)
	it.i = v
	return key, b[i:v], true
}

// ObjectMembers calls fn with the raw key (quotes included) and raw value
// of each top-level member of the JSON object b, in order, without
// allocating; the slices alias b. Unlike the rest of this file it needs no
// validated input (clients of a server, such as the load generator, read
// frames they do not validate): it never reads past b, and it reports
// false when b is not an object or ends, or a member is malformed, before
// the closing brace (fn may have seen the members before that point).
func ObjectMembers(b []byte, fn func(key, val []byte)) bool {
	it, ok := newObjectIter(b)
	if !ok {
		return false
	}
	for {
		if i := skipSpace(b, it.i); i < len(b) && b[i] == '}' {
			return true
		}
		k, v, ok := it.next()
		if !ok {
			return false
		}
		fn(k, v)
	}
}

// fields walks the object and returns the raw values of the named keys, in
// the order named, nil for a key that is absent. For a repeated key the last
// one wins, as with JSON.parse.
func (it objectIter) fields(names ...string) (vals [3][]byte) {
	for {
		k, v, ok := it.next()
		if !ok {
			return vals
		}
		for i, name := range names {
			if isKey(k, name) {
				vals[i] = v
				break
			}
		}
	}
}

// isKey reports whether the raw key literal decodes to exactly name.
func isKey(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

func isNull(raw []byte) bool { return string(raw) == "null" }

// decodeString decodes a valid JSON value if it is a string. Strings without
// escapes that are valid UTF-8 are copied directly; the rest go through
// encoding/json, which also maps invalid UTF-8 to U+FFFD as JSON.parse
// callers would see it.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
