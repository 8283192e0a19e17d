package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// built is the headcount binary the tests of this file build once.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// builtBinary builds the real headcount binary (once for the test run) and
// returns its path.
func builtBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "headcount-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "headcount")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = &buildError{string(out)}
		}
	})
	if built.err != nil {
		t.Fatalf("building headcount: %v", built.err)
	}
	return built.path
}

type buildError struct{ out string }

func (e *buildError) Error() string { return e.out }

// TestBinary_ConsoleLogWithoutColour: the console log format writes no
// colour codes where its output is not a terminal (here a pipe, as when
// the log goes to a file or a journal).
func TestBinary_ConsoleLogWithoutColour(t *testing.T) {
	bin := builtBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--log-format", "console", "--db", filepath.Join(dir, "headcount.db"),
		"--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--environment", "test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() {
		t.Fatalf("serve wrote no log line: %v", cmd.Wait())
	}
	first := lines.Text()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(first, " INF headcount is metering ") || !strings.Contains(first, " environment=test ") {
		t.Errorf("first line %q, want the console form of \"headcount is metering\"", first)
	}
	for _, line := range append([]string{first}, rest...) {
		if strings.Contains(line, "\x1b[") {
			t.Errorf("a colour code in a log line written to a pipe: %q", line)
		}
	}
}

// TestBinary_OutputTooLarge: when the system refuses the report's write
// (here the file size limit), the error names the file asked for, not the
// temporary file it was written through, and nothing is left behind.
func TestBinary_OutputTooLarge(t *testing.T) {
	bin := builtBinary(t)
	db := seedDB(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	cmd := exec.Command("sh", "-c", `ulimit -f 1 && exec "$0" "$@"`, bin,
		"export", "--db", db, "--format", "html", "--output", out, "2023-01-01", "2024-04-02")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 || err == nil {
		t.Errorf("exit status %d, want 1", code)
	}
	if want := "headcount: write " + out + ": file too large\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the failed write left %d files behind", len(entries))
	}
}
