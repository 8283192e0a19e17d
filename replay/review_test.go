package replay

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
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
