// Package metricsfile writes and verifies the tamper-evident metrics file
// that carries usage out of an air-gapped site, in the shape of HCL's
// file-upload usage format (My HCLSoftware, "MHS"):
//
//	1,<key-id>,<product>,<version>,<deployment-id>,<chain>
//	<feature-id>,<start>,<end>,<sessions>,<chain>
//	...
//	END,<signature>
//
// One window line per metered 10-minute window, in time order, with times
// like 2024-10-20T06:49:23.183Z (UTC, milliseconds); a window nobody
// metered has no line, a metered quiet one has 0 sessions. Each chain field
// is 64 lowercase hexadecimal digits: on line 1 the SHA-256 of the line's
// text before its last comma, on every later line the SHA-256 of the
// previous line's chain field (its 64 characters) followed by the line's
// text before its last comma. The END line carries the Ed25519 signature (64
// bytes, 128 hexadecimal digits) of the last chain value's 32 bytes by the
// site's key. An edited, removed, moved or added line breaks the chain or
// the signature, and Verify names the first line that does not check.
//
// Verify also reads the legacy layout headcount wrote before (legacy.go), so
// files already handed over stay checkable.
package metricsfile

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"headcount/store"
)

// TimeLayout is the layout of a window's start and end: UTC with
// milliseconds, as 2024-10-20T06:49:23.183Z.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatVersion is the first field of line 1.
const FormatVersion = "1"

// Header is what line 1 of a metrics file names.
type Header struct {
	KeyID      string // the signing key's id, as the receiver knows it
	Product    string
	Version    string // the product's version
	Deployment string // the deployment id
}

// Window is one window line: the sessions completed in [Start, End) for a
// feature.
type Window struct {
	Feature    string
	Start, End time.Time
	Sessions   uint64
}

func (w Window) text() string {
	return w.Feature + "," + w.Start.UTC().Format(TimeLayout) + "," + w.End.UTC().Format(TimeLayout) + "," +
		strconv.FormatUint(w.Sessions, 10)
}

func (h Header) text() string {
	return FormatVersion + "," + h.KeyID + "," + h.Product + "," + h.Version + "," + h.Deployment
}

// KeyID returns the default key id of pub: the first 16 hexadecimal digits
// of the SHA-256 of its 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// FileName returns the default name of a metrics file whose range starts at
// from: YYYY-MM-DDTHH-MM-SS_usage.metrics, in UTC. The range's start is never
// later than its first window.
func FileName(from time.Time) string {
	return from.UTC().Format("2006-01-02T15-04-05") + "_usage.metrics"
}

// CheckField returns an error when value cannot be a field of a metrics
// file: empty, or holding a comma or a line break. name says which field.
func CheckField(name, value string) error {
	switch {
	case value == "":
		return fmt.Errorf("%s is empty; a metrics file needs a value there", name)
	case strings.ContainsAny(value, ",\r\n"):
		return fmt.Errorf("%s %q holds a comma or a line break, which would split the line; choose a value without", name, value)
	}
	return nil
}

// link returns the chain value of a line whose text before its last comma is
// text, after the line whose chain value is prev ("" for line 1).
func link(prev, text string) string {
	sum := sha256.Sum256([]byte(prev + text))
	return hex.EncodeToString(sum[:])
}

// Write writes the metrics file of h and windows, chained and signed with
// key, to w. The windows must be in time order and must not overlap, and
// every field must pass CheckField; otherwise nothing is written.
func Write(w io.Writer, h Header, windows []Window, key ed25519.PrivateKey) error {
	for _, f := range []struct{ name, value string }{{"the key id", h.KeyID}, {"the product", h.Product},
		{"the product version", h.Version}, {"the deployment id", h.Deployment}} {
		if err := CheckField(f.name, f.value); err != nil {
			return err
		}
	}
	for i, win := range windows {
		if err := CheckField("the feature id", win.Feature); err != nil {
			return err
		}
		if !win.End.After(win.Start) {
			return fmt.Errorf("the window starting at %s does not end after it starts", win.Start.UTC().Format(TimeLayout))
		}
		if i > 0 && win.Start.Before(windows[i-1].End) {
			return fmt.Errorf("the window starting at %s is not after the one before it", win.Start.UTC().Format(TimeLayout))
		}
	}
	texts := []string{h.text()}
	for _, win := range windows {
		texts = append(texts, win.text())
	}
	return writeSealed(w, texts, key)
}

