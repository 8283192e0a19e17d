// Package remoteaddr gives tests an address of this machine from which a
// connection to a local server is not a loopback connection, falling back to
// a network namespace of the test's own where the machine has none.
package remoteaddr

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsEnv marks a test process that runs inside its own network namespace.
const netnsEnv = "HEADCOUNT_TEST_NETNS"

// NonLoopback returns an IPv4 address of this machine that is not loopback,
// so that a client connecting from it is not a loopback client. On a
// machine without one (or with HEADCOUNT_TEST_FORCE_NETNS=1) it runs the
// test again in a network namespace of its own (unshare --net, as root)
// whose lo also carries 198.51.100.7, and returns ok false: the caller
// returns, the run in the namespace having passed.
func NonLoopback(t *testing.T) (addr netip.Addr, ok bool) {
	t.Helper()
	if os.Getenv("HEADCOUNT_TEST_FORCE_NETNS") == "" || os.Getenv(netnsEnv) != "" {
		if a, found := machineAddr(); found {
			return a, true
		}
	}
	if os.Getenv(netnsEnv) != "" {
		t.Fatal("no address but loopback, even in the network namespace")
	}
	script := `ip link set lo up && ip addr add 198.51.100.7/32 dev lo && exec "$0" "$@"`
	cmd := exec.Command("unshare", "--net", "sh", "-c", script, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s in a network namespace of its own (unshare --net, as root): %v\n%s", t.Name(), err, out)
	}
	t.Logf("ran in a network namespace with 198.51.100.7 on its loopback interface")
	return netip.Addr{}, false
}

// machineAddr returns the first IPv4 address of an up interface that is
// neither loopback nor link-local.
func machineAddr() (netip.Addr, bool) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			if ip := p.Addr(); ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}
