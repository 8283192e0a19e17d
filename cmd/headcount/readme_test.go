package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notRun lists the README commands that this test cannot run, with the
// reason; instead, when set, is what the test does in the command's place so
// that the commands after it find what they expect. A README command that is
// neither run nor listed here fails the test, and so does an entry the
// README no longer has.
var notRun = map[string]struct {
	reason  string
	instead func(r *readmeRun)
}{
	"make run": {reason: "builds ./headcount inside the checkout and serves on the fixed default ports; " +
		"step 1's headcount serve is the same agent, run here"},
	"make test": {reason: "is the suite this test belongs to"},
	"openssl pkeyutl -verify -pubin -inkey headcount-release.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig": {
		reason: "needs a release bundle made by make dist; make dist-test (scripts/dist-test) runs it on one"},
	"sha256sum -c --ignore-missing SHA256SUMS": {reason: "needs a release bundle made by make dist; make dist-test runs it on one"},
	"dpkg -i headcount_<v>_amd64.deb":          {reason: "installs a release package on the host; make dist-test installs, upgrades and purges one"},
	"headcount environment rename --db /var/lib/headcount/headcount.db dx-prod": {reason: "needs the agent of the steps above " +
		"stopped; main.TestEnvironment_Rename and main.TestServe_EnvironmentMismatch run it"},
	"headcount serve --admin-addr 0.0.0.0:9345 --web-config-file /etc/headcount/web.yml": {reason: "needs the " +
		"certificate, key and web.yml of the example, made by the site; main.TestAdmin_RealBinary runs serve with a " +
		"web config file of its own"},
	"HEADCOUNT_ADMIN_PASSWORD=… headcount backup --admin-addr agent:9345 --admin-user backup --admin-ca /etc/headcount/ca.pem /var/backups/headcount.db": {
		reason: "runs from another host against the agent above; main.TestAdmin_RealBinary runs backup over TLS with a user"},
	"headcount license extend --pubkey vendor.pub --deployment dx-prod x-1.token": {reason: "applies only to a " +
		"database whose grace period runs or has ended, 28 days after the contract's end, while the README's licence " +
		"is valid; main.TestLicense_Extend runs it on such a database"},
	"systemctl reload haproxy": {reason: "needs systemd and an installed haproxy service; " +
		"the test starts haproxy -f /etc/haproxy/haproxy.cfg in its place",
		instead: func(r *readmeRun) { r.startHAProxy() }},
}

// readyAfter names README commands that the text says show something
// "within seconds": the test waits, up to the deadline, until running the
// command shows the expected text, as a reader would run it again.
var readyAfter = map[string]string{
	"curl -s 127.0.0.1:9345/readyz":                    `"haproxy_connected":true`,
	"curl -s 127.0.0.1:9345/metrics | grep headcount_": "headcount_spoe_messages_total",
}

// stopsAgent are the commands before which the README says to stop the
// agent (import, license extend) or that start another one.
var stopsAgent = []string{"headcount import", "headcount migrate", "headcount license extend", "headcount serve --license", "headcount serve --db"}

// TestReadme_CommandsRun runs every command of README.md's sh code blocks,
// in order, as a reader following the README would, against the binary
// built from this checkout, a real HAProxy and a running agent. Every
// command must exit with status 0.
//
// The commands run as written, with these substitutions only:
//   - each runs with bash -c in a temporary working directory that links
//     the checkout's top-level files and directories (so that
//     `cp haproxy/...` and `go build ./cmd/headcount` work as in a checkout)
//     and receives every file the commands write;
//   - headcount on PATH is the binary built from this checkout; haproxy is
//     $HAPROXY, default /usr/sbin/haproxy;
//   - an absolute path under /var/ or /etc/haproxy/ is taken under a
//     temporary ROOT; ROOT/var/backups and ROOT/etc/haproxy exist, as on a
//     Debian system with HAProxy installed, and ROOT/etc/haproxy/haproxy.cfg
//     is the shipped haproxy/haproxy.cfg, which steps 3 to 5 of the wiring
//     describe (edits, not commands);
//   - the fixed addresses 127.0.0.1:12345 (SPOP), 127.0.0.1:9345 (admin),
//     127.0.0.1:8080 (the site) and 127.0.0.1:8081 (its application) are
//     free loopback ports, in the commands and in haproxy.cfg, and
//     HEADCOUNT_SPOE_ADDR and HEADCOUNT_ADMIN_ADDR hold them for the
//     defaults;
//   - headcount serve runs in the background (the test waits for its
//     "headcount is metering" line) until a command that the README says
//     needs the agent stopped, another serve, or the end; it then gets
//     SIGTERM and must exit with status 0.
func TestReadme_CommandsRun(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	commands := readmeCommands(string(readme))
	if len(commands) < 10 {
		t.Fatalf("found %d commands in README.md's sh blocks; the parser lost some", len(commands))
	}
	checkProse(t, string(readme), commands)
	listed := map[string]bool{}
	for _, c := range commands {
		if _, ok := notRun[commandKey(c)]; ok {
			listed[commandKey(c)] = true
		}
	}
	for k := range notRun {
		if !listed[k] {
			t.Errorf("notRun lists %q, which README.md's sh blocks no longer have: remove it", k)
		}
	}

	r := newReadmeRun(t)
	defer r.stopAll()
	for _, c := range commands {
		key := commandKey(c)
		if nr, ok := notRun[key]; ok {
			if nr.instead != nil {
				nr.instead(r)
			}
			continue
		}
		for _, prefix := range stopsAgent {
			if strings.HasPrefix(key, prefix) {
				r.stopAgent()
			}
		}
		if strings.HasPrefix(key, "headcount serve ") && !strings.Contains(key, "--help") {
			r.startAgent(c)
			continue
		}
		if want, ok := readyAfter[key]; ok {
			r.waitShows(c, want)
			continue
		}
		if out, err := r.run(c); err != nil {
			t.Errorf("README command %q: %v\n%s", c, err, out)
		}
	}
	r.stopAll()
}

