package metricsfile

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// writeLegacy writes rows in the legacy layout, as headcount metrics-file
// did before the MHS shape, so that the tests have such files to verify.
func writeLegacy(w io.Writer, deployment string, from, to time.Time, rows []legacyRow, key ed25519.PrivateKey) error {
	bw := bufio.NewWriter(w)
	first := fmt.Sprintf("# headcount metrics v1 deployment=%s from=%s to=%s", deployment, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	h := sha256.Sum256([]byte(first))
	fmt.Fprintln(bw, first)
	fmt.Fprintln(bw, legacyHeader)
	for _, r := range rows {
		line := r.fields()
		h = chain(h, line)
		fmt.Fprintf(bw, "%s,%s\n", line, hex.EncodeToString(h[:]))
	}
	fmt.Fprintf(bw, "# signature %s\n", base64.StdEncoding.EncodeToString(ed25519.Sign(key, h[:])))
	return bw.Flush()
}

func sampleRows() []legacyRow {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var rows []legacyRow
	for i := 0; i < 6; i++ {
		s := start.Add(time.Duration(i) * 10 * time.Minute)
		rows = append(rows, legacyRow{Start: s, End: s.Add(10 * time.Minute), Sessions: uint64(10 * (i + 1))})
	}
	return rows
}

// TestVerify_Legacy: a file in the layout written before the MHS shape
// still verifies, and every kind of change to it is named.
func TestVerify_Legacy(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	rows := sampleRows()
	var b bytes.Buffer
	if err := writeLegacy(&b, "dx-prod", rows[0].Start, rows[len(rows)-1].End, rows, priv); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n") // 0 header, 1 columns, 2..7 rows, 8 signature
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	with := func(f func([]string) []string) string { return join(f(append([]string(nil), lines...))) }

	var resigned bytes.Buffer
	_ = writeLegacy(&resigned, "dx-prod", rows[0].Start, rows[len(rows)-1].End, rows, otherPriv)
	// An appended row with a correct chain value (the chain has no key).
	lastHash, _ := hex.DecodeString(lines[7][strings.LastIndex(lines[7], ",")+1:])
	extra := legacyRow{Start: rows[5].End, End: rows[5].End.Add(10 * time.Minute), Sessions: 99}
	h := chain([32]byte(lastHash), extra.fields())
	appended := extra.fields() + "," + hex.EncodeToString(h[:])

	cases := []struct {
		name, file, want string
	}{
		{"edited count", with(func(l []string) []string { l[4] = strings.Replace(l[4], ",30,", ",3,", 1); return l }),
			"the metrics file was changed: line 5 was edited"},
		{"removed row", with(func(l []string) []string { return append(l[:4], l[5:]...) }),
			"the metrics file was changed: a row is missing before line 5 (removed)"},
		{"reordered rows", with(func(l []string) []string { l[3], l[4] = l[4], l[3]; return l }),
			"the metrics file was changed: line 4 is out of order (reordered)"},
		{"appended row", with(func(l []string) []string {
			return append(append(l[:8:8], appended), l[8])
		}), "the metrics file was changed: line 9 and after were appended"},
		{"last row removed", with(func(l []string) []string { return append(l[:7], l[8]) }),
			"the metrics file was changed: the signature does not match the rows: rows at the end were removed, or the rows were re-chained, or another key signed it"},
		{"signed by another key", resigned.String(),
			"the metrics file was changed: the signature does not match the rows: rows at the end were removed, or the rows were re-chained, or another key signed it"},
		{"signature line gone", with(func(l []string) []string { return l[:8] }),
			"the metrics file was changed: the signature line is missing (line 8)"},
	}
	if got, err := Verify([]byte(good), pub); err != nil || !got.Legacy || got.Header.Deployment != "dx-prod" || len(got.Windows) != 6 || got.Windows[2].Sessions != 30 {
		t.Fatalf("the untouched file: %+v, %v", got, err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file == good {
				t.Fatal("the case did not change the file")
			}
			_, err := Verify([]byte(tc.file), pub)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant %s", err, tc.want)
			}
		})
	}
}
