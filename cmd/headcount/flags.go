package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"headcount/agent/admin"
)

// dbFlag is the --db flag of the commands that read a database.
func dbFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: usage}
}

// adminAddrFlag returns the --admin-addr flag of the commands that read a database
// a running agent may hold.
func adminAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: "admin-addr", Value: "127.0.0.1:9345", EnvVars: env("ADMIN_ADDR"), Usage: "admin endpoint `ADDR` of the agent that holds --db while it runs"}
}

// adminAuthFlags returns the flags with which the commands that read a
// database reach an agent whose admin endpoint asks for credentials (a
// client not on its loopback) or speaks HTTPS. The password is read from a
// file or HEADCOUNT_ADMIN_PASSWORD, never from the command line, where any
// user of the machine could read it.
func adminAuthFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "admin-user", EnvVars: env("ADMIN_USER"), Usage: "give the agent's admin endpoint this user `NAME` of its --web-config-file (needed from another host)"},
		&cli.StringFlag{Name: "admin-password-file", EnvVars: env("ADMIN_PASSWORD_FILE"), Usage: "read --admin-user's password from `FILE` (a trailing newline is ignored); or set HEADCOUNT_ADMIN_PASSWORD"},
		&cli.BoolFlag{Name: "admin-tls", EnvVars: env("ADMIN_TLS"), Usage: "speak HTTPS to the admin endpoint, trusting the system's certificate authorities"},
		&cli.StringFlag{Name: "admin-ca", EnvVars: env("ADMIN_CA"), Usage: "speak HTTPS to the admin endpoint, trusting only the certificate authorities in this PEM `FILE`"},
	}
}

// adminClient returns the client of the agent's admin endpoint that the
// command's flags describe.
func adminClient(c *cli.Context) (admin.Client, error) {
	client := admin.Client{Addr: c.String("admin-addr"), User: c.String("admin-user")}
	password := os.Getenv("HEADCOUNT_ADMIN_PASSWORD")
	if path := c.String("admin-password-file"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return client, usagef("--admin-password-file: %v", err)
		}
		password = strings.TrimRight(string(data), "\r\n")
		if password == "" {
			return client, usagef("--admin-password-file %s is empty: write --admin-user's password in it", path)
		}
	}
	switch {
	case client.User != "" && password == "":
		return client, usagef("--admin-user %s needs a password: --admin-password-file FILE or HEADCOUNT_ADMIN_PASSWORD", client.User)
	case client.User == "" && password != "":
		return client, usagef("a password for the admin endpoint is given but no user: add --admin-user NAME")
	}
	client.Password = password
	if path := c.String("admin-ca"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return client, usagef("--admin-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return client, usagef("--admin-ca %s holds no PEM certificate: give the certificate authority that signed the agent's certificate", path)
		}
		client.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	} else if c.Bool("admin-tls") {
		client.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return client, nil
}

func env(name string) []string { return []string{"HEADCOUNT_" + name} }

// environment returns the --environment value, else RELEASE-NAMESPACE from
// HEADCOUNT_RELEASE and HEADCOUNT_NAMESPACE (or Kubernetes' POD_NAMESPACE),
// else the host name.
func environment(flag string) string {
	if flag != "" {
		return flag
	}
	release := os.Getenv("HEADCOUNT_RELEASE")
	namespace := os.Getenv("HEADCOUNT_NAMESPACE")
	if namespace == "" {
		namespace = os.Getenv("POD_NAMESPACE")
	}
	if release != "" && namespace != "" {
		return release + "-" + namespace
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return host
	}
	return "unknown"
}

