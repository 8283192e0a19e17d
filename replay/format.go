package replay

import (
	"bytes"
	"fmt"
)

// Format is a line format.
type Format uint8

const (
	// FormatAuto detects the format of each file from its first lines.
	FormatAuto Format = iota
	// FormatDXUST reads the field `[DX_UST] %t %h "%{User-Agent}i"
	// "%{X-Forwarded-For}i" [/DX_UST]` anywhere in a line; its %t is the
	// request's time. The request path is taken from the line's first
	// quoted request line (`"GET /path HTTP/1.1"`) before the field, if any.
	FormatDXUST
	// FormatNCSA reads NCSA combined, `%h %l %u [%t] "%r" %>s %b
	// "%{Referer}i" "%{User-Agent}i"`, with an optional trailing
	// `"%{X-Forwarded-For}i"`.
	FormatNCSA
	// FormatHAProxy reads HAProxy's default `option httplog` with
	// `capture request header User-Agent` and `capture request header
	// X-Forwarded-For` as the last two captures of the frontend (the
	// `{…|ua|xff}` block: the shipped configuration captures the SPOE error
	// before them). Its accept date
	// carries no offset: it is taken from an RFC 5424 syslog time stamp at the
	// start of the line when there is one, and is UTC otherwise.
	FormatHAProxy
)

// Formats names the formats as the command line does, by Format.
var Formats = [...]string{FormatAuto: "auto", FormatDXUST: "dx-ust", FormatNCSA: "ncsa", FormatHAProxy: "haproxy"}

