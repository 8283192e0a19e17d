package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

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
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), usagef("--log-format %q: want json or console", format)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
