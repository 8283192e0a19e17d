package replay

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"headcount/agent/keying"
)

// A line longer than maxLine is skipped wherever it stands in a file and
// however the file is read: it was skipped only when it did not fit in what
// one read had brought into the buffer (so from a pipe, read in small pieces,
// but counted from a file), and among the first lines read to detect the
// format its tail was kept as a line.
func TestRun_LongLineSkippedWhileDetecting(t *testing.T) {
	dx := func(ip, at string) string {
		return fmt.Sprintf(`%s - - [%s] "GET / HTTP/1.1" 200 5 [DX_UST] [%s] %s "Mozilla/5.0" "-" [/DX_UST]`, ip, at, at, ip)
	}
	long := strings.Replace(dx("192.0.2.9", "01/Aug/2026:10:00:00 +0000"), "GET /", "GET /"+strings.Repeat("a", maxLine+100), 1)
	lines := []string{long, dx("192.0.2.1", "01/Aug/2026:10:00:01 +0000"), dx("192.0.2.2", "01/Aug/2026:10:00:02 +0000")}
	text := strings.Join(lines, "\n") + "\n"
	for _, tc := range []struct {
		name   string
		format Format
		small  bool
	}{{"dx-ust", FormatDXUST, false}, {"auto", FormatAuto, false}, {"dx-ust in small reads", FormatDXUST, true}, {"auto in small reads", FormatAuto, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := iotestReader(strings.NewReader(text), tc.small)
			res, err := Run(Config{Format: tc.format, LogoutPath: regexp.MustCompile(`/logout$`)}, []Input{{Name: "f", R: r}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != 1 || len(res.FirstSkipped) != 1 || res.FirstSkipped[0].Line != 1 || res.Sessions() != 2 {
				t.Errorf("%d skipped %v, %d sessions; want line 1 skipped, 2 sessions", res.Skipped, res.FirstSkipped, res.Sessions())
			}
		})
	}
}

// iotestReader returns r, or when small a reader of r that returns at most
// 4 KiB a read, as a pipe does.
func iotestReader(r *strings.Reader, small bool) io.Reader {
	if small {
		return smallReads{r}
	}
	return r
}

type smallReads struct{ r io.Reader }

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 4096)]) }

// Apache and nginx write a quote or a backslash in a header as \" and \\
// (nginx as \x22 and \x5C) and control bytes as \xhh or \n, \t…: replay keys,
// excludes and classifies the header the agent received, unescaped. A key
// copied from the log into an exclude-key file, and a User-Agent pattern
// with a quote, exclude the request as they do live.
func TestRun_EscapedHeadersAsTheAgentSeesThem(t *testing.T) {
	var r Record
	line := `192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "A \"q\" \\ \x22\x5C\x09\t|" "203.0.113.9 \"x\""`
	if !ParseNCSA([]byte(line), &r) || string(r.UA) != "A \"q\" \\ \"\\\t\t|" || string(r.XFF) != `203.0.113.9 "x"` {
		t.Errorf("ncsa: UA %q, XFF %q; want the headers unescaped", r.UA, r.XFF)
	}
	b := []byte(line)
	if n := testing.AllocsPerRun(100, func() { ParseNCSA(b, &r) }); n != 0 {
		t.Errorf("ncsa with escapes: %v allocations per line, want 0", n)
	}
	dx := `x [DX_UST] [10/Oct/2026:13:55:36 +0000] 192.0.2.7 "B \"q\"" "-" [/DX_UST]`
	if !ParseDXUST([]byte(dx), &r) || string(r.UA) != `B "q"` || string(r.XFF) != "-" || r.XFFSent {
		t.Errorf("dx-ust: UA %q, XFF %q (%v); want B \"q\", -", r.UA, r.XFF, r.XFFSent)
	}

	lines := []string{
		ncsa("192.0.2.5", "01/Aug/2026:10:04:00 +0000", "/", `Internal \"x\"`, "-"),
		ncsa("192.0.2.6", "01/Aug/2026:10:05:00 +0000", "/", `Probe \"v1\"`, "-"),
		ncsa("192.0.2.7", "01/Aug/2026:10:06:00 +0000", "/", `Person \"y\"`, "-"),
	}
	keyFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keyFile, []byte(`192.0.2.5 "Internal \"x\"" "-"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := keying.New(keying.Config{ExcludeKeyFile: keyFile, ExcludeUA: []*regexp.Regexp{regexp.MustCompile(`^Probe "v1"$`)}})
	if _, _, err := k.LoadExclusions(); err != nil {
		t.Fatal(err)
	}
	res := runLines(t, Config{Keyer: k}, lines)
	if res.Sessions() != 1 || res.Excluded != 2 {
		t.Errorf("%d sessions, %d excluded; want 1, 2", res.Sessions(), res.Excluded)
	}
}

// HAProxy writes '"', '#', '{', '|', '}' and every byte outside 32-126 of a
// captured header as '#' and two hexadecimal digits: replay keys, excludes
// and classifies the header the agent received, decoded.
func TestRun_HAProxyEncodedCapturesAsTheAgentSeesThem(t *testing.T) {
	hap := func(ip, at, capture string) string {
		return fmt.Sprintf(`%s:33317 [%s] web be/s1 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 {%s} "GET / HTTP/1.1"`, ip, at, capture)
	}
	var r Record
	line := hap("10.0.1.2", "06/Feb/2026:12:14:14.655", `A #22q#22 #23 #7B#7C#7D caf#C3#A9 #zz #4|203.0.113.9 #22x#22`)
	if !ParseHAProxy([]byte(line), &r) || string(r.UA) != `A "q" # {|} café #zz #4` || string(r.XFF) != `203.0.113.9 "x"` {
		t.Errorf("UA %q, XFF %q; want the captures decoded", r.UA, r.XFF)
	}
	b := []byte(line)
	if n := testing.AllocsPerRun(100, func() { ParseHAProxy(b, &r) }); n != 0 {
		t.Errorf("haproxy with encoded captures: %v allocations per line, want 0", n)
	}

	lines := []string{
		hap("192.0.2.5", "01/Aug/2026:10:04:00.000", `Internal #22x#22|`),
		hap("192.0.2.6", "01/Aug/2026:10:05:00.000", `Probe #22v1#22|`),
		hap("192.0.2.7", "01/Aug/2026:10:06:00.000", `Person #22y#22|`),
	}
	keyFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keyFile, []byte(`192.0.2.5 "Internal \"x\"" "-"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := keying.New(keying.Config{ExcludeKeyFile: keyFile, ExcludeUA: []*regexp.Regexp{regexp.MustCompile(`^Probe "v1"$`)}})
	if _, _, err := k.LoadExclusions(); err != nil {
		t.Fatal(err)
	}
	res := runLines(t, Config{Keyer: k, Format: FormatHAProxy}, lines)
	if res.Sessions() != 1 || res.Excluded != 2 || res.Skipped != 0 {
		t.Errorf("%d sessions, %d excluded, %d skipped; want 1, 2, 0", res.Sessions(), res.Excluded, res.Skipped)
	}
}
