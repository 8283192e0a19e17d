package main

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
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
