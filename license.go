package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/entitlement"
	"headcount/store"
)

// licensePubKey is the vendor's licence-signing public key compiled in with
// -ldflags "-X main.licensePubKey=BASE64" (the 32 raw bytes); --license-pubkey
// overrides it.
var licensePubKey string

func keygenCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make an Ed25519 key pair: NAME.key (private, 0600) and NAME.pub",
		ArgsUsage: "NAME",
		Description: "The vendor's pair signs licences (keep NAME.key offline; ship NAME.pub with the product or pass it\n" +
			"with --license-pubkey). A site's pair signs its usage reports.",
		OnUsageError: onUsage,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("keygen takes the name of the pair, e.g. headcount keygen vendor")
			}
			name := c.Args().First()
			priv, pub, err := entitlement.GenerateKey()
			if err != nil {
				return err
			}
			for _, f := range []struct {
				path string
				data []byte
				mode os.FileMode
			}{{name + ".key", priv, 0o600}, {name + ".pub", pub, 0o644}} {
				if _, err := os.Stat(f.path); err == nil {
					return usagef("%s exists: keygen never overwrites a key", f.path)
				}
				if err := writeAtomically(f.path, f.mode, func(w io.Writer) error { _, err := w.Write(f.data); return err }); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s.key (private, keep it secret) and %s.pub\n", name, name)
			return err
		},
	}
}

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
				"EXTENSION.json holds token_id, license_id, deployment_id, extension_days (1 to 14) and issued_at.\n"+
					"The site applies the token with headcount license extend; a deployment gets one extension, once.",
				entitlement.SignExtension, onUsage),
			{
				Name:         "extend",
				Usage:        "apply a vendor's one-time extension token to the grace period (customer side; stop the agent first)",
				ArgsUsage:    "TOKEN",
				OnUsageError: onUsage,
				Flags: []cli.Flag{
					pubFlag,
					&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`"},
					&cli.StringFlag{Name: "deployment", Required: true, Usage: "this deployment's `ID`, as in its licence"},
				},
				Action: extendGrace,
			},
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
				return writeAtomically(o, 0o644, func(w io.Writer) error { _, err := w.Write(out); return err })
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}

// readPrivateKey reads a PEM Ed25519 private key made by headcount keygen.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	key, err := entitlement.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("--key %s: %v", path, err)
	}
	return key, nil
}

// vendorKey returns the public key from path, or the built-in one.
func vendorKey(path string) (ed25519.PublicKey, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError{err}
		}
		k, err := entitlement.ParsePublicKey(data)
		if err != nil {
			return nil, usagef("%s: %v", path, err)
		}
		return k, nil
	}
	raw, err := base64.StdEncoding.DecodeString(licensePubKey)
	if licensePubKey == "" || err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, usagef("no vendor public key: pass --license-pubkey FILE (this binary has none built in)")
	}
	return ed25519.PublicKey(raw), nil
}

// loadLicense reads and verifies a signed licence file.
func loadLicense(path, pubPath string) (entitlement.License, error) {
	pub, err := vendorKey(pubPath)
	if err != nil {
		return entitlement.License{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return entitlement.License{}, usageError{err}
	}
	l, err := entitlement.Verify(data, pub)
	if err != nil {
		return entitlement.License{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func showLicense(c *cli.Context, details bool) error {
	if c.NArg() != 1 {
		return usagef("license %s takes the signed licence file", c.Command.Name)
	}
	l, err := loadLicense(c.Args().First(), c.String("pubkey"))
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
	pub, err := vendorKey(c.String("pubkey"))
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
	st, err = ext.Apply(st, c.String("deployment"))
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
	msg := "it applies when a grace period starts"
	if !st.GraceStart.IsZero() {
		end := st.GraceStart.Add(entitlement.GracePeriod + time.Duration(st.ExtensionDays)*24*time.Hour)
		msg = "the grace period now ends on " + end.UTC().Format("2006-01-02")
	}
	_, err = fmt.Fprintf(c.App.Writer, "extended the grace period by %d days (token %s); %s\n", ext.Days, ext.TokenID, msg)
	return err
}

func usageCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "usage",
		Usage: "sessions used in the current contract year against the entitlement, with a forecast",
		Description: "Reads the licence (--license, verified with --license-pubkey or the built-in key) for the entitled\n" +
			"sessions and the contract year, and the database (directly, or through the running agent) for the\n" +
			"sessions used; forecasts the day the entitlement runs out at the rate of the last 30 days.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.StringFlag{Name: "license", Required: true, EnvVars: env("LICENSE"), Usage: "the signed licence `FILE`"},
			&cli.StringFlag{Name: "license-pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` (default: built in)"},
		},
		Action: func(c *cli.Context) error {
			l, err := loadLicense(c.String("license"), c.String("license-pubkey"))
			if err != nil {
				return err
			}
			u, err := licenseUsage(l, c.String("db"), c.String("admin-addr"), time.Now())
			if err != nil {
				return err
			}
			start, end := u.YearStart, u.YearEnd
			w := c.App.Writer
			fmt.Fprintf(w, "licence %s for %s: contract year %s to %s\n", l.ID, l.Deployment,
				start.Format("2006-01-02"), end.AddDate(0, 0, -1).Format("2006-01-02"))
			fmt.Fprintf(w, "sessions used %d of %d (%.1f %%)\n", u.Used, u.Entitled, u.Percent)
			fmt.Fprintf(w, "recent rate %.0f sessions a day (last %d days)\n", u.DailyRate, recentDays)
			switch {
			case u.Used >= u.Entitled:
				fmt.Fprintln(w, "the entitlement for this contract year is used up")
			case !u.RunsOut.IsZero():
				fmt.Fprintf(w, "at this rate the entitlement runs out on %s\n", u.RunsOut.Format("2006-01-02"))
			default:
				fmt.Fprintln(w, "at this rate the entitlement lasts the contract year")
			}
			return nil
		},
	}
}

// recentDays is the window of the consumption forecast's daily rate.
const recentDays = 30

// licenseUsage reads the sessions of l's contract year containing now, and
// of the last recentDays days, and forecasts.
func licenseUsage(l entitlement.License, db, adminAddr string, now time.Time) (entitlement.Usage, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	start, _ := l.ContractYear(today)
	recentFrom := today.AddDate(0, 0, -recentDays+1)
	snap, err := readSnapshot(db, adminAddr, earlier(start, recentFrom), today.AddDate(0, 0, 1), store.Parts{})
	if err != nil {
		return entitlement.Usage{}, err
	}
	var used, recent uint64
	for _, d := range snap.Days {
		if !d.Day.Before(start) {
			used += d.Sessions
		}
		if !d.Day.Before(recentFrom) {
			recent += d.Sessions
		}
	}
	return l.Forecast(today, used, recent, recentDays), nil
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
