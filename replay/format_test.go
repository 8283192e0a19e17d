package replay

import (
	"bytes"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixNano()
}

func TestParsers(t *testing.T) {
	tests := []struct {
		name  string
		parse parser
		line  string
		ok    bool
		time  string
		host  string
		ua    string
		xff   string
		sent  bool
		path  string
	}{
		{"ncsa", ParseNCSA, `192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET /a/b?x=1 HTTP/1.1" 200 2326 "http://example.com/" "Mozilla/5.0 (X11)"`,
			true, "2026-10-10T20:55:36Z", "192.0.2.1", "Mozilla/5.0 (X11)", "-", false, "/a/b"},
		{"ncsa xff", ParseNCSA, "192.0.2.1 - jo smith [01/Jan/2027:00:30:00 +0200] \"POST /logout HTTP/1.1\" 302 - \"-\" \"UA \\\"q\\\"\" \"203.0.113.9, 10.0.0.1\"\r",
			true, "2026-12-31T22:30:00Z", "192.0.2.1", `UA "q"`, "203.0.113.9, 10.0.0.1", true, "/logout"},
		{"ncsa absolute target", ParseNCSA, `::1 - - [29/Feb/2028:23:59:59 +0000] "GET http://h.example/x/logout?a HTTP/1.1" 200 1 "-" "-" "-"`,
			true, "2028-02-29T23:59:59Z", "::1", "-", "-", false, "/x/logout"},
		{"ncsa bad date", ParseNCSA, `192.0.2.1 - - [29/Feb/2027:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "UA"`, false, "", "", "", "", false, ""},
		{"ncsa no offset", ParseNCSA, `192.0.2.1 - - [10/Oct/2026:13:55:36] "GET / HTTP/1.1" 200 1 "-" "UA"`, false, "", "", "", "", false, ""},
		{"ncsa common", ParseNCSA, `192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1`, false, "", "", "", "", false, ""},
		{"ncsa extra", ParseNCSA, `192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "UA" "x" "y"`, false, "", "", "", "", false, ""},
		{"dx-ust", ParseDXUST, `10.0.0.5 - - [10/Oct/2026:13:55:36 -0500] "GET /wps/logout HTTP/1.1" 200 5 [DX_UST] [10/Oct/2026:13:55:36 -0500] 192.0.2.7 "Mozilla/5.0" "198.51.100.1" [/DX_UST]`,
			true, "2026-10-10T18:55:36Z", "192.0.2.7", "Mozilla/5.0", "198.51.100.1", true, "/wps/logout"},
		{"dx-ust alone", ParseDXUST, `[DX_UST] [10/Oct/2026:13:55:36 +0000] 192.0.2.7 "Mozilla/5.0" "-" [/DX_UST] trailing`,
			true, "2026-10-10T13:55:36Z", "192.0.2.7", "Mozilla/5.0", "-", false, ""},
		{"dx-ust unclosed", ParseDXUST, `[DX_UST] [10/Oct/2026:13:55:36 +0000] 192.0.2.7 "Mozilla/5.0" "-"`, false, "", "", "", "", false, ""},
		{"haproxy", ParseHAProxy, `Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2026:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {Mozilla/5.0 (X11)|203.0.113.4} "GET /index.html?q HTTP/1.1"`,
			true, "2026-02-06T12:14:14.655Z", "10.0.1.2", "Mozilla/5.0 (X11)", "203.0.113.4", true, "/index.html"},
		{"haproxy rfc5424 offset", ParseHAProxy, `<134>1 2026-02-06T12:14:15.001-05:00 web haproxy 14389 - - ::1:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {|} {text/html} "GET /logout HTTP/1.1"`,
			true, "2026-02-06T17:14:14.655Z", "::1", "-", "-", false, "/logout"},
		{"haproxy shipped capture first", ParseHAProxy, `10.0.1.2:33317 [06/Feb/2026:12:14:14.655] web be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {|Mozilla/5.0 (X11)|203.0.113.9} "GET /a/logout?x HTTP/1.1"`,
			true, "2026-02-06T12:14:14.655Z", "10.0.1.2", "Mozilla/5.0 (X11)", "203.0.113.9", true, "/a/logout"},
		{"haproxy one capture", ParseHAProxy, `10.0.1.2:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {UA} "GET / HTTP/1.1"`, false, "", "", "", "", false, ""},
		{"haproxy no capture", ParseHAProxy, `10.0.1.2:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`, false, "", "", "", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			ok := tc.parse([]byte(tc.line), &r)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if want := mustTime(t, tc.time); r.Time != want {
				t.Errorf("time = %s, want %s", time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano), tc.time)
			}
			if string(r.Host) != tc.host || string(r.UA) != tc.ua || string(r.XFF) != tc.xff || r.XFFSent != tc.sent || string(r.Path) != tc.path {
				t.Errorf("got host %q ua %q xff %q sent %v path %q\nwant host %q ua %q xff %q sent %v path %q",
					r.Host, r.UA, r.XFF, r.XFFSent, r.Path, tc.host, tc.ua, tc.xff, tc.sent, tc.path)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	ncsa := []byte(`192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "UA"`)
	dx := []byte(`192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "UA" [DX_UST] [10/Oct/2026:13:55:36 -0700] 192.0.2.1 "UA" "-" [/DX_UST]`)
	hap := []byte(`10.0.1.2:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {UA|-} "GET / HTTP/1.1"`)
	junk := []byte("not a log line")
	for _, tc := range []struct {
		lines [][]byte
		want  Format
		ok    bool
	}{
		{[][]byte{ncsa, junk, ncsa}, FormatNCSA, true},
		{[][]byte{dx, dx, ncsa}, FormatDXUST, true},
		{[][]byte{junk, hap}, FormatHAProxy, true},
		{[][]byte{junk}, FormatAuto, false},
	} {
		if got, ok := Detect(tc.lines); got != tc.want || ok != tc.ok {
			t.Errorf("Detect = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
		}
	}
}

// The parsers never panic, and what they return lies within the line.
func fuzzParser(f *testing.F, parse parser, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		if !parse(line, &r) {
			return
		}
		for _, b := range [][]byte{r.Host, r.UA, r.XFF, r.Path} {
			if len(b) > 0 && !bytes.Contains(line, b) && !bytes.Equal(b, missing) {
				t.Fatalf("field %q is not in the line", b)
			}
		}
		if r.Time < -int64(24*time.Hour) || r.Time > mustTime(t, "2262-01-01T00:00:00Z") {
			t.Fatalf("time %d out of range", r.Time)
		}
		if len(r.Host) == 0 || len(r.UA) == 0 || len(r.XFF) == 0 {
			t.Fatalf("empty field: %+v", r)
		}
	})
}

func FuzzParseNCSA(f *testing.F) {
	fuzzParser(f, ParseNCSA,
		`192.0.2.1 - - [10/Oct/2026:13:55:36 -0700] "GET /a HTTP/1.1" 200 2326 "-" "Mozilla/5.0" "203.0.113.9"`,
		`::1 - u [29/Feb/2028:23:59:59 +0000] "GET http://h/x?a HTTP/1.1" 200 - "-" "-"`)
}

func FuzzParseDXUST(f *testing.F) {
	fuzzParser(f, ParseDXUST,
		`x "GET /logout HTTP/1.1" [DX_UST] [10/Oct/2026:13:55:36 -0500] 192.0.2.7 "Mozilla/5.0" "198.51.100.1" [/DX_UST]`)
}

func FuzzParseHAProxy(f *testing.F) {
	fuzzParser(f, ParseHAProxy,
		`<134>1 2026-02-06T12:14:15.001-05:00 web haproxy 1 - - ::1:33317 [06/Feb/2026:12:14:14.655] fe be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {UA|x} {t} "GET /logout HTTP/1.1"`,
		`10.0.1.2:33317 [06/Feb/2026:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {Mozilla|-} "GET / HTTP/1.1"`)
}

// Client hosts become the addresses netip reads, with no allocation for
// IPv4 and IPv6 without a zone; host names are no address.
func TestParseAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"255.255.255.255", "255.255.255.255"},
		{"256.1.1.1", "invalid IP"},
		{"010.1.1.1", "invalid IP"},
		{"1.2.3", "invalid IP"},
		{"1.2.3.4.5", "invalid IP"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"fe80::1%eth0", "fe80::1"},
		{"portal.example", "invalid IP"},
		{"", "invalid IP"},
	} {
		if got := parseAddr([]byte(tc.in)).String(); got != tc.want {
			t.Errorf("parseAddr(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"192.0.2.1", "2001:db8::1"} {
		b := []byte(in)
		if n := testing.AllocsPerRun(100, func() { parseAddr(b) }); n != 0 {
			t.Errorf("parseAddr(%q): %v allocations", in, n)
		}
	}
}