// writeSealed writes texts as lines with their chain values, then the END
// line signed by key.
func writeSealed(w io.Writer, texts []string, key ed25519.PrivateKey) error {
	bw := bufio.NewWriter(w)
	prev := ""
	for _, t := range texts {
		prev = link(prev, t)
		fmt.Fprintf(bw, "%s,%s\n", t, prev)
	}
	last, _ := hex.DecodeString(prev)
	fmt.Fprintf(bw, "END,%s\n", hex.EncodeToString(ed25519.Sign(key, last)))
	return bw.Flush()
}

// Metered returns the windows of [from, to) that a metrics file written at
// now carries, in time order, each with feature and the sessions counts
// holds for it (every session, bots included; 0 when counts has none): the
// windows that have ended by now and that metering covered — coverage
// touches them — or that hold sessions. A coverage interval that is exactly
// an imported day (a day of imported, another meter's history: the store
// covers it whole but knows no windows in it) does not count as metering:
// its windows have no line. from and to are window boundaries (UTC days).
func Metered(feature string, from, to, now time.Time, counts []store.WindowCount, coverage []store.Interval, imported []time.Time) []Window {
	limit := to
	if now.Before(limit) {
		limit = now.Truncate(store.Window) // the window holding now has not ended
	}
	whole := make(map[int64]bool, len(imported))
	for _, d := range imported {
		whole[d.Unix()] = true
	}
	sessions := map[int64]uint64{}
	for _, c := range counts {
		sessions[c.Start.Unix()] += c.Sessions
	}
	lines := map[int64]bool{}
	add := func(start time.Time) {
		if !start.Before(from) && !start.Add(store.Window).After(limit) {
			lines[start.Unix()] = true
		}
	}
	for _, iv := range coverage {
		if whole[iv.Start.Unix()] && iv.End.Sub(iv.Start) == 24*time.Hour {
			continue
		}
		first := iv.Start.Truncate(store.Window)
		last := iv.End.Truncate(store.Window) // the window holding End ...
		if last.Equal(iv.End) && iv.End.After(iv.Start) {
			last = last.Add(-store.Window) // ... unless the interval only reaches its start
		}
		if first.Before(from) {
			first = from
		}
		for t := first; !t.After(last) && t.Before(limit); t = t.Add(store.Window) {
			add(t)
		}
	}
	for start, n := range sessions {
		if n > 0 {
			add(time.Unix(start, 0).UTC())
		}
	}
	starts := make([]int64, 0, len(lines))
	for s := range lines {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	out := make([]Window, 0, len(starts))
	for _, s := range starts {
		start := time.Unix(s, 0).UTC()
		out = append(out, Window{Feature: feature, Start: start, End: start.Add(store.Window), Sessions: sessions[s]})
	}
	return out
}

// File is a metrics file or a signed report that verified.
type File struct {
	Legacy  bool   // the layout written before the MHS shape; Header then holds only the deployment
	Header  Header // line 1
	Windows []Window
	// Report holds a signed report's lines (Seal), without their chain
	// values; nil for a metrics file.
	Report []string
}

// Sessions returns the sessions of all the file's windows.
func (f File) Sessions() uint64 {
	var n uint64
	for _, w := range f.Windows {
		n += w.Sessions
	}
	return n
}

// ErrNotMetricsFile is returned for a file whose first line is neither an
// MHS header nor the legacy one.
var ErrNotMetricsFile = errors.New("not a metrics file: line 1 is neither an MHS header (1,KEY-ID,PRODUCT,VERSION,DEPLOYMENT-ID,CHAIN) nor a headcount metrics v1 header, " +
	"and no line is the END line of a signed report")

// LineError is a line of a metrics file that did not check: Line counts from
// 1 (the header), Problem says which check failed. It wraps ErrTampered.
type LineError struct {
	Line    int
	Problem string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Problem) }

// Unwrap makes every LineError an ErrTampered.
func (e *LineError) Unwrap() error { return ErrTampered }

func lineErr(n int, format string, a ...any) error {
	return &LineError{Line: n, Problem: fmt.Sprintf(format, a...)}
}

