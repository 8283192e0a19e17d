package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"headcount/entitlement"
)

// licenseFiles makes a vendor key pair and signed licences under dir: a
// valid one, the same edited, and one for another product. It returns their
// paths.
type licenseFiles struct{ pub, valid, edited, otherProduct, notLicense string }

func mustLicenseFiles(t *testing.T, dir string) licenseFiles {
	t.Helper()
	vendor := filepath.Join(dir, "vendor")
	if code, _, errOut := runCLI(t, "keygen", vendor); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	end := time.Now().UTC().AddDate(0, 0, 100).Format("2006-01-02")
	f := licenseFiles{pub: vendor + ".pub", valid: filepath.Join(dir, "license.signed"), edited: filepath.Join(dir, "edited.signed"),
		otherProduct: filepath.Join(dir, "other.signed"), notLicense: filepath.Join(dir, "notes.txt")}
	sign := func(out, product string) {
		doc := filepath.Join(dir, "doc.json")
		writeTestFile(t, doc, `{"license_id":"L-7","licensee":"Example Bank","deployment_id":"dx-prod","product":"`+product+`",
			"entitled_sessions_per_year":4000000,"contract_start":"2026-01-01","contract_end":"`+end+`","issued_at":"2025-12-01T09:00:00Z"}`)
		if code, _, errOut := runCLI(t, "license", "sign", "--key", vendor+".key", "--output", out, doc); code != 0 {
			t.Fatalf("license sign: %s", errOut)
		}
	}
	sign(f.valid, "headcount")
	sign(f.otherProduct, "dx-core")
	signed, err := os.ReadFile(f.valid)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, f.edited, strings.Replace(string(signed), "4000000", "9000000", 1))
	writeTestFile(t, f.notLicense, "renew by June\n")
	return f
}

// TestServe_LicenseConfigErrors: a licence serve cannot use is a
// configuration error — one line that names the option to fix, status 2,
// no database created — never a lapsed contract.
func TestServe_LicenseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	f := mustLicenseFiles(t, dir)
	db := filepath.Join(dir, "headcount.db")
	missing := filepath.Join(dir, "none.signed")
	taken := mustTakenAddr(t) // a start that went ahead would stop there instead of running on
	cases := []struct {
		name    string
		builtIn string // main.licensePubKey
		args    []string
		want    string
	}{
		{"no public key", "", []string{"--license", f.valid},
			"headcount: --license " + f.valid + " needs the vendor's public key to verify it: add --license-pubkey FILE (this binary has none built in)\n"},
		{"built-in key unreadable", "not base64!", []string{"--license", f.valid},
			"headcount: the vendor public key built into this binary is not the base64 of 32 bytes: add --license-pubkey FILE\n"},
		{"public key file missing", "", []string{"--license", f.valid, "--license-pubkey", missing},
			"headcount: --license-pubkey: open " + missing + ": no such file or directory\n"},
		{"public key file not a key", "", []string{"--license", f.valid, "--license-pubkey", f.notLicense},
			"headcount: --license-pubkey " + f.notLicense + ": not a PEM public key\n"},
		{"licence file missing", "", []string{"--license", missing, "--license-pubkey", f.pub},
			"headcount: --license: open " + missing + ": no such file or directory\n"},
		{"licence edited", "", []string{"--license", f.edited, "--license-pubkey", f.pub},
			"headcount: --license " + f.edited + " does not verify with --license-pubkey " + f.pub + ": the signature does not match: the file was changed or not signed with the vendor's key; use the licence file exactly as the vendor sent it, with the vendor's public key\n"},
		{"not a licence", "", []string{"--license", f.notLicense, "--license-pubkey", f.pub},
			"headcount: --license " + f.notLicense + ": not a signed headcount licence\n"},
		{"another product", "", []string{"--license", f.otherProduct, "--license-pubkey", f.pub},
			"headcount: --license " + f.otherProduct + ": licence L-7 is for the product \"dx-core\", not headcount\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := licensePubKey
			licensePubKey = tc.builtIn
			defer func() { licensePubKey = saved }()
			args := append([]string{"serve", "--db", db, "--spoe-addr", taken, "--admin-addr", ""}, tc.args...)
			code, out, errOut := runCLI(t, args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr:\n%q\nwant status 2 and:\n%q", code, out, errOut, tc.want)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("a refused start created the database")
			}
		})
	}
}

