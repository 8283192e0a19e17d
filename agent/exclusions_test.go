package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// With --trusted-proxies, the X-Forwarded-For of a request from elsewhere
// is not part of its key: a client rotating the header stays one session.
// From a trusted proxy it is, and without the flag every client is trusted.
func TestHandler_TrustedProxies(t *testing.T) {
	client := netip.MustParseAddr("198.51.100.7")
	proxy := netip.MustParseAddr("10.1.2.3")
	ua := "Mozilla/5.0 (X11; Linux x86_64)"
	h := NewHandler(HandlerConfig{Production: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil, zerolog.Nop())

	rotated, _ := keyOf(t, h, requestMsg(client, ua, "203.0.113.1"))
	for _, xff := range []any{"203.0.113.2", "203.0.113.3, 10.0.0.1", nil, "-"} {
		if k, _ := keyOf(t, h, requestMsg(client, ua, xff)); k != rotated {
			t.Errorf("untrusted client with X-Forwarded-For %v: another key", xff)
		}
	}
	if got := h.XFFIgnored(); got != 3 { // the first request and the two others carrying a value
		t.Errorf("XFFIgnored = %d, want 3 (a missing header or - is not ignored, there is nothing to ignore)", got)
	}
	viaProxy1, _ := keyOf(t, h, requestMsg(proxy, ua, "203.0.113.1"))
	viaProxy2, _ := keyOf(t, h, requestMsg(proxy, ua, "203.0.113.2"))
	if viaProxy1 == viaProxy2 {
		t.Error("trusted proxy: X-Forwarded-For left out of the key")
	}
	// IPv4-mapped sources are the same address.
	if k, _ := keyOf(t, h, requestMsg(netip.MustParseAddr("::ffff:10.1.2.3"), ua, "203.0.113.1")); k != viaProxy1 {
		t.Error("an IPv4-mapped trusted proxy is not trusted")
	}

	all := NewHandler(HandlerConfig{Production: true}, nil, zerolog.Nop())
	a, _ := keyOf(t, all, requestMsg(client, ua, "203.0.113.1"))
	b, _ := keyOf(t, all, requestMsg(client, ua, "203.0.113.2"))
	if a == b || all.XFFIgnored() != 0 {
		t.Errorf("no --trusted-proxies: keys equal %v, ignored %d; want every client trusted", a == b, all.XFFIgnored())
	}
}

// The exclusion files exclude what they list, exactly: a session key only
// with its three values as the request carries them.
func TestHandler_ExclusionFiles(t *testing.T) {
	dir := t.TempDir()
	ipFile, keyFile := filepath.Join(dir, "ips.txt"), filepath.Join(dir, "keys.txt")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ipFile, "# monitors\n192.0.2.10\n\n  198.51.100.0/24  \n2001:db8::/32\n")
	write(keyFile, "# internal\n203.0.113.5 \"Probe/1.0 \\\"x\\\"\" \"-\"\n203.0.113.6 \"Mozilla/5.0\" \"10.9.9.9, 10.0.0.1\"\n")
	h := NewHandler(HandlerConfig{Production: true, ExcludeIPFile: ipFile, ExcludeKeyFile: keyFile,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("203.0.113.6/32")}}, nil, zerolog.Nop())
	if networks, keys, err := h.LoadExclusions(); err != nil || networks != 3 || keys != 2 {
		t.Fatalf("LoadExclusions = %d, %d, %v; want 3 networks, 2 keys", networks, keys, err)
	}
	excluded := []struct {
		name   string
		ip, ua string
		xff    any
	}{
		{"listed address", "192.0.2.10", "Mozilla/5.0", nil},
		{"in a listed network", "198.51.100.77", "Mozilla/5.0", "1.2.3.4"},
		{"IPv6 network", "2001:db8::1", "Mozilla/5.0", nil},
		{"listed key, missing header as -", "203.0.113.5", `Probe/1.0 "x"`, nil},
		{"listed key with its X-Forwarded-For", "203.0.113.6", "Mozilla/5.0", "10.9.9.9, 10.0.0.1"},
	}
	for _, tc := range excluded {
		if _, metered := keyOf(t, h, requestMsg(netip.MustParseAddr(tc.ip), tc.ua, tc.xff)); metered {
			t.Errorf("%s: metered, want excluded", tc.name)
		}
	}
	metered := []struct {
		name   string
		ip, ua string
		xff    any
	}{
		{"next address", "192.0.2.11", "Mozilla/5.0", nil},
		{"listed key's address, other User-Agent", "203.0.113.5", "Probe/1.0", nil},
		{"listed key's address and User-Agent, other X-Forwarded-For", "203.0.113.6", "Mozilla/5.0", "10.9.9.9"},
	}
	for _, tc := range metered {
		if _, ok := keyOf(t, h, requestMsg(netip.MustParseAddr(tc.ip), tc.ua, tc.xff)); !ok {
			t.Errorf("%s: excluded, want metered", tc.name)
		}
	}

	// A broken file leaves the lists in force; the error names the line,
	// never its content.
	write(keyFile, "203.0.113.7 \"Mozilla/5.0\" \"-\"\n203.0.113.8 Mozilla/5.0 -\n")
	_, _, err := h.LoadExclusions()
	want := keyFile + ` line 2: want IP "User-Agent" "X-Forwarded-For" (the User-Agent and the X-Forwarded-For in double quotes, - for a missing header)`
	if err == nil || err.Error() != want {
		t.Errorf("LoadExclusions of a broken file: %v\nwant %s", err, want)
	}
	if _, ok := keyOf(t, h, requestMsg(netip.MustParseAddr("203.0.113.5"), `Probe/1.0 "x"`, nil)); ok {
		t.Error("after a failed reload the old key list is no longer in force")
	}
	write(ipFile, "192.0.2.10\nnot-an-address\n")
	if err := CheckExclusionFiles(ipFile, ""); err == nil || err.Error() != ipFile+" line 2: want an IP address or a CIDR such as 10.0.0.0/8" {
		t.Errorf("CheckExclusionFiles: %v", err)
	}
}
