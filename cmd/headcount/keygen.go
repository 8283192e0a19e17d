package main

import (
	"encoding/base64"
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
			"with --license-pubkey, or build it into the binary: --print-build-key NAME.pub prints the value of\n" +
			"-ldflags \"-X main.licensePubKey=VALUE\"). A site's pair signs its usage reports.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "print-build-key", Usage: "write no key: print the public key `FILE` (NAME.pub) as the value to build into the binary, " +
				"as in go build -ldflags \"-X main.licensePubKey=$(headcount keygen --print-build-key vendor.pub)\""},
		},
		Action: func(c *cli.Context) error {
			if path := c.String("print-build-key"); path != "" {
				if c.NArg() != 0 {
					return usagef("keygen --print-build-key takes no NAME: it prints the key of the file it names and writes none")
				}
				return printBuildKey(c.App.Writer, path)
			}
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

// printBuildKey prints the public key in the PEM file at path as
// main.licensePubKey takes it: the base64 of its 32 bytes, on one line.
func printBuildKey(w io.Writer, path string) error {
	data, err := readInput("--print-build-key", path)
	if err != nil {
		return err
	}
	pub, err := entitlement.ParsePublicKey(data)
	if err != nil {
		return usagef("--print-build-key %s: %v; name the .pub file that headcount keygen wrote", path, err)
	}
	_, err = fmt.Fprintln(w, base64.StdEncoding.EncodeToString(pub))
	return err
}