func parsePrefixes(flag string, values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, usagef("%s %q is not a CIDR (e.g. 10.0.0.0/8) or an address", flag, s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), usagef("--log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !isTerminal(w)}
	default:
		return zerolog.Nop(), usagef("--log-format %q: want json or console", format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// dirMustExist refuses, as bad input, a file to be written whose directory
// does not exist: headcount makes files, never directories, so that a typo
// in a path cannot scatter databases or reports across the disk. what names
// the flag or command that gave path.
func dirMustExist(what, path string) error {
	dir := filepath.Dir(path)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return usagef("%s %s: the directory %s does not exist; create it first", what, path, dir)
	}
	return nil
}

// valueHint says what a flag of f's kind takes, for the message that refuses
// a value it cannot read; "" for kinds whose values are read as given.
func valueHint(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag, *altsrc.DurationFlag:
		return "a duration such as 30m or 1h30m"
	case *cli.IntFlag, *altsrc.IntFlag:
		return "a whole number such as 512"
	case *cli.BoolFlag, *altsrc.BoolFlag:
		return "true or false"
	}
	return ""
}

// findFlag returns the flag of flags named name, or nil.
func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

var (
	// The flag package's words for a value it cannot read, and urfave/cli's
	// for an environment variable's.
	badFlagValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([^:]+): (.*)$`)
	badEnvValue  = regexp.MustCompile(`^could not parse "(.*)" .*from environment variable "([^"]+)" for flag ([^:]+): (.*)$`)
	unknownFlag  = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
)

// explainUsage makes cmd's (and its subcommands') parse errors teach: a
// value a flag cannot read says what the flag takes, an unknown flag names
// the closest known one. path is the command's name after "headcount".
func explainUsage(path string, cmd *cli.Command) {
	path = strings.TrimSpace(path + " " + cmd.Name)
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageError{explainParseError(path, cmd.Flags, err)}
	}
	for _, sub := range cmd.Subcommands {
		explainUsage(path, sub)
	}
}

// explainParseError rewrites a parse error of the command path, whose flags
// are flags, in words that say what to do.
func explainParseError(path string, flags []cli.Flag, err error) error {
	msg := err.Error()
	if m := badFlagValue.FindStringSubmatch(msg); m != nil {
		if hint := valueHint(findFlag(flags, m[2])); hint != "" {
			return fmt.Errorf("invalid value %q for --%s: %s", m[1], m[2], hint)
		}
		return fmt.Errorf("invalid value %q for --%s: %s", m[1], m[2], m[3])
	}
	if m := badEnvValue.FindStringSubmatch(msg); m != nil {
		if hint := valueHint(findFlag(flags, m[3])); hint != "" {
			return fmt.Errorf("invalid value %q for %s: %s", m[1], m[2], hint)
		}
		return fmt.Errorf("invalid value %q for %s: %s", m[1], m[2], m[4])
	}
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		name, _, _ := strings.Cut(m[1], "=")
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		if near := closest(name, names); near != "" {
			return fmt.Errorf("unknown flag --%s; did you mean --%s?", name, near)
		}
		return fmt.Errorf("unknown flag --%s; see headcount %s --help", name, path)
	}
	return err
}

// closest returns the name in names nearest to name, if near enough to be
// what was meant: the same with dashes for underscores, or within a few
// typed letters; else "".
func closest(name string, names []string) string {
	dashed := strings.ReplaceAll(name, "_", "-")
	best, bestDist := "", len(name)/3+1
	if bestDist > 3 {
		bestDist = 3
	}
	for _, n := range names {
		if n == dashed {
			return n
		}
		if d := editDistance(dashed, n); d <= bestDist && (best == "" || d < editDistance(dashed, best)) {
			best = n
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isTerminal reports whether w is a terminal, where the console log format
// may colour its output; in a file or a pipe the colour codes would be noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// readInput reads the file at path that what (a flag or command) names; a
// file that is missing or unreadable is bad input, said in one line that
// names what gave it.
func readInput(what, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("%s %s: no such file", what, path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("%s %s: %v", what, path, err)
	}
	return data, nil
}

// checkListenAddr refuses, as bad input, a listen address that is not
// HOST:PORT with a port from 0 to 65535 (the host may be empty: all
// interfaces).
func checkListenAddr(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return usagef("invalid value %q for %s: an address HOST:PORT such as 127.0.0.1:12345", addr, flag)
	}
	return nil
}