// Verify checks a metrics file, MHS or legacy, with the site's public key
// pub. Lines may end in CRLF. It returns the file, or an error naming the
// first line that does not check and the check that failed (a *LineError
// for the MHS shape).
func Verify(data []byte, pub ed25519.PublicKey) (File, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	if text == "" {
		return File{}, errors.New("the file is empty: not a metrics file")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if strings.HasPrefix(lines[0], "# headcount metrics v1 ") {
		rows, err := verifyLegacy(lines, pub)
		if err != nil {
			return File{}, err
		}
		f := File{Legacy: true}
		if _, rest, ok := strings.Cut(lines[0], " deployment="); ok {
			f.Header.Deployment, _, _ = strings.Cut(rest, " ")
		}
		for _, r := range rows {
			f.Windows = append(f.Windows, Window{Start: r.Start, End: r.End, Sessions: r.Sessions})
		}
		return f, nil
	}
	if strings.HasPrefix(lines[0], FormatVersion+",") {
		return verifyMHS(lines, pub)
	}
	if slices.ContainsFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, "END,") }) {
		return verifySealed(lines, pub)
	}
	return File{}, ErrNotMetricsFile
}

// Seal writes text (lines ending in "\n", such as a report's CSV), each line
// followed by a comma and its chain value, then the END line signed by key:
// the chain and signature of the metrics file over any lines. Verify checks
// it and returns the lines. A line of text that is empty or starts with
// "END," is refused and nothing is written.
func Seal(w io.Writer, text string, key ed25519.PrivateKey) error {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "END,") || strings.ContainsRune(l, '\r') {
			return fmt.Errorf("line %d of the text to sign is empty, starts with END, or holds a carriage return", i+1)
		}
	}
	return writeSealed(w, lines, key)
}

// verifySealed checks a signed report (Seal): every line's chain value, then
// the END signature.
func verifySealed(lines []string, pub ed25519.PublicKey) (File, error) {
	if err := checkLastEnd(lines); err != nil {
		return File{}, err
	}
	var f File
	var values []string
	for i, line := range lines[:len(lines)-1] {
		n := i + 1
		text, stored, err := splitChain(n, line)
		if err != nil {
			return File{}, err
		}
		prev := ""
		if n > 1 {
			prev = values[n-2]
		}
		if link(prev, text) != stored {
			if n == 1 {
				return File{}, lineErr(1, "the chain value does not match the line: the line was edited")
			}
			return File{}, chainError(n, lines, values, text, stored)
		}
		f.Report = append(f.Report, text)
		values = append(values, stored)
	}
	if err := checkEnd(lines, values, pub, ""); err != nil {
		return File{}, err
	}
	return f, nil
}

