package keying

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Exclusion files, as HCL's User Session Reporting Tool takes them: one
// network a line (--exclude-ip-file), and one session key a line
// (--exclude-key-file), `IP "User-Agent" "X-Forwarded-For"`. Blank lines
// and lines starting with # are ignored. Errors name the file and the line
// number, never a line's content: these files hold client addresses and
// headers, which the agent never writes anywhere.

// keyTuple is one line of an exclude-key file: the values a request's key
// is made of. It lives only until the handler has hashed it.
type keyTuple struct {
	ip      netip.Addr
	ua, xff string
}

// CheckFiles reads the exclusion files as a Keyer will, and returns the
// first error it finds (file and line number): serve and replay call it to
// refuse bad input before anything starts.
func CheckFiles(ipFile, keyFile string) error {
	if ipFile != "" {
		if _, err := readExcludeIPFile(ipFile); err != nil {
			return err
		}
	}
	if keyFile != "" {
		if _, err := readExcludeKeyFile(keyFile); err != nil {
			return err
		}
	}
	return nil
}

// readExcludeIPFile reads the networks of an exclude-ip file: an address
// (a /32 or /128) or a CIDR a line.
func readExcludeIPFile(path string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := eachLine(path, func(n int, line string) error {
		if p, err := netip.ParsePrefix(line); err == nil {
			out = append(out, p.Masked())
			return nil
		}
		a, err := netip.ParseAddr(line)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%s line %d: want an IP address or a CIDR such as 10.0.0.0/8", path, n)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
		return nil
	})
	return out, err
}

// readExcludeKeyFile reads the session keys of an exclude-key file.
func readExcludeKeyFile(path string) ([]keyTuple, error) {
	var out []keyTuple
	err := eachLine(path, func(n int, line string) error {
		k, ok := parseKeyLine(line)
		if !ok {
			return fmt.Errorf(`%s line %d: want IP "User-Agent" "X-Forwarded-For" (the User-Agent and the X-Forwarded-For in double quotes, - for a missing header)`, path, n)
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

// parseKeyLine parses `IP "User-Agent" "X-Forwarded-For"`. Inside the
// quotes, \" is a quote and \\ a backslash.
func parseKeyLine(line string) (keyTuple, bool) {
	ipText, rest, ok := strings.Cut(line, " ")
	if !ok {
		return keyTuple{}, false
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil || ip.Zone() != "" {
		return keyTuple{}, false
	}
	ua, rest, ok := quoted(strings.TrimLeft(rest, " "))
	if !ok {
		return keyTuple{}, false
	}
	xff, rest, ok := quoted(strings.TrimLeft(rest, " "))
	if !ok || strings.TrimSpace(rest) != "" {
		return keyTuple{}, false
	}
	return keyTuple{ip: ip.Unmap(), ua: ua, xff: xff}, true
}

// quoted returns the double-quoted string s starts with, unescaped, and
// what follows it.
func quoted(s string) (value, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				i++
				b.WriteByte(s[i])
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// eachLine calls fn with each line of the file that is neither blank nor a
// comment, trimmed, and its 1-based number.
func eachLine(path string, fn func(n int, line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", path, err)
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			if ferr := fn(n, t); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return nil
		}
	}
}
