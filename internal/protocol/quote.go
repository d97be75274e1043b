package protocol

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal. Output is always valid
// UTF-8, because browsers fail the whole connection (close 1007) on a text
// frame that is not: invalid bytes become \ufffd, as encoding/json does.
// Unlike encoding/json it leaves <, > and & alone (frames are never embedded
// in HTML, and escaping would inflate every payload), but it escapes U+2028
// and U+2029 for pre-ES2019 JavaScript parsers.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quotedLen estimates the encoded length of s, enough to size a buffer in
// one allocation for typical payloads (JSON text has many quotes to escape).
func quotedLen(s string) int { return len(s) + len(s)/4 + 2 }
