package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/entitlement"
	"headcount/internal/atomicfile"
	"headcount/internal/plural"
	"headcount/store"
)

func licenseCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	pubFlag := &cli.StringFlag{Name: "pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` (default: the key built into this binary)"}
	return &cli.Command{
		Name:  "license",
		Usage: "sign, verify and show licences",
		Subcommands: []*cli.Command{
			signingCommand("sign", "sign a licence document (vendor side)", "LICENSE.json",
				"LICENSE.json holds license_id, licensee, deployment_id, environments, product,\n"+
					"entitled_sessions_per_year, contract_start and contract_end (YYYY-MM-DD, the last day included) and\n"+
					"issued_at. The signed licence is written to --output or standard output.",
				entitlement.Sign, onUsage),
			signingCommand("sign-extension", "sign a one-time extension of the grace period (vendor side)", "EXTENSION.json",
				"EXTENSION.json holds token_id, license_id, deployment_id, extension_days (1 to 14) and issued_at\n"+
					"(required). The days count from issued_at, or from the end of the grace period if that is later, so\n"+
					"issue the token when the site needs it. The site applies it with headcount license extend; a\n"+
					"deployment gets one extension, once.",
				entitlement.SignExtension, onUsage),
			configurable(&cli.Command{
				Name:      "extend",
				Usage:     "apply a vendor's one-time extension token to the grace period (customer side; stop the agent first)",
				ArgsUsage: "TOKEN",
				Description: "The token's days count from its issue (issued_at), or from the end of the grace period if that is\n" +
					"later: applied while the grace period runs it adds its days to the end; applied after the end, the\n" +
					"grace period ends its days after the token's issue, so apply it when it arrives. A token whose days\n" +
					"are over, or applied while no grace period is recorded (the agent records one at its checks), is\n" +
					"refused and not used. A deployment gets one extension, ever: a second token is refused.",
				OnUsageError: onUsage,
				Flags: []cli.Flag{
					pubFlag,
					&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`"},
					&cli.StringFlag{Name: "deployment", Required: true, Usage: "this deployment's `ID`, as in its licence"},
				},
				Action: extendGrace,
			}),
			{
				Name:         "verify",
				Usage:        "check a signed licence's signature and dates (customer side)",
				ArgsUsage:    "LICENSE",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{pubFlag},
				Action:       func(c *cli.Context) error { return showLicense(c, false) },
			},
			{
				Name:         "show",
				Usage:        "print a signed licence and its status",
				ArgsUsage:    "LICENSE",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{pubFlag},
				Action:       func(c *cli.Context) error { return showLicense(c, true) },
			},
		},
	}
}

// signingCommand is a vendor-side command that signs the document named by
// its argument with --key.
func signingCommand(name, usage, arg, description string, sign func([]byte, ed25519.PrivateKey) ([]byte, error), onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		ArgsUsage:    arg,
		Description:  description,
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "the vendor's private key `FILE` (from headcount keygen)"},
			&cli.StringFlag{Name: "output", Usage: "write the signed document to `FILE`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("license %s takes the document to sign, %s", name, arg)
			}
			key, err := readPrivateKey(c.String("key"))
			if err != nil {
				return err
			}
			doc, err := os.ReadFile(c.Args().First())
			if err != nil {
				return usageError{err}
			}
			out, err := sign(doc, key)
			if err != nil {
				return usagef("%s: %v", c.Args().First(), err)
			}
			if o := c.String("output"); o != "" {
				return atomicfile.Write(o, 0o644, func(w io.Writer) error { _, err := w.Write(out); return err })
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}

func showLicense(c *cli.Context, details bool) error {
	if c.NArg() != 1 {
		return usagef("license %s takes the signed licence file", c.Command.Name)
	}
	l, err := loadLicense(c.Args().First(), "--pubkey", c.String("pubkey"))
	if err != nil {
		return err
	}
	s, _ := entitlement.Evaluate(time.Now(), entitlement.Evidence{Kind: entitlement.LicenseFile, License: l}, entitlement.State{})
	w := c.App.Writer
	if details {
		fmt.Fprintf(w, "licence      %s\nlicensee     %s\ndeployment   %s\n", l.ID, l.Licensee, l.Deployment)
		if len(l.Environments) > 0 {
			fmt.Fprintf(w, "environments %v\n", l.Environments)
		}
		fmt.Fprintf(w, "product      %s\nsessions     %d a year\ncontract     %s to %s\nissued       %s\n",
			l.Product, l.Sessions, l.Start, l.End, l.Issued.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "signature ok; %s\n", s.Message)
	if s.Outcome != entitlement.Valid {
		return errors.New("the licence is not valid today")
	}
	return nil
}

func extendGrace(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("license extend takes the signed extension token")
	}
	pub, err := vendorKey("--pubkey", c.String("pubkey"))
	if err != nil {
		return err
	}
	data, err := os.ReadFile(c.Args().First())
	if err != nil {
		return usageError{err}
	}
	ext, err := entitlement.VerifyExtension(data, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Args().First(), err)
	}
	db, err := store.Open(c.String("db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	var st entitlement.State
	if raw, err := db.EntitlementState(); err != nil {
		return err
	} else if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("the stored entitlement state does not read: %w", err)
		}
	}
	st, grant, err := ext.Apply(st, c.String("deployment"), time.Now())
	if err != nil {
		return usageError{err}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := db.SetEntitlementState(raw); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "applied token %s (%s): %s\n", ext.TokenID, plural.Count(ext.Days, "day"), grant)
	return err
}