// readmeCommands returns the commands of the sh code blocks of a README, in
// order: a line each, a here-document with its lines, comment lines left out.
func readmeCommands(readme string) []string {
	var commands []string
	inSh, heredocEnd := false, ""
	heredoc := regexp.MustCompile(`<<-?'?([A-Z]+)'?`)
	for _, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case len(commands) > 0 && strings.HasSuffix(commands[len(commands)-1], "\\") && inSh:
			commands[len(commands)-1] += "\n" + trimmed // a continued line
		case heredocEnd != "":
			commands[len(commands)-1] += "\n" + trimmed
			if trimmed == heredocEnd {
				heredocEnd = ""
			}
		case strings.HasPrefix(trimmed, "```"):
			inSh = !inSh && trimmed == "```sh"
		case !inSh || trimmed == "" || strings.HasPrefix(trimmed, "#"):
		default:
			commands = append(commands, trimmed)
			if m := heredoc.FindStringSubmatch(trimmed); m != nil {
				heredocEnd = m[1]
			}
		}
	}
	return commands
}

// commandKey is a command without its trailing comment and extra spaces:
// what notRun, readyAfter and stopsAgent name.
func commandKey(command string) string {
	first, _, _ := strings.Cut(strings.ReplaceAll(command, "\\\n", " "), "\n")
	if i := strings.Index(first, " #"); i >= 0 && !strings.Contains(first[:i], "'") {
		first = first[:i]
	}
	return strings.Join(strings.Fields(first), " ")
}

// checkProse requires every headcount command named in the README's prose
// (`headcount …` in backquotes) to be shown by a command that the test runs:
// one with the same command and the same words, in order, among others, so
// that prose cannot show a command that fails as written.
func checkProse(t *testing.T, readme string, commands []string) {
	t.Helper()
	spans := regexp.MustCompile("`(headcount [^`]+)`").FindAllStringSubmatch(readme, -1)
	for _, m := range spans {
		span := strings.Fields(m[1])
		found := false
		for _, c := range commands {
			if shows(strings.Fields(commandKey(c)), span) {
				found = true
			}
		}
		if !found {
			t.Errorf("README.md's prose names `%s`, which no command of its sh blocks shows: add one that runs", m[1])
		}
	}
}

// shows reports whether command is span's command (its first two words) and
// has span's other words in the same order.
func shows(command, span []string) bool {
	if len(span) < 2 || len(command) < 2 || command[0] != span[0] || command[1] != span[1] {
		return false
	}
	rest := span[2:]
	for _, w := range command[2:] {
		if len(rest) > 0 && w == rest[0] {
			rest = rest[1:]
		}
	}
	return len(rest) == 0
}

// readmeRun is the state of one run of the README's commands.
type readmeRun struct {
	t       *testing.T
	work    string // the working directory
	root    string // stands for /
	env     []string
	replace *strings.Replacer
	agent   *exec.Cmd
	agentIn io.ReadCloser
	admin   string
	haproxy *exec.Cmd
}

