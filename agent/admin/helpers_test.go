package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"headcount/store"
)

// mustDB returns an open database holding a few imported days.
func mustDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	if err := db.Import([]store.DayCount{{Day: day(1), Sessions: 11}, {Day: day(2), Sessions: 22}, {Day: day(3), Sessions: 33}}); err != nil {
		t.Fatal(err)
	}
	return db
}

// testPKI is a certificate authority made for one test and a server
// certificate it signed, as PEM files.
type testPKI struct {
	CA, Cert, Key string // file paths
}

// mustPKI makes a CA and a server certificate for ips and localhost in dir.
func mustPKI(t *testing.T, dir string, ips ...netip.Addr) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headcount test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "headcount agent"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "agent.pem"), Key: filepath.Join(dir, "agent.key")}
	write := func(path, kind string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.CA, "CERTIFICATE", caDER)
	write(p.Cert, "CERTIFICATE", der)
	write(p.Key, "EC PRIVATE KEY", keyDER)
	return p
}

// mustWebConfig writes a web configuration file in dir with users (name →
// password, stored as bcrypt hashes) and, when tls is set, its certificate.
func mustWebConfig(t *testing.T, dir string, users map[string]string, tls *testPKI) string {
	t.Helper()
	var b strings.Builder
	if tls != nil {
		b.WriteString("tls_server_config:\n  cert_file: " + filepath.Base(tls.Cert) + "\n  key_file: " + filepath.Base(tls.Key) + "\n")
	}
	if len(users) > 0 {
		b.WriteString("basic_auth_users:\n")
		for name, password := range users {
			hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("  " + name + ": " + string(hash) + "\n")
		}
	}
	path := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineWriter sends each write (a zerolog line) on a channel, so that a test
// waits for a log line instead of sleeping.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// waitLine returns the first line from lines that contains want, failing
// the test after 10 s.
func waitLine(t *testing.T, lines <-chan string, want string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no log line with %q within 10s", want)
		}
	}
}
