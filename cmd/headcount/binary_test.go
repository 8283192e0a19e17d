package main

// Helpers that run the headcount binary as a process: its start-up and its
// exit status are only visible from the outside.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds the headcount binary of this package once per flag set for
// all the tests, into binDir.
var binaries = struct {
	sync.Mutex
	built map[string]*builtBinary
}{built: map[string]*builtBinary{}}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var binDir string // holds the binaries built; removed by TestMain

// headcountBin returns the headcount binary built from this package with the
// race detector, as the unit tests run.
func headcountBin(t *testing.T) string { return buildBinary(t, "-race") }

// headcountBinFast returns the headcount binary built without the race
// detector, for tests that run it hundreds of times (about ten times faster).
func headcountBinFast(t *testing.T) string { return buildBinary(t) }

func buildBinary(t *testing.T, flags ...string) string {
	t.Helper()
	key := strings.Join(flags, " ")
	binaries.Lock()
	if binDir == "" {
		dir, err := os.MkdirTemp("", "headcount-bin-")
		if err != nil {
			binaries.Unlock()
			t.Fatal(err)
		}
		binDir = dir
	}
	b := binaries.built[key]
	if b == nil {
		b = &builtBinary{path: filepath.Join(binDir, fmt.Sprintf("headcount-%d", len(binaries.built)))}
		binaries.built[key] = b
	}
	binaries.Unlock()
	b.once.Do(func() {
		out, err := exec.Command("go", append(append([]string{"build"}, flags...), "-o", b.path, ".")...).CombinedOutput()
		if err != nil {
			b.err = errors.New(err.Error() + ": " + string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("building headcount %s: %v", key, b.err)
	}
	return b.path
}

// processEnv is this process's environment without the variables that set
// headcount's flags or its environment id, plus extra.
func processEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HEADCOUNT_") || strings.HasPrefix(kv, "POD_NAMESPACE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runBinary runs the headcount binary with args to its end and returns its
// exit status, stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runBinaryAt(t, headcountBin(t), args...)
}

// runBinaryAt is runBinary with the binary bin.
func runBinaryAt(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = processEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// servingAgent is a `headcount serve` process started by startServe.
type servingAgent struct {
	cmd   *exec.Cmd
	lines chan string // its stderr (the log, JSON), line by line; closed when it exits
	done  chan struct{}
}

// startServe starts `headcount serve` with args (and the logs in JSON) in
// the environment env, and stops it, if still running, when the test ends.
func startServe(t *testing.T, env []string, args ...string) *servingAgent {
	t.Helper()
	cmd := exec.Command(headcountBin(t), append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &servingAgent{cmd: cmd, lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
		_ = cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			_ = cmd.Process.Kill()
			for range a.lines {
			}
			<-a.done
		}
	})
	return a
}

// waitMetering reads the agent's log up to its line "headcount is metering"
// and returns the records read, that one last. It fails the test if the
// agent exits first.
func (a *servingAgent) waitMetering(t *testing.T) []map[string]any {
	t.Helper()
	var records []map[string]any
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-a.lines:
			if !ok {
				<-a.done
				t.Fatalf("the agent exited at start (status %d); its log:\n%v", a.cmd.ProcessState.ExitCode(), records)
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("a log line that is not JSON: %q", line)
			}
			records = append(records, r)
			if r["message"] == "headcount is metering" {
				return records
			}
		case <-deadline:
			t.Fatalf("the agent did not start within a minute; its log so far: %v", records)
		}
	}
}

// stop sends SIGTERM and returns the exit status.
func (a *servingAgent) stop(t *testing.T) int {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range a.lines {
	}
	<-a.done
	return a.cmd.ProcessState.ExitCode()
}
