package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"headcount/store"
)

// TestServe_FailedStartCreatesNothing runs the real binary with a start-up
// that fails — an address in use, an unreadable file, a missing directory —
// and checks the exit status and the message, that no database file was
// created, and that an existing database is left byte for byte (no
// environment stored in it).
func TestServe_FailedStartCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	spoeInUse, adminInUse := mustTakenAddr(t), mustTakenAddr(t)
	missing := filepath.Join(dir, "missing")
	vendor := filepath.Join(dir, "vendor")
	if code, _, errOut := runCLI(t, "keygen", vendor); code != 0 {
		t.Fatal(errOut)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string // the whole stderr
	}{
		{"SPOP address in use", []string{"--spoe-addr", spoeInUse, "--admin-addr", ""}, 1,
			"headcount: listen for SPOP on " + spoeInUse + ": listen tcp " + spoeInUse + ": bind: address already in use\n"},
		{"admin address in use", []string{"--spoe-addr", "127.0.0.1:0", "--admin-addr", adminInUse}, 1,
			"headcount: listen for the admin endpoint on " + adminInUse + ": listen tcp " + adminInUse + ": bind: address already in use\n"},
		{"unreadable CA file", []string{"--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--entitlement-url", "https://vendor.example/check", "--entitlement-ca", missing}, 2,
			"headcount: open " + missing + ": no such file or directory\n"},
		{"unreadable licence", []string{"--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--license", missing, "--license-pubkey", vendor + ".pub"}, 2,
			"headcount: --license: open " + missing + ": no such file or directory\n"},
		{"missing exclusion file", []string{"--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--exclude-ip-file", missing}, 2,
			"headcount: open " + missing + ": no such file or directory\n"},
		{"missing report directory", []string{"--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--report-dir", missing}, 2,
			"headcount: --report-dir " + missing + ": not a directory\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "headcount.db")
			code, out, errOut := runBinary(t, append([]string{"serve", "--db", db, "--environment", "uat"}, tc.args...)...)
			if code != tc.code || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tc.code, tc.want)
			}
			if entries, _ := os.ReadDir(filepath.Dir(db)); len(entries) != 0 {
				t.Errorf("a failed start left %d files: %v", len(entries), entries)
			}
		})
		t.Run(tc.name+", existing database", func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "headcount.db")
			hist := filepath.Join(t.TempDir(), "history.csv")
			writeTestFile(t, hist, "date,sessions\n2023-01-01,5\n")
			if code, _, errOut := runBinary(t, "import", "--create", "--db", db, hist); code != 0 { // no environment stored
				t.Fatalf("import: %s", errOut)
			}
			before, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runBinary(t, append([]string{"serve", "--db", db, "--environment", "uat"}, tc.args...)...)
			if code != tc.code || errOut != tc.want {
				t.Errorf("status %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
			if after, err := os.ReadFile(db); err != nil || !bytes.Equal(before, after) {
				t.Errorf("a failed start changed the existing database (%v)", err)
			}
		})
	}
}

// TestServe_HeldDatabase: a second agent on a database another holds is
// refused (its lock is taken before serving), releases its addresses, and
// the database is neither removed nor changed.
func TestServe_HeldDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "headcount.db")
	first := startServe(t, processEnv(), "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--environment", "prod")
	first.waitMetering(t)
	l, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the second agent, which binds it, then fails on the lock
	if err != nil {
		t.Fatal(err)
	}
	spoe := l.Addr().String()
	l.Close()
	code, out, errOut := runBinary(t, "serve", "--db", db, "--spoe-addr", spoe, "--admin-addr", "", "--environment", "uat")
	want := "headcount: " + db + ": database is in use by another process\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("second agent: status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
	if l, err := net.Listen("tcp", spoe); err != nil {
		t.Errorf("the refused agent left its SPOP address bound: %v", err)
	} else {
		l.Close()
	}
	if code := first.stop(t); code != 0 {
		t.Fatalf("first agent: exit status %d", code)
	}
	if code, out, _ := runBinary(t, "environment", "show", "--db", db); code != 0 || out != db+": environment \"prod\", never renamed\n" {
		t.Errorf("environment show: status %d, %q", code, out)
	}
}

// TestServe_FailedCommitAtStart runs the real binary under strace, which
// makes its Nth and every later fdatasync fail, for N = 1, 2, … until a start
// succeeds: the start-up's writes — creating the file, the recovery and the
// environment — fail one after the other. A start that failed leaves no
// file, one that logged "headcount is metering" has made it. Some failures
// must come after the file was created (a failed commit of the agent's own
// start-up writes, which the start then removes); strace counts the calls
// per thread, and the Go scheduler may move the start-up to another thread
// between two commits, so the scan is repeated (up to 5 times) until one
// shows such a failure.
func TestServe_FailedCommitAtStart(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed (installed by .ci/run): %v", err)
	}
	for round := 1; round <= 5; round++ {
		if scanFailedCommits(t, strace) > 0 {
			return
		}
	}
	t.Errorf("in 5 scans, no start failed after the database was created; the test proves nothing")
}

// scanFailedCommits makes the Nth and later fdatasync calls of
// `headcount serve` fail, for N = 1, 2, … until a start succeeds, checks
// each run, and returns how many runs failed after the file was created.
func scanFailedCommits(t *testing.T, strace string) (afterCreate int) {
	t.Helper()
	bin := headcountBin(t)
	for n := 1; ; n++ {
		if n > 30 {
			t.Fatalf("no start succeeded with fdatasync failing from the %dth call on", n-1)
		}
		dir := t.TempDir()
		db := filepath.Join(dir, "headcount.db")
		cmd := exec.Command(strace, "-f", "-qq", "-o", filepath.Join(t.TempDir(), "strace.out"), "-e", "trace=fdatasync",
			"-e", fmt.Sprintf("inject=fdatasync:error=EIO:when=%d+", n),
			bin, "serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--log-format", "json", "--environment", "prod")
		cmd.Env = processEnv("GOMAXPROCS=1") // fewer moves between threads
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		started := make(chan struct{})
		w := &lineWatch{want: `"message":"headcount is metering"`, seen: started}
		cmd.Stderr = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-started:
			if _, err := os.Stat(db); err != nil {
				t.Errorf("N=%d: the agent meters, but its database: %v", n, err)
			}
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return afterCreate
		case err := <-exited:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("N=%d: %v, want exit status 1; stderr:\n%s", n, err, w.text())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("N=%d: a failed start left %d files (%v); stderr:\n%s", n, len(entries), entries, w.text())
			}
			// Creating the file failed, or a commit of the start-up after it.
			switch w.text() {
			case "headcount: " + db + ": input/output error\n":
			case "headcount: " + store.ErrCommit.Error() + ": " + db + ": input/output error\n":
				afterCreate++
			default:
				t.Errorf("N=%d: stderr %q", n, w.text())
			}
		}
	}
}

// lineWatch collects what is written to it, and closes seen once it holds
// the text want.
type lineWatch struct {
	want string
	seen chan struct{}
	buf  bytes.Buffer
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *lineWatch) text() string { return w.buf.String() }
