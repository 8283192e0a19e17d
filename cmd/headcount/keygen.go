package main

import (
	"fmt"
	"io"
	"os"

	"headcount/entitlement"
	"headcount/internal/atomicfile"

	"github.com/urfave/cli/v2"
)

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
			if err := dirMustExist("keygen", name); err != nil {
				return err
			}
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
				if err := atomicfile.Write(f.path, f.mode, func(w io.Writer) error { _, err := w.Write(f.data); return err }); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s.key (private, keep it secret) and %s.pub\n", name, name)
			return err
		},
	}
}