// splitChain splits a line into its text before the last comma and its
// chain field, and checks the field's form.
func splitChain(n int, line string) (text, value string, err error) {
	i := strings.LastIndexByte(line, ',')
	text, value = line[:max(i, 0)], line[i+1:]
	if len(value) != 64 || strings.ToLower(value) != value || !isHex(value) {
		return "", "", lineErr(n, "the chain value %q is not 64 lowercase hexadecimal digits", value)
	}
	return text, value, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func verifyMHS(lines []string, pub ed25519.PublicKey) (File, error) {
	var f File
	header := strings.Split(lines[0], ",")
	if len(header) != 6 {
		return File{}, lineErr(1, "the header has %d fields; it has 6: 1,KEY-ID,PRODUCT,VERSION,DEPLOYMENT-ID,CHAIN", len(header))
	}
	f.Header = Header{KeyID: header[1], Product: header[2], Version: header[3], Deployment: header[4]}
	for i, name := range []string{"the key id", "the product", "the product version", "the deployment id"} {
		if header[i+1] == "" {
			return File{}, lineErr(1, "%s is empty", name)
		}
	}
	text, stored, err := splitChain(1, lines[0])
	if err != nil {
		return File{}, err
	}
	if link("", text) != stored {
		return File{}, lineErr(1, "the chain value does not match the header: the header was edited")
	}
	values := []string{stored} // the chain value of each line so far
	if err := checkLastEnd(lines); err != nil {
		return File{}, err
	}
	end := len(lines) - 1
	for i, line := range lines[1:end] {
		n := i + 2
		win, err := parseWindow(n, line)
		if err != nil {
			return File{}, err
		}
		text, stored, _ := splitChain(n, line)
		if link(values[len(values)-1], text) != stored {
			return File{}, chainError(n, lines, values, text, stored)
		}
		if k := len(f.Windows); k > 0 && win.Start.Before(f.Windows[k-1].End) {
			return File{}, lineErr(n, "the window starts at %s, before the window of line %d ends (%s): windows are in time order and do not overlap",
				win.Start.Format(TimeLayout), n-1, f.Windows[k-1].End.Format(TimeLayout))
		}
		f.Windows = append(f.Windows, win)
		values = append(values, stored)
	}
	if err := checkEnd(lines, values, pub, "; the header names "+f.Header.KeyID); err != nil {
		return File{}, err
	}
	return f, nil
}

// checkEnd checks the END line, the last of lines, against the chain values
// of the lines before it. named follows the key's id in the message of a
// signature that does not match.
func checkEnd(lines, values []string, pub ed25519.PublicKey, named string) error {
	end := len(lines) - 1
	sigText, _ := strings.CutPrefix(lines[end], "END,")
	sig, err := hex.DecodeString(sigText)
	if err != nil || len(sig) != ed25519.SignatureSize || strings.ToLower(sigText) != sigText {
		return lineErr(end+1, "the signature is not 128 lowercase hexadecimal digits")
	}
	last, _ := hex.DecodeString(values[len(values)-1])
	if ed25519.Verify(pub, last, sig) {
		return nil
	}
	// The chain holds, but the signature is not over its end: lines were
	// added after the signed one, or it is not this key's signature.
	for i, v := range values[:len(values)-1] {
		b, _ := hex.DecodeString(v)
		if ed25519.Verify(pub, b, sig) {
			return lineErr(i+2, "the END signature is over the chain value of line %d: line %d and the lines after it were added after the file was signed", i+1, i+2)
		}
	}
	return lineErr(end+1, "the END signature does not match the last chain value with this public key (key id %s%s): "+
		"the file was signed with another key, lines before END were removed, or the lines were chained again", KeyID(pub), named)
}

// checkLastEnd checks that the last of lines, and only it, is an END line.
func checkLastEnd(lines []string) error {
	end := len(lines) - 1
	for i, l := range lines[:end] {
		if strings.HasPrefix(l, "END,") {
			return lineErr(i+2, "a line follows the END line (line %d): lines were added after the file was signed", i+1)
		}
	}
	if end == 0 || !strings.HasPrefix(lines[end], "END,") {
		return lineErr(end+1, "the last line is not the END line (END,SIGNATURE): the file was cut short")
	}
	return nil
}

// chainError says why line n's stored chain value does not follow from
// the line before it: the line was moved from after another line, or it (or
// the line before it) was edited, or a line before it was removed.
func chainError(n int, lines, values []string, text, stored string) error {
	for j, l := range lines[:len(lines)-1] {
		if j+1 == n || j+2 == n {
			continue
		}
		_, prev, err := splitChain(j+1, l)
		if err == nil && link(prev, text) == stored {
			return lineErr(n, "the chain value does not follow from line %d's; the line was signed after line %d: lines were moved (reordered)", n-1, j+1)
		}
	}
	return lineErr(n, "the chain value does not follow from line %d's: this line was edited, or a line was removed just before it", n-1)
}

// parseWindow reads window line n and checks the form of each field.
func parseWindow(n int, line string) (Window, error) {
	parts := strings.Split(line, ",")
	if len(parts) != 5 {
		return Window{}, lineErr(n, "a window line has 5 fields (FEATURE-ID,START,END,SESSIONS,CHAIN); this one has %d", len(parts))
	}
	if parts[0] == "" {
		return Window{}, lineErr(n, "the feature id is empty")
	}
	var times [2]time.Time
	for i, name := range []string{"start", "end"} {
		t, err := time.Parse(TimeLayout, parts[1+i])
		if err != nil || t.Format(TimeLayout) != parts[1+i] {
			return Window{}, lineErr(n, "the %s %q is not a UTC time like 2024-10-20T06:49:23.183Z", name, parts[1+i])
		}
		times[i] = t
	}
	if !times[1].After(times[0]) {
		return Window{}, lineErr(n, "the window ends (%s) before or when it starts (%s)", parts[2], parts[1])
	}
	sessions, err := strconv.ParseUint(parts[3], 10, 64)
	if err != nil || strconv.FormatUint(sessions, 10) != parts[3] {
		return Window{}, lineErr(n, "the sessions %q are not a whole number in plain digits", parts[3])
	}
	if _, _, err := splitChain(n, line); err != nil {
		return Window{}, err
	}
	return Window{Feature: parts[0], Start: times[0], End: times[1], Sessions: sessions}, nil
}
