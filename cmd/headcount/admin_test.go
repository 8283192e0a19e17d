package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"headcount/internal/remoteaddr"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// mustAgentPKI writes a CA (ca.pem) and the agent's certificate for ip
// (agent.pem, agent.key) that it signed, into dir.
func mustAgentPKI(t *testing.T, dir string, ip netip.Addr) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headcount test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "agent"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{ip.AsSlice()},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER},
		"agent.pem": {Type: "CERTIFICATE", Bytes: der}, "agent.key": {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		writeTestFile(t, filepath.Join(dir, name), string(pem.EncodeToMemory(block)))
	}
}

// buildHeadcount builds the command into a temporary directory.
func buildHeadcount(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "headcount")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestAdmin_RealBinary runs the real agent with its admin endpoint on an
// address that is not loopback, with TLS from a test CA and a user in its
// --web-config-file, and the real export, backup and check against it from
// that address: refused without credentials, served with them from flags
// or from the environment; plain HTTP and an unknown CA are told apart.
// /metrics stays open and counts the refusals.
func TestAdmin_RealBinary(t *testing.T) {
	ip, ok := remoteaddr.NonLoopback(t)
	if !ok {
		return
	}
	bin := buildHeadcount(t)
	db := seedDB(t)
	dir := t.TempDir()
	mustAgentPKI(t, dir, ip)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	writeTestFile(t, web, "tls_server_config:\n  cert_file: agent.pem\n  key_file: agent.key\nbasic_auth_users:\n  backup: "+string(hash)+"\n")
	password := filepath.Join(dir, "password")
	writeTestFile(t, password, "s3cret\n")
	ca := filepath.Join(dir, "ca.pem")

	run := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	const from, to = "2023-01-01", "2024-04-02"
	code, wantCSV, errOut := run(nil, "export", "--db", db, from, to)
	if code != 0 || errOut != "" || !strings.Contains(wantCSV, "2023-01,3685341,") {
		t.Fatalf("export of the stopped agent's file: %d %q %q", code, wantCSV, errOut)
	}

	serve := exec.Command(bin, "serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", netip.AddrPortFrom(ip, 0).String(), "--web-config-file", web)
	logs, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		<-stopped
	})
	lines := bufio.NewScanner(logs)
	var addr string
	for addr == "" && lines.Scan() {
		var line struct {
			Message   string `json:"message"`
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal(lines.Bytes(), &line) == nil && line.Message == "headcount is metering" {
			addr = line.AdminAddr
		}
	}
	if addr == "" {
		t.Fatalf("the agent did not start: %v", lines.Err())
	}
	served := make(chan string, 1000) // the agent's log lines after the start
	go func() {
		for lines.Scan() {
			served <- lines.Text()
		}
		_ = serve.Wait()
		close(served)
		close(stopped)
	}()
	logged := map[string]bool{}
	// waitLogged waits for the agent to log a line with want.
	waitLogged := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			for l := range logged {
				if strings.Contains(l, want) {
					return
				}
			}
			select {
			case l, ok := <-served:
				if !ok {
					t.Fatalf("the agent stopped without logging %s", want)
				}
				logged[l] = true
			case <-timeout:
				t.Fatalf("the agent did not log %s within 10s", want)
			}
		}
	}

	asks := func(route string) string {
		return "headcount: the agent at " + addr + " serves " + route + " to this host only with credentials: give --admin-user and the password (--admin-password-file or HEADCOUNT_ADMIN_PASSWORD)\n"
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	flags := []string{"--admin-user", "backup", "--admin-password-file", password}
	userEnv := []string{"HEADCOUNT_ADMIN_USER=backup", "HEADCOUNT_ADMIN_PASSWORD=s3cret", "HEADCOUNT_ADMIN_CA=" + ca}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string // exact, unless "…" ends it: a prefix
		stderr string
	}{
		{"export without credentials", nil, []string{"export", "--db", db, "--admin-addr", addr, "--admin-ca", ca, from, to}, 1, "", asks("/snapshot")},
		{"backup without credentials", nil, []string{"backup", "--db", db, "--admin-addr", addr, "--admin-ca", ca, copyPath}, 1, "", asks("/backup")},
		{"check without credentials", nil, []string{"check", "--db", db, "--admin-addr", addr, "--admin-ca", ca}, 1, "", asks("/backup")},
		{"export, wrong password", []string{"HEADCOUNT_ADMIN_PASSWORD=s3cret!"}, []string{"export", "--db", db, "--admin-addr", addr, "--admin-ca", ca, "--admin-user", "backup", from, to}, 1, "",
			"headcount: the agent at " + addr + " refused the password of --admin-user backup for /snapshot: check both against its --web-config-file\n"},
		{"export over plain HTTP", nil, append([]string{"export", "--db", db, "--admin-addr", addr, from, to}, flags...), 1, "",
			"headcount: the agent at " + addr + " serves HTTPS: give --admin-ca FILE (or --admin-tls)\n"},
		{"export with credentials from flags", nil, append([]string{"export", "--db", db, "--admin-addr", addr, "--admin-ca", ca, from, to}, flags...), 0, wantCSV, ""},
		{"export with credentials from the environment", userEnv, []string{"export", "--db", db, "--admin-addr", addr, from, to}, 0, wantCSV, ""},
		{"backup with credentials from the environment", userEnv, []string{"backup", "--db", db, "--admin-addr", addr, copyPath}, 0,
			"backed up " + db + " to " + copyPath + ": …", ""},
		{"check with credentials from flags", nil, append([]string{"check", "--db", db, "--admin-addr", addr, "--admin-ca", ca}, flags...), 0,
			"checked a consistent copy of " + db + " (the agent holds it)\n…", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.env, tc.args...)
			outOK := out == tc.stdout
			if prefix, ok := strings.CutSuffix(tc.stdout, "…"); ok {
				outOK = strings.HasPrefix(out, prefix)
			}
			if code != tc.code || !outOK || errOut != tc.stderr {
				t.Errorf("status %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	if code, out, errOut := run(nil, "export", "--db", copyPath, from, to); code != 0 || out != wantCSV {
		t.Errorf("export of the backup: %d %q %q; want %q", code, out, errOut, wantCSV)
	}
	// The system's CAs do not know the test's.
	code, _, errOut = run(userEnv[:2], "export", "--db", db, "--admin-addr", addr, "--admin-tls", from, to)
	if code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority") {
		t.Errorf("--admin-tls with the system's CAs: %d %q", code, errOut)
	}

	// Each reason of refusal is logged, with its count.
	for _, want := range []string{`"reason":"unauthenticated","refused":1,`, `"reason":"bad_credentials","refused":1,`, `"reason":"tls_handshake","refused":1,`} {
		waitLogged(want)
	}

	// /metrics answers a client without credentials, and counts the refusals
	// (plain HTTP and the unknown CA each failed a handshake).
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`headcount_admin_refused_total{reason="unauthenticated"} 3`, `headcount_admin_refused_total{reason="bad_credentials"} 1`,
		`headcount_admin_refused_total{reason="tls_handshake"} 2`, `headcount_admin_refused_total{reason="busy"} 0`} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics (%s) lacks %q", resp.Status, want)
		}
	}
}

