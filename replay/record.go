// Package replay counts sessions from access logs with the live agent's
// rules: each line's client address, User-Agent and X-Forwarded-For are keyed
// by agent/keying, and the log's own timestamps drive agent/session's table,
// so a log replayed counts what the same traffic metered live would have.
//
// Three line formats are read (format.go): the [DX_UST] field of HCL's User
// Session Reporting Tool anywhere in a line, NCSA combined with an optional
// trailing X-Forwarded-For, and HAProxy's httplog with the User-Agent and
// X-Forwarded-For captured. Parsers use no regular expression and allocate
// nothing: a Record's byte slices point into the line they were given.
// Several files are merged by time into one stream (engine.go), so the logs
// of Active-Active nodes processed together never count a session twice.
//
// Nothing of a line is kept: its values are hashed with a per-process seed
// and forgotten, and a line that fits no format is counted by number, never
// quoted.
package replay

// Record is what a parser takes from one line. Its byte slices point into
// the line: they are valid until the line's buffer is reused.
type Record struct {
	// Time is the request's time, Unix nanoseconds (UTC).
	Time int64
	// Host is the client address as written (an address, or a host name
	// when the server logged names).
	Host []byte
	// UA and XFF are the User-Agent and X-Forwarded-For as written, "-" when
	// the log says the header was absent.
	UA, XFF []byte
	// XFFSent tells that the line carries an X-Forwarded-For value (not "-"
	// and not an empty capture).
	XFFSent bool
	// Path is the request's path without its query string; empty when the
	// line has no request line (a DX_UST field without one).
	Path []byte
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
