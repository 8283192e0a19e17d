package metricsfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"headcount/store"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.metrics")

// fixedKey returns the key pair every golden file is signed with: Ed25519
// signatures are deterministic, so the file is too.
func fixedKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return priv.Public().(ed25519.PublicKey), priv
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// goldenInput is a fixed database's content for the range 2026-11-01 to
// 2026-11-05 read on 2026-11-03 at 14:07: metering from 09:55:20 to 10:31 on
// the 1st (a quiet window at 10:10, sessions in the others), none on the
// 2nd (an imported day: covered whole, no windows), a restart on the 3rd at
// 13:40 still running at now (so the window holding now and the 4th are
// future), and a window with sessions that coverage does not touch
// (recovered after a crash, in the window of the last flush).
func goldenInput() (from, to, now time.Time, counts []store.WindowCount, coverage []store.Interval, imported []time.Time) {
	from, to, now = at("2026-11-01T00:00:00Z"), at("2026-11-05T00:00:00Z"), at("2026-11-03T14:07:00Z")
	counts = []store.WindowCount{
		{Start: at("2026-11-01T09:50:00Z"), Sessions: 3, Bots: 1},
		{Start: at("2026-11-01T10:00:00Z"), Sessions: 12, Bots: 2, Unclassified: 1},
		{Start: at("2026-11-01T10:20:00Z"), Sessions: 1},
		{Start: at("2026-11-01T10:30:00Z"), Sessions: 4},
		{Start: at("2026-11-01T11:20:00Z"), Sessions: 2, Unclassified: 2},
		{Start: at("2026-11-03T13:50:00Z"), Sessions: 5},
		{Start: at("2026-11-03T14:00:00Z"), Sessions: 9}, // the window holding now: not ended
	}
	coverage = []store.Interval{
		{Start: at("2026-10-31T23:00:00Z"), End: at("2026-10-31T23:55:00Z")}, // before the range
		{Start: at("2026-11-01T09:55:20Z"), End: at("2026-11-01T10:31:00Z")},
		{Start: at("2026-11-02T00:00:00Z"), End: at("2026-11-03T00:00:00Z")}, // the imported day
		{Start: at("2026-11-03T13:40:00Z"), End: at("2026-11-03T14:07:00Z")},
	}
	return from, to, now, counts, coverage, []time.Time{at("2026-11-02T00:00:00Z")}
}

var goldenHeader = Header{KeyID: "site-1", Product: "headcount", Version: "1.4.0", Deployment: "dx-prod"}