// TestAdmin_BadInput: wrong admin credentials flags and web configuration
// files are bad input: one line, status 2.
func TestAdmin_BadInput(t *testing.T) {
	db := seedDB(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeTestFile(t, empty, "\n")
	notPEM := filepath.Join(dir, "ca.txt")
	writeTestFile(t, notPEM, "not a certificate\n")
	badHash := filepath.Join(dir, "bad-hash.yml")
	writeTestFile(t, badHash, "basic_auth_users:\n  backup: s3cret\n")
	typo := filepath.Join(dir, "typo.yml")
	writeTestFile(t, typo, "basic_auth_user:\n  backup: s3cret\n")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		env  string // HEADCOUNT_ADMIN_PASSWORD
		args []string
		want string
	}{
		{"user without a password", "", []string{"export", "--db", db, "--admin-user", "backup", "2024-01-01", "2024-02-01"},
			"headcount: --admin-user backup needs a password: --admin-password-file FILE or HEADCOUNT_ADMIN_PASSWORD\n"},
		{"password without a user", "s3cret", []string{"backup", "--db", db, filepath.Join(dir, "copy.db")},
			"headcount: a password for the admin endpoint is given but no user: add --admin-user NAME\n"},
		{"empty password file", "", []string{"check", "--db", db, "--admin-user", "backup", "--admin-password-file", empty},
			"headcount: --admin-password-file " + empty + " is empty: write --admin-user's password in it\n"},
		{"missing password file", "", []string{"export", "--db", db, "--admin-user", "backup", "--admin-password-file", missing, "2024-01-01", "2024-02-01"},
			"headcount: --admin-password-file: open " + missing + ": no such file or directory\n"},
		{"CA file without a certificate", "", []string{"export", "--db", db, "--admin-ca", notPEM, "2024-01-01", "2024-02-01"},
			"headcount: --admin-ca " + notPEM + " holds no PEM certificate: give the certificate authority that signed the agent's certificate\n"},
		{"web config with a password instead of its hash", "", []string{"serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--web-config-file", badHash},
			"headcount: --web-config-file " + badHash + ": crypto/bcrypt: hashedSecret too short to be a bcrypted password (see README: Admin endpoint)\n"},
		{"web config with a typo", "", []string{"serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--web-config-file", typo},
			"headcount: --web-config-file " + typo + ": yaml: unmarshal errors: line 1: field basic_auth_user not found in type web.Config (see README: Admin endpoint)\n"},
		{"web config without an endpoint", "", []string{"serve", "--db", db, "--spoe-addr", "127.0.0.1:0", "--admin-addr", "", "--web-config-file", typo},
			"headcount: --web-config-file " + typo + " configures the admin endpoint, which --admin-addr \"\" disables: give an --admin-addr\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HEADCOUNT_ADMIN_PASSWORD", tc.env)
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2, nothing, %q", code, out, errOut, tc.want)
			}
		})
	}
}
