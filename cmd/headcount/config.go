package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// configurable lets cmd's flags also be set in a YAML file named by
// --config (HEADCOUNT_CONFIG), whose keys are the flag names. A flag on the
// command line wins over the environment, which wins over the file; a key
// that is no flag of the command is an error, so that a typo never leaves a
// default silently in force.
func configurable(cmd *cli.Command) *cli.Command {
	flags := []cli.Flag{&cli.StringFlag{Name: "config", EnvVars: env("CONFIG"),
		Usage: "read flags from this YAML `FILE` (keys are flag names); flags and environment variables win over it"}}
	for _, f := range cmd.Flags {
		flags = append(flags, fromFile(f))
	}
	cmd.Flags = flags
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if path := c.String("config"); path != "" {
			if err := checkConfigKeys(path, flags); err != nil {
				return usageError{err}
			}
			if err := altsrc.InitInputSourceWithContext(flags, altsrc.NewYamlSourceFromFlagFunc("config"))(c); err != nil {
				return usagef("--config %s: %v", path, err)
			}
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
	return cmd
}

// fromFile returns f as a flag that can also be set from the --config file.
func fromFile(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *cli.StringFlag:
		return altsrc.NewStringFlag(f)
	case *cli.BoolFlag:
		return altsrc.NewBoolFlag(f)
	case *cli.DurationFlag:
		return altsrc.NewDurationFlag(f)
	case *cli.IntFlag:
		return altsrc.NewIntFlag(f)
	case *cli.StringSliceFlag:
		return altsrc.NewStringSliceFlag(f)
	}
	panic(fmt.Sprintf("flag %v: no --config support for %T", f.Names(), f))
}

// checkConfigKeys refuses a --config file with a key that is no flag.
func checkConfigKeys(path string, flags []cli.Flag) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var keys map[string]any
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, f := range flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	for k := range keys {
		if !known[k] || k == "config" {
			return fmt.Errorf("--config %s: unknown key %q", path, k)
		}
	}
	return nil
}

// requireFlags makes the Required flags of cmd and its subcommands bad input
// like any other: one line on stderr and exit status 2, checked after the
// --config file is read (so the file may set them). urfave/cli's own check
// would print the command's help and exit 1.
func requireFlags(path string, cmd *cli.Command) {
	path = strings.TrimSpace(path + " " + cmd.Name)
	var required []string
	for _, f := range cmd.Flags {
		if r, ok := f.(cli.RequiredFlag); ok && r.IsRequired() {
			required = append(required, f.Names()[0])
			switch f := f.(type) {
			case *cli.StringFlag:
				f.Required = false
			case *altsrc.StringFlag:
				f.Required = false
			default:
				panic(fmt.Sprintf("flag %v: required flags must be string flags", f.Names()))
			}
		}
	}
	for _, sub := range cmd.Subcommands {
		requireFlags(path, sub)
	}
	if len(required) == 0 {
		return
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
		for _, name := range required {
			if !c.IsSet(name) {
				return usagef("%s needs --%s; see headcount %s --help", path, name, path)
			}
		}
		return nil
	}
}
