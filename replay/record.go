// Package replay counts sessions from access logs with the live agent's
// rules: each line's client address, User-Agent and X-Forwarded-For are keyed
// by agent/keying, and the log's own timestamps drive agent/session's table,
// so a log replayed counts what the same traffic metered live would have.
//
// Three line formats are read (format.go): the [DX_UST] field of HCL's User
// Session Reporting Tool anywhere in a line, NCSA combined with an optional
// trailing X-Forwarded-For, and HAProxy's httplog with the User-Agent and
// X-Forwarded-For captured. Parsers use no regular expression and allocate
// nothing: a Record's byte slices point into the line they were given, or
// into the Record's own buffers for a header value written escaped.
// Several files are merged by time into one stream (engine.go), so the logs
// of Active-Active nodes processed together never count a session twice.
//
// Nothing of a line is kept: its values are hashed with a per-process seed
// and forgotten, and a line that fits no format is counted by number, never
// quoted.
package replay

import "bytes"

// Record is what a parser takes from one line. Its byte slices point into
// the line: they are valid until the line's buffer is reused.
type Record struct {
	// Time is the request's time, Unix nanoseconds (UTC).
	Time int64
	// Host is the client address as written (an address, or a host name
	// when the server logged names).
	Host []byte
	// UA and XFF are the User-Agent and X-Forwarded-For as the agent
	// receives them (unescaped, decoded: then they may point into uaBuf and
	// xffBuf instead of the line), "-" when the log says the header was
	// absent.
	UA, XFF []byte
	// XFFSent tells that the line carries an X-Forwarded-For value (not "-"
	// and not an empty capture).
	XFFSent bool
	// Path is the request's path without its query string; empty when the
	// line has no request line (a DX_UST field without one).
	Path []byte

	// uaBuf and xffBuf hold the unescaped values, reused from line to line.
	uaBuf, xffBuf []byte
}

// missing is the value of an absent header.
var missing = []byte("-")

// setXFF sets r's X-Forwarded-For from a logged value: "-" or empty is an
// absent header.
func (r *Record) setXFF(v []byte) {
	if len(v) == 0 || len(v) == 1 && v[0] == '-' {
		r.XFF, r.XFFSent = missing, false
		return
	}
	r.XFF, r.XFFSent = v, true
}

// setUA sets r's User-Agent from a logged value: empty (an empty capture) is
// an absent header.
func (r *Record) setUA(v []byte) {
	if len(v) == 0 {
		v = missing
	}
	r.UA = v
}

// unescaped returns a value of a double-quoted NCSA or DX_UST field with the
// escapes Apache and nginx write undone (\" and \\, \xhh, and \b \n \r \t
// \v), so that it is keyed, excluded and classified as the header the agent
// receives; v itself when it holds no backslash. An unknown escape is kept as
// written. The result lives in *buf, reused from line to line.
func unescaped(v []byte, buf *[]byte) []byte {
	i := bytes.IndexByte(v, '\\')
	if i < 0 {
		return v
	}
	b := append((*buf)[:0], v[:i]...)
	for ; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			b = append(b, c)
			continue
		}
		switch n := v[i+1]; n {
		case '"', '\\':
			b = append(b, n)
			i++
		case 'b':
			b = append(b, '\b')
			i++
		case 'n':
			b = append(b, '\n')
			i++
		case 'r':
			b = append(b, '\r')
			i++
		case 't':
			b = append(b, '\t')
			i++
		case 'v':
			b = append(b, '\v')
			i++
		case 'x':
			hi, lo := -1, -1
			if i+3 < len(v) {
				hi, lo = hexValue(v[i+2]), hexValue(v[i+3])
			}
			if hi < 0 || lo < 0 {
				b = append(b, c)
				continue
			}
			b = append(b, byte(hi<<4|lo))
			i += 3
		default:
			b = append(b, c)
		}
	}
	*buf = b
	return b
}

// hexValue returns the value of a hexadecimal digit, or -1.
func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// decoded returns a header captured in an HAProxy log with HAProxy's
// encoding undone: '#' and two hexadecimal digits stand for the byte they
// give ('"', '#', '{', '|', '}' and every byte outside 32-126), so that it is
// keyed, excluded and classified as the header the agent receives; v itself
// when it holds no '#'. A '#' not followed by two hexadecimal digits is kept
// as written. The result lives in *buf, reused from line to line.
func decoded(v []byte, buf *[]byte) []byte {
	i := bytes.IndexByte(v, '#')
	if i < 0 {
		return v
	}
	b := append((*buf)[:0], v[:i]...)
	for ; i < len(v); i++ {
		if v[i] == '#' && i+2 < len(v) {
			if hi, lo := hexValue(v[i+1]), hexValue(v[i+2]); hi >= 0 && lo >= 0 {
				b = append(b, byte(hi<<4|lo))
				i += 2
				continue
			}
		}
		b = append(b, v[i])
	}
	*buf = b
	return b
}