func mustWrite(t *testing.T, h Header, windows []Window, key ed25519.PrivateKey) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, h, windows, key); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWrite_Golden: the metrics file of a fixed database, key and clock is
// byte for byte the golden file: lines only for metered windows that have
// ended (0 for the quiet one), none for the imported day, the gap or the
// future, and a window with sessions even where coverage is not.
func TestWrite_Golden(t *testing.T) {
	pub, priv := fixedKey()
	from, to, now, counts, coverage, imported := goldenInput()
	got := mustWrite(t, goldenHeader, Metered("user-sessions", from, to, now, counts, coverage, imported), priv)
	if *update {
		if err := os.WriteFile("testdata/golden.metrics", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden.metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	f, err := Verify([]byte(got), pub)
	if err != nil || f.Header != goldenHeader || f.Sessions() != 3+12+1+4+2+5 || len(f.Windows) != 8 {
		t.Errorf("the golden file verifies as %+v, %v", f, err)
	}
}

// TestWrite_Shape: every line has the MHS shape.
func TestWrite_Shape(t *testing.T) {
	_, priv := fixedKey()
	from, to, now, counts, coverage, imported := goldenInput()
	file := mustWrite(t, goldenHeader, Metered("user-sessions", from, to, now, counts, coverage, imported), priv)
	lines := strings.Split(strings.TrimSuffix(file, "\n"), "\n")
	header := regexp.MustCompile(`^1,[^,]+,[^,]+,[^,]+,[^,]+,[0-9a-f]{64}$`)
	window := regexp.MustCompile(`^[^,]+,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,(0|[1-9]\d*),[0-9a-f]{64}$`)
	end := regexp.MustCompile(`^END,[0-9a-f]{128}$`)
	if len(lines) < 3 {
		t.Fatalf("%d lines", len(lines))
	}
	if !header.MatchString(lines[0]) {
		t.Errorf("line 1 %q is not an MHS header", lines[0])
	}
	for i, l := range lines[1 : len(lines)-1] {
		if !window.MatchString(l) {
			t.Errorf("line %d %q is not an MHS window line", i+2, l)
		}
	}
	if !end.MatchString(lines[len(lines)-1]) {
		t.Errorf("the last line %q is not an MHS END line", lines[len(lines)-1])
	}
	if name := FileName(from); name != "2026-11-01T00-00-00_usage.metrics" {
		t.Errorf("FileName = %q", name)
	}
}

// TestMetered: which windows get a line.
func TestMetered(t *testing.T) {
	day := at("2026-11-01T00:00:00Z")
	next := day.Add(24 * time.Hour)
	later := next.Add(48 * time.Hour) // now, well after the range
	iv := func(a, b string) store.Interval { return store.Interval{Start: at(a), End: at(b)} }
	cases := []struct {
		name     string
		now      time.Time
		counts   []store.WindowCount
		coverage []store.Interval
		imported []time.Time
		want     []string // window starts, HH:MM, with sessions
	}{
		{name: "nothing metered", now: later},
		{name: "an interval inside one window", now: later, coverage: []store.Interval{iv("2026-11-01T08:01:00Z", "2026-11-01T08:02:00Z")},
			want: []string{"08:00=0"}},
		{name: "an interval ending on a window boundary does not touch the next window", now: later,
			coverage: []store.Interval{iv("2026-11-01T08:05:00Z", "2026-11-01T08:20:00Z")}, want: []string{"08:00=0", "08:10=0"}},
		{name: "a point interval touches its window", now: later, coverage: []store.Interval{iv("2026-11-01T08:20:00Z", "2026-11-01T08:20:00Z")},
			want: []string{"08:20=0"}},
		{name: "coverage reaching in from before and out after the range", now: later,
			coverage: []store.Interval{iv("2026-10-31T23:55:00Z", "2026-11-01T00:15:00Z"), iv("2026-11-01T23:45:00Z", "2026-11-02T01:00:00Z")},
			want:     []string{"00:00=0", "00:10=0", "23:40=0", "23:50=0"}},
		{name: "counts are all sessions, bots included", now: later, coverage: []store.Interval{iv("2026-11-01T08:00:00Z", "2026-11-01T08:10:00Z")},
			counts: []store.WindowCount{{Start: at("2026-11-01T08:00:00Z"), Sessions: 7, Bots: 5, Unclassified: 1}}, want: []string{"08:00=7"}},
		{name: "sessions outside coverage still get their line", now: later,
			counts: []store.WindowCount{{Start: at("2026-11-01T08:00:00Z"), Sessions: 2}}, want: []string{"08:00=2"}},
		{name: "an imported day has no lines", now: later, coverage: []store.Interval{{Start: day, End: next}},
			imported: []time.Time{day}},
		{name: "a whole day the agent metered has its lines", now: later,
			coverage: []store.Interval{{Start: day, End: next}}, want: nil /* filled below */},
		{name: "the window holding now and later ones have none", now: at("2026-11-01T08:25:00Z"),
			coverage: []store.Interval{iv("2026-11-01T08:00:00Z", "2026-11-01T08:25:00Z")},
			counts:   []store.WindowCount{{Start: at("2026-11-01T08:20:00Z"), Sessions: 1}, {Start: at("2026-11-01T09:00:00Z"), Sessions: 1}},
			want:     []string{"08:00=0", "08:10=0"}},
		{name: "now before the range", now: day.Add(-time.Hour), coverage: []store.Interval{iv("2026-11-01T08:00:00Z", "2026-11-01T08:25:00Z")}},
	}
	for i := range 144 {
		cases[8].want = append(cases[8].want, day.Add(time.Duration(i)*store.Window).Format("15:04")+"=0")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, w := range Metered("f", day, next, tc.now, tc.counts, tc.coverage, tc.imported) {
				if w.Feature != "f" || w.End.Sub(w.Start) != store.Window || w.Start.Format("2006-01-02") != "2026-11-01" {
					t.Errorf("window %+v", w)
				}
				got = append(got, w.Start.Format("15:04")+"="+strconv.FormatUint(w.Sessions, 10))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestWrite_Refuses: a field that would break the line, or windows out of
// order, write nothing.
func TestWrite_Refuses(t *testing.T) {
	_, priv := fixedKey()
	w := func(s string) Window { return Window{Feature: "f", Start: at(s), End: at(s).Add(store.Window)} }
	cases := []struct {
		name    string
		h       Header
		windows []Window
		want    string
	}{
		{"comma in the product", Header{"k", "a,b", "1", "d"}, nil,
			`the product "a,b" holds a comma or a line break, which would split the line; choose a value without`},
		{"empty deployment", Header{"k", "p", "1", ""}, nil, "the deployment id is empty; a metrics file needs a value there"},
		{"line break in the feature", goldenHeader, []Window{{Feature: "a\nb", Start: at("2026-11-01T00:00:00Z"), End: at("2026-11-01T00:10:00Z")}},
			`the feature id "a\nb" holds a comma or a line break, which would split the line; choose a value without`},
		{"overlapping windows", goldenHeader, []Window{w("2026-11-01T00:10:00Z"), w("2026-11-01T00:05:00Z")},
			"the window starting at 2026-11-01T00:05:00.000Z is not after the one before it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, tc.h, tc.windows, priv)
			if err == nil || err.Error() != tc.want || b.Len() != 0 {
				t.Errorf("error %v, %d bytes written\nwant %s", err, b.Len(), tc.want)
			}
		})
	}
}

// TestVerify_Tampered: every kind of change to an MHS file is found, at the
// first line that does not check, with the check that failed.
func TestVerify_Tampered(t *testing.T) {
	pub, priv := fixedKey()
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	from, to, now, counts, coverage, imported := goldenInput()
	windows := Metered("user-sessions", from, to, now, counts, coverage, imported)
	good := mustWrite(t, goldenHeader, windows, priv)
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n") // 1 header, 2..9 windows, 10 END
	if len(lines) != 10 {
		t.Fatalf("the file has %d lines:\n%s", len(lines), good)
	}
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	edit := func(f func(l []string) []string) string { return join(f(append([]string(nil), lines...))) }
	field := func(line, i int, value string) string {
		return edit(func(l []string) []string {
			parts := strings.Split(l[line-1], ",")
			parts[i] = value
			l[line-1] = strings.Join(parts, ",")
			return l
		})
	}
	// A window added at the end with a correct chain value (the chain needs
	// no key), the signature kept.
	extra := Window{Feature: "user-sessions", Start: at("2026-11-03T14:10:00Z"), End: at("2026-11-03T14:20:00Z"), Sessions: 1}
	lastValue := lines[8][strings.LastIndexByte(lines[8], ',')+1:]
	appended := edit(func(l []string) []string {
		return append(l[:9:9], extra.text()+","+link(lastValue, extra.text()), l[9])
	})
	// Windows out of order, chained and signed by the site's key: only the
	// order check can find it.
	var disordered bytes.Buffer
	if err := writeSealed(&disordered, []string{goldenHeader.text(), windows[1].text(), windows[0].text()}, priv); err != nil {
		t.Fatal(err)
	}
	// The header re-chained with another deployment, the rest as it was.
	rechained := goldenHeader
	rechained.Deployment = "dx-test"

	cases := []struct {
		name, file, want string
	}{
		{"header: key id", field(1, 1, "site-2"), "line 1: the chain value does not match the header: the header was edited"},
		{"header: product", field(1, 2, "other"), "line 1: the chain value does not match the header: the header was edited"},
		{"header: version", field(1, 3, "1.4.1"), "line 1: the chain value does not match the header: the header was edited"},
		{"header: deployment", field(1, 4, "dx-test"), "line 1: the chain value does not match the header: the header was edited"},
		{"header: empty product", field(1, 2, ""), "line 1: the product is empty"},
		{"header: format version", field(1, 0, "2"), "line 1: the chain value does not match the line: the line was edited"},
		{"header: a field added", edit(func(l []string) []string { l[0] = "1,x," + l[0][2:]; return l }),
			"line 1: the header has 7 fields; it has 6: 1,KEY-ID,PRODUCT,VERSION,DEPLOYMENT-ID,CHAIN"},
		{"header: chain value", field(1, 5, strings.Repeat("0", 64)), "line 1: the chain value does not match the header: the header was edited"},
		{"header re-chained", edit(func(l []string) []string {
			l[0] = rechained.text() + "," + link("", rechained.text())
			return l
		}), "line 2: the chain value does not follow from line 1's: this line was edited, or a line was removed just before it"},
		{"window: feature", field(3, 0, "other"), "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"window: start", field(3, 1, "2026-11-01T09:59:00.000Z"), "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"window: end", field(3, 2, "2026-11-01T10:11:00.000Z"), "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"window: sessions", field(3, 3, "2"), "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"window: chain value", field(3, 4, strings.Repeat("a", 64)), "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it"},
		{"window: empty feature", field(3, 0, ""), "line 3: the feature id is empty"},
		{"window: start without milliseconds", field(3, 1, "2026-11-01T10:00:00Z"), `line 3: the start "2026-11-01T10:00:00Z" is not a UTC time like 2024-10-20T06:49:23.183Z`},
		{"window: end in another zone", field(3, 2, "2026-11-01T11:10:00.000+01:00"), `line 3: the end "2026-11-01T11:10:00.000+01:00" is not a UTC time like 2024-10-20T06:49:23.183Z`},
		{"window: ends before it starts", field(3, 2, "2026-11-01T09:00:00.000Z"), "line 3: the window ends (2026-11-01T09:00:00.000Z) before or when it starts (2026-11-01T10:00:00.000Z)"},
		{"window: sessions negative", field(3, 3, "-1"), `line 3: the sessions "-1" are not a whole number in plain digits`},
		{"window: sessions with a leading zero", field(3, 3, "012"), `line 3: the sessions "012" are not a whole number in plain digits`},
		{"window: chain value in capitals", field(3, 4, strings.ToUpper(strings.Split(lines[2], ",")[4])), `line 3: the chain value "` + strings.ToUpper(strings.Split(lines[2], ",")[4]) + `" is not 64 lowercase hexadecimal digits`},
		{"window: a field missing", edit(func(l []string) []string { l[2] = l[2][strings.IndexByte(l[2], ',')+1:]; return l }),
			"line 3: a window line has 5 fields (FEATURE-ID,START,END,SESSIONS,CHAIN); this one has 4"},
		{"a line removed", edit(func(l []string) []string { return append(l[:3], l[4:]...) }),
			"line 4: the chain value does not follow from line 3's: this line was edited, or a line was removed just before it"},
		{"the first window removed", edit(func(l []string) []string { return append(l[:1], l[2:]...) }),
			"line 2: the chain value does not follow from line 1's: this line was edited, or a line was removed just before it"},
		{"the last window removed", edit(func(l []string) []string { return append(l[:8], l[9]) }),
			"line 9: the END signature does not match the last chain value with this public key (key id " + KeyID(pub) + "; the header names site-1): " +
				"the file was signed with another key, lines before END were removed, or the lines were chained again"},
		{"two lines swapped", edit(func(l []string) []string { l[3], l[4] = l[4], l[3]; return l }),
			"line 4: the chain value does not follow from line 3's; the line was signed after line 5: lines were moved (reordered)"},
		{"a line moved to the end", edit(func(l []string) []string {
			return append(append(append([]string(nil), l[:2]...), l[3:9]...), l[2], l[9])
		}),
			"line 3: the chain value does not follow from line 2's; the line was signed after line 9: lines were moved (reordered)"},
		{"a line added, chained", appended, "line 10: the END signature is over the chain value of line 9: line 10 and the lines after it were added after the file was signed"},
		{"a line added after END", good + lines[8] + "\n", "line 11: a line follows the END line (line 10): lines were added after the file was signed"},
		{"END line removed", edit(func(l []string) []string { return l[:9] }),
			"line 9: the last line is not the END line (END,SIGNATURE): the file was cut short"},
		{"signature edited", edit(func(l []string) []string { l[9] = "END," + strings.Repeat("0", 128); return l }),
			"line 10: the END signature does not match the last chain value with this public key (key id " + KeyID(pub) + "; the header names site-1): " +
				"the file was signed with another key, lines before END were removed, or the lines were chained again"},
		{"signature cut short", edit(func(l []string) []string { l[9] = l[9][:100]; return l }),
			"line 10: the signature is not 128 lowercase hexadecimal digits"},
		{"signed by another key", mustWrite(t, goldenHeader, windows, otherPriv),
			"line 10: the END signature does not match the last chain value with this public key (key id " + KeyID(pub) + "; the header names site-1): " +
				"the file was signed with another key, lines before END were removed, or the lines were chained again"},
		{"windows out of order, signed", disordered.String(),
			"line 3: the window starts at 2026-11-01T09:50:00.000Z, before the window of line 2 ends (2026-11-01T10:10:00.000Z): windows are in time order and do not overlap"},
		{"only the header", lines[0] + "\n", "line 1: the last line is not the END line (END,SIGNATURE): the file was cut short"},
		{"empty", "", "the file is empty: not a metrics file"},
		{"not a metrics file", "month,sessions,gaps,environment\n2026-11,3,,dx\n", ErrNotMetricsFile.Error()},
	}
	if f, err := Verify([]byte(good), pub); err != nil || len(f.Windows) != 8 {
		t.Fatalf("the untouched file: %+v, %v", f, err)
	}
	if _, err := Verify([]byte(good), otherPub); err == nil {
		t.Fatal("the file verifies with another key")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file == good {
				t.Fatal("the case did not change the file")
			}
			_, err := Verify([]byte(tc.file), pub)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

// TestVerify_CRLF: a file whose lines end in CRLF (sent through a Windows
// mail client) verifies as the original, without a final line break too;
// and a line edited in it is still found.
func TestVerify_CRLF(t *testing.T) {
	pub, priv := fixedKey()
	from, to, now, counts, coverage, imported := goldenInput()
	good := mustWrite(t, goldenHeader, Metered("user-sessions", from, to, now, counts, coverage, imported), priv)
	crlf := strings.ReplaceAll(good, "\n", "\r\n")
	for _, file := range []string{crlf, strings.TrimSuffix(crlf, "\r\n"), strings.TrimSuffix(good, "\n")} {
		f, err := Verify([]byte(file), pub)
		if err != nil || len(f.Windows) != 8 || f.Sessions() != 27 {
			t.Errorf("%q: %+v, %v", file[:40], f, err)
		}
	}
	edited := strings.Replace(crlf, ",12,", ",11,", 1)
	if edited == crlf {
		t.Fatal("no window with 12 sessions")
	}
	if _, err := Verify([]byte(edited), pub); err == nil || err.Error() != "line 3: the chain value does not follow from line 2's: this line was edited, or a line was removed just before it" {
		t.Errorf("edited CRLF file: %v", err)
	}
}

// TestVerify_NoWindows: a range nobody metered makes a file of the header
// and END only, which verifies.
func TestVerify_NoWindows(t *testing.T) {
	pub, priv := fixedKey()
	file := mustWrite(t, goldenHeader, nil, priv)
	if n := strings.Count(file, "\n"); n != 2 {
		t.Fatalf("%d lines:\n%s", n, file)
	}
	if f, err := Verify([]byte(file), pub); err != nil || len(f.Windows) != 0 || f.Header != goldenHeader {
		t.Errorf("%+v, %v", f, err)
	}
}

// TestKeyID: the default key id is the start of the public key's SHA-256.
func TestKeyID(t *testing.T) {
	pub, _ := fixedKey()
	if got := KeyID(pub); got != "56475aa75463474c" {
		t.Errorf("KeyID = %s (key %s)", got, hex.EncodeToString(pub))
	}
}

// TestSeal_Verify: a signed report verifies and gives back its lines (CRLF
// too); every change is named at its first line; text that cannot be sealed
// is refused.
func TestSeal_Verify(t *testing.T) {
	pub, priv := fixedKey()
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	csv := "day,sessions,gaps,environment\n2026-11-01,3,,dx\n2026-11-02,,2026-11-01_2026-11-03,dx\n2026-11-03,0,,dx\n"
	seal := func(text string, key ed25519.PrivateKey) string {
		var b bytes.Buffer
		if err := Seal(&b, text, key); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	good := seal(csv, priv)
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n") // 1..4 the report, 5 END
	if !regexp.MustCompile(`\Aday,sessions,gaps,environment,[0-9a-f]{64}\n2026-11-01,3,,dx,[0-9a-f]{64}\n`).MatchString(good) || len(lines) != 5 ||
		!regexp.MustCompile(`^END,[0-9a-f]{128}$`).MatchString(lines[4]) {
		t.Fatalf("the signed report:\n%s", good)
	}
	for _, file := range []string{good, strings.ReplaceAll(good, "\n", "\r\n")} {
		f, err := Verify([]byte(file), pub)
		if err != nil || strings.Join(f.Report, "\n")+"\n" != csv || f.Windows != nil {
			t.Errorf("%+v, %v", f, err)
		}
	}
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	cases := []struct{ name, file, want string }{
		{"header edited", join(strings.Replace(lines[0], "day,", "date,", 1), lines[1], lines[2], lines[3], lines[4]),
			"line 1: the chain value does not match the line: the line was edited"},
		{"a count edited", join(lines[0], strings.Replace(lines[1], ",3,", ",30,", 1), lines[2], lines[3], lines[4]),
			"line 2: the chain value does not follow from line 1's: this line was edited, or a line was removed just before it"},
		{"a line removed", join(lines[0], lines[2], lines[3], lines[4]),
			"line 2: the chain value does not follow from line 1's: this line was edited, or a line was removed just before it"},
		{"lines swapped", join(lines[0], lines[2], lines[1], lines[3], lines[4]),
			"line 2: the chain value does not follow from line 1's; the line was signed after line 3: lines were moved (reordered)"},
		{"a line added after END", join(lines[0], lines[1], lines[2], lines[3], lines[4], lines[3]),
			"line 6: a line follows the END line (line 5): lines were added after the file was signed"},
		{"chain value cut", join(lines[0], lines[1][:len(lines[1])-1], lines[2], lines[3], lines[4]),
			`line 2: the chain value "` + lines[1][strings.LastIndexByte(lines[1], ',')+1:len(lines[1])-1] + `" is not 64 lowercase hexadecimal digits`},
		{"signed by another key", seal(csv, otherPriv),
			"line 5: the END signature does not match the last chain value with this public key (key id " + KeyID(pub) + "): " +
				"the file was signed with another key, lines before END were removed, or the lines were chained again"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify([]byte(tc.file), pub); err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
	for _, text := range []string{"a\n\nb\n", "a\nEND,00\n", "a\r\nb\n"} {
		var b bytes.Buffer
		if err := Seal(&b, text, priv); err == nil || b.Len() != 0 {
			t.Errorf("Seal(%q): %v, %d bytes", text, err, b.Len())
		}
	}
}