// TestServe_LicenseHelp: serve's help says what --license and
// --license-pubkey do when the licence cannot be used.
func TestServe_LicenseHelp(t *testing.T) {
	_, help, _ := runCLI(t, "serve", "--help")
	// The column the usage starts at depends on the longest flag: compare
	// with runs of spaces as one.
	help = strings.Join(strings.Fields(help), " ") + " "
	for _, want := range []string{
		"--license FILE check this signed licence FILE at start and daily (log, metrics, /readyz); its outcome never stops metering, but a licence that does not verify stops the start (status 2) [$HEADCOUNT_LICENSE] ",
		"--license-pubkey FILE the vendor's public key FILE that signed --license (default: the key built into this binary; required with --license when there is none) [$HEADCOUNT_LICENSE_PUBKEY] ",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks:\n%s", want)
		}
	}
}

// mustTakenAddr returns a loopback address a listener holds until the test
// ends.
func mustTakenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// mustBuild builds the headcount binary into dir with ldflags.
func mustBuild(t *testing.T, dir, ldflags string) string {
	t.Helper()
	bin := filepath.Join(dir, "headcount")
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// logLines runs cmd and returns a channel of its stderr lines, closed at EOF.
func logLines(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return lines
}

// waitLine returns the first line from lines that contains want, failing
// the test if the process ends or a minute passes first.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	limit := time.After(time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the agent's log ended without %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-limit:
			t.Fatalf("no log line with %q within a minute", want)
		}
	}
}

// TestServe_LicenseBinary runs the real binary: without a public key, or
// with an edited licence, serve refuses to start (status 2, the exact line);
// a binary built with the vendor's key inside starts with the licence and no
// --license-pubkey; a licence edited while it runs and read again (SIGHUP)
// is logged as a configuration error while the licence read at start stays
// in force.
func TestServe_LicenseBinary(t *testing.T) {
	dir := t.TempDir()
	f := mustLicenseFiles(t, dir)
	db := filepath.Join(dir, "headcount.db")
	serveArgs := []string{"serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", ""}

	plain := mustBuild(t, t.TempDir(), "")
	taken := mustTakenAddr(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no public key", []string{"--license", f.valid},
			"headcount: --license " + f.valid + " needs the vendor's public key to verify it: add --license-pubkey FILE (this binary has none built in)\n"},
		{"licence edited", []string{"--license", f.edited, "--license-pubkey", f.pub},
			"headcount: --license " + f.edited + " does not verify with --license-pubkey " + f.pub + ": the signature does not match: the file was changed or not signed with the vendor's key; use the licence file exactly as the vendor sent it, with the vendor's public key\n"},
	} {
		cmd := exec.Command(plain, append([]string{"serve", "--db", db, "--spoe-addr", taken, "--admin-addr", ""}, tc.args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || stderr.String() != tc.want {
			t.Errorf("%s: %v, stderr:\n%q\nwant status 2 and:\n%q", tc.name, err, stderr.String(), tc.want)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%s: a refused start created the database", tc.name)
		}
	}

	pemKey, err := os.ReadFile(f.pub)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := entitlement.ParsePublicKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	withKey := mustBuild(t, t.TempDir(), "-X main.licensePubKey="+base64.StdEncoding.EncodeToString(pub))
	license := filepath.Join(dir, "running.signed")
	valid, err := os.ReadFile(f.valid)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, license, string(valid))
	cmd := exec.Command(withKey, append(serveArgs, "--license", license)...)
	lines := logLines(t, cmd)
	defer cmd.Process.Kill()
	waitLine(t, lines, `"message":"entitlement valid: licence L-7 for dx-prod`)
	waitLine(t, lines, `"message":"headcount is metering"`)

	edited, err := os.ReadFile(f.edited)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, license, string(edited))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	problem := "--license " + license + " does not verify with the key built into this binary: the signature does not match: the file was changed or not signed with the vendor's key; use the licence file exactly as the vendor sent it, with the vendor's public key"
	line := waitLine(t, lines, "configuration error")
	for _, want := range []string{`"level":"error"`, `"licence_problem":"` + problem + `"`, `"licence_in_force":"L-7"`,
		`"message":"configuration error: the licence file does not verify (see licence_problem); the licence read before stays in force until a licence that verifies is read: fix --license or --license-pubkey, then send SIGHUP"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the reload's log line:\n%s\nlacks:\n%s", line, want)
		}
	}
	line = waitLine(t, lines, `"entitlement":`)
	if !strings.Contains(line, `"entitlement":"valid"`) || strings.Contains(line, "renew") {
		t.Errorf("after the failed reload the check says:\n%s\nwant the licence read at start, valid", line)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the agent's exit after SIGTERM: %v", err)
	}
}
