package metricsfile

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzVerify: Verify reads any bytes without panicking, and a file in the
// MHS shape or a signed report that it accepts is exactly the file Write or
// Seal makes of what Verify returned (line ends aside): nothing the
// signature does not cover passes.
func FuzzVerify(f *testing.F) {
	pub, priv := fixedKey()
	golden, err := os.ReadFile("testdata/golden.metrics")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(bytes.ReplaceAll(golden, []byte("\n"), []byte("\r\n")))
	f.Add(golden[:len(golden)/2])
	f.Add([]byte("1,k,p,v,d,0000\nEND,00\n"))
	f.Add([]byte("# headcount metrics v1 deployment=d from=x to=y\nwindow_start,window_end,sessions,chain\n# signature AA==\n"))
	f.Add([]byte(""))
	var sealed bytes.Buffer
	if err := Seal(&sealed, "day,sessions\n2026-11-01,3\n", priv); err != nil {
		f.Fatal(err)
	}
	f.Add(sealed.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Verify(data, pub)
		if err != nil || file.Legacy {
			return
		}
		var b bytes.Buffer
		if file.Report != nil {
			err = Seal(&b, strings.Join(file.Report, "\n")+"\n", priv)
		} else {
			err = Write(&b, file.Header, file.Windows, priv)
		}
		if err != nil {
			t.Fatalf("a verified file does not write again: %v", err)
		}
		norm := strings.ReplaceAll(string(data), "\r\n", "\n")
		if !strings.HasSuffix(norm, "\n") {
			norm += "\n"
		}
		if b.String() != norm {
			t.Fatalf("verified\n%q\nbut Write makes\n%q", norm, b.String())
		}
	})
}