func newReadmeRun(t *testing.T) *readmeRun {
	bin := headcountBin(t)
	haproxyBin := os.Getenv("HAPROXY")
	if haproxyBin == "" {
		haproxyBin = "/usr/sbin/haproxy"
	}
	r := &readmeRun{t: t, work: t.TempDir(), root: t.TempDir()}
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(checkout)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" || e.Name() == "headcount" {
			continue
		}
		if err := os.Symlink(filepath.Join(checkout, e.Name()), filepath.Join(r.work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(r.root, "bin")
	for _, dir := range []string{"bin", "var/backups", "etc/haproxy"} {
		if err := os.MkdirAll(filepath.Join(r.root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"headcount": bin, "haproxy": haproxyBin} {
		if err := os.Symlink(target, filepath.Join(path, name)); err != nil {
			t.Fatal(err)
		}
	}
	spoe, admin, site, app := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	r.admin = admin
	r.replace = strings.NewReplacer("/var/", r.root+"/var/", "/etc/haproxy/", r.root+"/etc/haproxy/",
		"127.0.0.1:12345", spoe, "127.0.0.1:9345", admin, "127.0.0.1:8080", site, "127.0.0.1:8081", app)
	cfg, err := os.ReadFile(filepath.Join(checkout, "haproxy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root, "etc/haproxy/haproxy.cfg"), []byte(r.replace.Replace(string(cfg))), 0o644); err != nil {
		t.Fatal(err)
	}
	r.env = append(os.Environ(), "PATH="+path+":"+os.Getenv("PATH"),
		"HEADCOUNT_SPOE_ADDR="+spoe, "HEADCOUNT_ADMIN_ADDR="+admin)
	return r
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (r *readmeRun) command(c string) *exec.Cmd {
	cmd := exec.Command("bash", "-c", "set -o pipefail\n"+r.replace.Replace(c))
	cmd.Dir, cmd.Env = r.work, r.env
	return cmd
}

// run runs c to its end and returns its output.
func (r *readmeRun) run(c string) (string, error) {
	out, err := r.command(c).CombinedOutput()
	r.t.Logf("$ %s\n%s", c, out)
	return string(out), err
}

// waitShows runs c every 100ms until it succeeds and shows want, for up to
// 20 seconds: what it waits for is HAProxy's next health check, which only
// the command's answer shows.
func (r *readmeRun) waitShows(c, want string) {
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := r.run(c)
		if err == nil && strings.Contains(out, want) {
			return
		}
		select {
		case <-deadline:
			r.t.Errorf("README command %q did not show %q within 20s: %v\n%s", c, want, err, out)
			return
		case <-tick.C:
		}
	}
}

// startAgent starts the serve command c in the background and waits for its
// "headcount is metering" log line.
func (r *readmeRun) startAgent(c string) {
	cmd := r.command("exec " + c) // so that SIGTERM reaches the agent
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.agent, r.agentIn = cmd, stderr
	lines := bufio.NewScanner(stderr)
	var seen bytes.Buffer
	for lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "headcount is metering") {
			go io.Copy(io.Discard, stderr) // the rest of the log
			return
		}
	}
	err = cmd.Wait()
	r.agent = nil
	r.t.Fatalf("README command %q did not start the agent: %v\n%s", c, err, seen.String())
}

// stopAgent stops the running agent, if any, with SIGTERM; it must exit 0.
func (r *readmeRun) stopAgent() {
	if r.agent == nil {
		return
	}
	cmd := r.agent
	r.agent = nil
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		r.t.Errorf("the agent of README command %q exited: %v", cmd.Args[len(cmd.Args)-1], err)
	}
}

// startHAProxy starts haproxy with /etc/haproxy/haproxy.cfg, as a reload
// by systemd would, and waits until its site's port answers.
func (r *readmeRun) startHAProxy() {
	cmd := r.command("exec haproxy -f /etc/haproxy/haproxy.cfg")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.haproxy = cmd
	site := r.replace.Replace("127.0.0.1:8080")
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + site + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-deadline:
			r.t.Fatalf("haproxy did not listen on %s within 10s: %v\n%s", site, err, out.String())
		case <-tick.C:
		}
	}
}

// stopAll stops the agent and HAProxy.
func (r *readmeRun) stopAll() {
	r.stopAgent()
	if r.haproxy != nil {
		_ = r.haproxy.Process.Signal(syscall.SIGTERM)
		_ = r.haproxy.Wait()
		r.haproxy = nil
	}
}

// TestReadme_Commands checks the parser the README test relies on.
func TestReadme_Commands(t *testing.T) {
	readme := "text `headcount x`\n```sh\nheadcount a --b   # note\n# a comment\n\ncat > f <<'JSON'\n{\"k\": 1}\nJSON\nheadcount c \\\n    --d e\n```\n" +
		"```\nnot a command\n```\n```yaml\nkey: value\n```\n   ```sh\n   mkdir -p /var/lib/x\n   ```\n"
	got := readmeCommands(readme)
	want := []string{"headcount a --b   # note", "cat > f <<'JSON'\n{\"k\": 1}\nJSON", "headcount c \\\n--d e", "mkdir -p /var/lib/x"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if k := commandKey(got[0]); k != "headcount a --b" {
		t.Errorf("key %q", k)
	}
	if k := commandKey(got[2]); k != "headcount c --d e" {
		t.Errorf("key of a continued line %q", k)
	}
}

// TestReadme_ConfigExample: the README's example --config file is one that
// serve reads: with it, serve goes on to the next check (here a --db, given
// on the command line, in a directory that does not exist).
func TestReadme_ConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "Example `--config` file:\n\n```yaml\n")
	example, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no example --config file in a yaml block after \"Example `--config` file:\"")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "headcount.yaml")
	writeTestFile(t, cfg, example)
	db := filepath.Join(dir, "missing", "headcount.db")
	code, out, errOut := runCLI(t, "serve", "--config", cfg, "--db", db)
	want := "headcount: --db " + db + ": the directory " + filepath.Join(dir, "missing") + " does not exist; create it first\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("serve --config with the README's example: status %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
}
