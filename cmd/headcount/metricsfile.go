package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/entitlement"
	"headcount/internal/atomicfile"
	"headcount/internal/plural"
	"headcount/report/metricsfile"
	"headcount/store"
)

// defaultFeature is the feature id of a metrics file's window lines unless
// --feature-id names another.
const defaultFeature = "user-sessions"

func metricsFileCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "metrics-file",
		Usage:     "write the signed usage file (MHS shape) for carrying out of an air-gapped site",
		ArgsUsage: "FROM TO",
		Description: "One line per metered 10-minute window of FROM ≤ t < TO (dates YYYY-MM-DD, UTC) that has ended:\n" +
			"feature id, start, end, sessions completed (bots included), and a SHA-256 chain value; a window\n" +
			"nobody metered has no line. Line 1 names the key, product, version and deployment; the last line\n" +
			"is the site key's Ed25519 signature of the chain's end (headcount keygen makes the key). The file\n" +
			"is FROM's YYYY-MM-DDTHH-MM-SS_usage.metrics in the current directory unless --output names\n" +
			"another (- for standard output). headcount verify checks it.",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.StringFlag{Name: "key", Required: true, Usage: "the site's private key `FILE` (headcount keygen)"},
			&cli.StringFlag{Name: "deployment", Required: true, EnvVars: env("DEPLOYMENT"), Usage: "deployment `ID` named in the file"},
			&cli.StringFlag{Name: "key-id", EnvVars: env("KEY_ID"), Usage: "the key's `ID` named in the file, as the receiver knows it (default: the first 16 hex digits of the SHA-256 of the public key)"},
			&cli.StringFlag{Name: "product", Value: "headcount", EnvVars: env("PRODUCT"), Usage: "the product `NAME` the file reports usage of"},
			&cli.StringFlag{Name: "product-version", EnvVars: env("PRODUCT_VERSION"), Usage: "the product's `VERSION` (default: this headcount's version)"},
			&cli.StringFlag{Name: "feature-id", Value: defaultFeature, EnvVars: env("FEATURE_ID"), Usage: "the feature `ID` of every window line"},
			&cli.StringFlag{Name: "output", Usage: "write to `FILE` (atomically), - for standard output (default: FROM's YYYY-MM-DDTHH-MM-SS_usage.metrics)"},
		}, adminAuthFlags()...),
		Action: func(c *cli.Context) error {
			from, to, err := parseRange(c)
			if err != nil {
				return err
			}
			out := c.String("output")
			if out == "" {
				out = metricsfile.FileName(from)
			}
			if out != "-" {
				if err := dirMustExist("--output", out); err != nil {
					return err
				}
			}
			key, err := readPrivateKey(c.String("key"))
			if err != nil {
				return err
			}
			h := metricsfile.Header{KeyID: c.String("key-id"), Product: c.String("product"),
				Version: c.String("product-version"), Deployment: c.String("deployment")}
			if !c.IsSet("key-id") {
				h.KeyID = metricsfile.KeyID(key.Public().(ed25519.PublicKey))
			}
			if !c.IsSet("product-version") {
				h.Version = version
			}
			for _, f := range []struct{ flag, value string }{{"--key-id", h.KeyID}, {"--product", h.Product},
				{"--product-version", h.Version}, {"--deployment", h.Deployment}, {"--feature-id", c.String("feature-id")}} {
				if err := metricsfile.CheckField(f.flag, f.value); err != nil {
					return usageError{err}
				}
			}
			client, err := adminClient(c)
			if err != nil {
				return err
			}
			snap, err := admin.ReadSnapshot(c.String("db"), client, from, to, store.Parts{Windows: true})
			if err != nil {
				return err
			}
			windows := metricsfile.Metered(c.String("feature-id"), from, to, time.Now(), snap.Windows, snap.Coverage, snap.Imported)
			write := func(w io.Writer) error { return metricsfile.Write(w, h, windows, key) }
			if out == "-" {
				return write(c.App.Writer)
			}
			if err := atomicfile.Write(out, 0o644, write); err != nil {
				return err
			}
			var sessions uint64
			for _, w := range windows {
				sessions += w.Sessions
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s, %s, signed with key id %s\n",
				out, plural.Count(len(windows), "metered window"), plural.Count(sessions, "session"), h.KeyID)
			return err
		},
	})
}

// readSignKey reads the site's private key (headcount keygen) that flag
// names.
func readSignKey(flag, path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("%s %s: %v; give the private key that headcount keygen made", flag, path, err)
	}
	key, err := entitlement.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("%s %s: %v", flag, path, err)
	}
	return key, nil
}