// String returns the format's command-line name.
func (f Format) String() string {
	if int(f) < len(Formats) {
		return Formats[f]
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ParseFormat returns the Format a command-line name stands for.
func ParseFormat(name string) (Format, bool) {
	for i, n := range Formats {
		if n == name {
			return Format(i), true
		}
	}
	return 0, false
}

// parser parses one line into r and reports whether the line fits.
type parser func(line []byte, r *Record) bool

func parserOf(f Format) parser {
	switch f {
	case FormatDXUST:
		return ParseDXUST
	case FormatNCSA:
		return ParseNCSA
	case FormatHAProxy:
		return ParseHAProxy
	}
	return nil
}

// detectLines is how many of a file's first non-empty lines Detect looks at.
const detectLines = 20

// Detect returns the format most of lines fit (DX_UST first, since a line
// carrying the field is often NCSA as well), and false when none fits any.
func Detect(lines [][]byte) (Format, bool) {
	var r Record
	var fits [len(Formats)]int
	for _, l := range lines {
		for _, f := range []Format{FormatDXUST, FormatHAProxy, FormatNCSA} {
			if parserOf(f)(l, &r) {
				fits[f]++
				break
			}
		}
	}
	best := FormatAuto
	for _, f := range []Format{FormatDXUST, FormatHAProxy, FormatNCSA} {
		if fits[f] > fits[best] {
			best = f
		}
	}
	return best, best != FormatAuto
}

// quoted returns the content of the double-quoted string b starts with (the
// escapes \" and \\ kept as written: see unescaped) and what follows the
// closing quote.
func quoted(b []byte) (value, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return b[1:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// field returns b up to its first space and what follows that space.
func field(b []byte) (value, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// requestPath returns the path of a request line `METHOD TARGET VERSION`
// without its query string (the path of an absolute target), or nil.
func requestPath(req []byte) []byte {
	sp := bytes.IndexByte(req, ' ')
	if sp < 0 {
		return nil
	}
	target := req[sp+1:]
	if end := bytes.IndexByte(target, ' '); end >= 0 {
		target = target[:end]
	}
	if i := bytes.Index(target, []byte("://")); i > 0 && target[0] != '/' {
		host := target[i+3:]
		j := bytes.IndexByte(host, '/')
		if j < 0 {
			return nil
		}
		target = host[j:]
	}
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	return target
}

// trimEOL drops a trailing carriage return and spaces.
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ParseNCSA parses an NCSA combined line, `%h %l %u [%t] "%r" %>s %b
// "%{Referer}i" "%{User-Agent}i"` with an optional trailing
// `"%{X-Forwarded-For}i"`, into r.
func ParseNCSA(line []byte, r *Record) bool {
	line = trimEOL(line)
	host, rest, ok := field(line)
	if !ok {
		return false
	}
	// %l and %u: the user may hold spaces, so the time's " [" ends them.
	open := bytes.Index(rest, []byte(" ["))
	if open < 0 {
		return false
	}
	t, rest, ok := bracketTime(rest[open+2:])
	if !ok {
		return false
	}
	req, rest, ok := quoted(rest)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	status, rest, ok := field(rest[1:])
	if _, isNum := digits(status); !ok || !isNum {
		return false
	}
	size, rest, ok := field(rest)
	if _, isNum := digits(size); !ok || !isNum && !(len(size) == 1 && size[0] == '-') {
		return false
	}
	_, rest, ok = quoted(rest) // referer
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	ua, rest, ok := quoted(rest[1:])
	if !ok {
		return false
	}
	xff := missing
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return false
		}
		if xff, rest, ok = quoted(rest[1:]); !ok || len(rest) != 0 {
			return false
		}
	}
	r.Time, r.Host, r.Path = t, host, requestPath(req)
	r.setUA(unescaped(ua, &r.uaBuf))
	r.setXFF(unescaped(xff, &r.xffBuf))
	return true
}

var (
	dxOpen  = []byte("[DX_UST] [")
	dxClose = []byte(" [/DX_UST]")
)

// ParseDXUST parses the field `[DX_UST] [%t] %h "%{User-Agent}i"
// "%{X-Forwarded-For}i" [/DX_UST]` found anywhere in line into r (Apache
// writes %t in brackets). The path comes from the first quoted request line
// before the field, when there is one.
func ParseDXUST(line []byte, r *Record) bool {
	start := bytes.Index(line, dxOpen)
	if start < 0 {
		return false
	}
	t, rest, ok := bracketTime(line[start+len(dxOpen):])
	if !ok {
		return false
	}
	host, rest, ok := field(rest)
	if !ok {
		return false
	}
	ua, rest, ok := quoted(rest)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	xff, rest, ok := quoted(rest[1:])
	if !ok || !bytes.HasPrefix(rest, dxClose) {
		return false
	}
	r.Time, r.Host, r.Path = t, host, nil
	if q := bytes.IndexByte(line[:start], '"'); q >= 0 {
		if req, _, ok := quoted(line[q:start]); ok {
			r.Path = requestPath(req)
		}
	}
	r.setUA(unescaped(ua, &r.uaBuf))
	r.setXFF(unescaped(xff, &r.xffBuf))
	return true
}

// ParseHAProxy parses HAProxy's default httplog line, `%ci:%cp [%tr] %ft
// %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq
// {%hr} [{%hs}] "%r"`, whose captured request headers end with
// `User-Agent|X-Forwarded-For`, after any syslog header, into r.
func ParseHAProxy(line []byte, r *Record) bool {
	line = trimEOL(line)
	// The client address:port is the field before the first " [dd/".
	open := -1
	for i := 0; i+4 < len(line); i++ {
		if line[i] == ' ' && line[i+1] == '[' && line[i+2] >= '0' && line[i+2] <= '9' && line[i+4] == '/' {
			open = i
			break
		}
	}
	if open < 0 {
		return false
	}
	from := bytes.LastIndexByte(line[:open], ' ') + 1
	client := line[from:open]
	colon := bytes.LastIndexByte(client, ':')
	if colon <= 0 {
		return false
	}
	if _, ok := digits(client[colon+1:]); !ok {
		return false
	}
	host := client[:colon]
	rest := line[open+2:]
	closeAt := bytes.IndexByte(rest, ']')
	if closeAt < 0 {
		return false
	}
	t, ok := parseCLF(rest[:closeAt], false)
	if !ok {
		return false
	}
	if off, ok := syslogOffset(line[:from]); ok {
		t -= off
	}
	rest = rest[closeAt+1:]
	// Ten fields from %ft to %sq/%bq.
	if len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	rest = rest[1:]
	for i := 0; i < 10; i++ {
		if _, rest, ok = field(rest); !ok {
			return false
		}
	}
	if len(rest) == 0 || rest[0] != '{' {
		return false
	}
	end := bytes.IndexByte(rest, '}')
	if end < 0 {
		return false
	}
	captured := rest[1:end]
	bar := bytes.LastIndexByte(captured, '|')
	if bar < 0 {
		return false
	}
	xff := captured[bar+1:]
	ua := captured[:bar]
	if prev := bytes.LastIndexByte(ua, '|'); prev >= 0 {
		ua = ua[prev+1:]
	}
	rest = rest[end+1:]
	if len(rest) > 1 && rest[0] == ' ' && rest[1] == '{' { // captured response headers
		end := bytes.IndexByte(rest, '}')
		if end < 0 {
			return false
		}
		rest = rest[end+1:]
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return false
	}
	req, rest, ok := quoted(rest[1:])
	if !ok || len(rest) != 0 {
		return false
	}
	r.Time, r.Host, r.Path = t, host, requestPath(req)
	r.setUA(decoded(ua, &r.uaBuf))
	r.setXFF(decoded(xff, &r.xffBuf))
	return true
}

// syslogOffset returns the UTC offset written in the RFC 5424 time stamp
// of a syslog header (`<134>1 2009-02-06T12:14:14.655+01:00 host …`):
// HAProxy writes that stamp and the accept date in the same local time.
func syslogOffset(header []byte) (int64, bool) {
	if len(header) == 0 || header[0] != '<' {
		return 0, false
	}
	gt := bytes.IndexByte(header, '>')
	if gt < 0 {
		return 0, false
	}
	version, rest, ok := field(header[gt+1:])
	if !ok || len(version) != 1 || version[0] != '1' {
		return 0, false
	}
	stamp, _, ok := field(rest)
	if !ok {
		return 0, false
	}
	if _, ok := parseRFC3339(stamp); !ok {
		return 0, false
	}
	if stamp[len(stamp)-1] == 'Z' {
		return 0, true
	}
	return parseOffset(stamp[len(stamp)-6:], true)
}

// bracketTime reads a common-log-format time with its offset up to the ']'
// that closes it, followed by a space, and returns it in Unix nanoseconds
// with what follows the space.
func bracketTime(b []byte) (t int64, rest []byte, ok bool) {
	closeAt := bytes.IndexByte(b, ']')
	if closeAt < 0 {
		return 0, nil, false
	}
	t, ok = parseCLF(b[:closeAt], true)
	if !ok || len(b) < closeAt+2 || b[closeAt+1] != ' ' {
		return 0, nil, false
	}
	return t, b[closeAt+2:], true
}
