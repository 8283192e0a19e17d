package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
			values, err := readConfig(path, cmd.Name, flags)
			if err != nil {
				return err
			}
			source := func(*cli.Context) (altsrc.InputSourceContext, error) {
				return altsrc.NewMapInputSource(path, values), nil
			}
			if err := altsrc.InitInputSourceWithContext(flags, source)(c); err != nil {
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

// readConfig reads the --config file at path for the command named command
// and returns its values typed for flags. It refuses, as bad input and
// saying what to write instead, a key that is no flag (naming the closest
// flag) and a value its flag cannot take. A single value where a list is
// expected is a list of one, as --allow given once is on the command line.
func readConfig(path, command string, flags []cli.Flag) (map[interface{}]interface{}, error) {
	data, err := readInput("--config", path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	values := map[interface{}]interface{}{}
	if len(doc.Content) == 0 {
		return values, nil // an empty file sets nothing
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, usagef("--config %s: want keys and values, one a line, such as idle-timeout: 30m", path)
	}
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != "config" {
				names = append(names, n)
			}
		}
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, node := top.Content[i].Value, top.Content[i+1]
		for node.Kind == yaml.AliasNode {
			node = node.Alias
		}
		if key == "config" {
			return nil, usagef("--config %s: a --config file cannot name another; give the flags in this one", path)
		}
		f := findFlag(flags, key)
		if f == nil {
			if near := closest(key, names); near != "" {
				return nil, usagef("--config %s: unknown key %q; did you mean %s?", path, key, near)
			}
			return nil, usagef("--config %s: unknown key %q; the keys are the flag names that headcount %s --help lists", path, key, command)
		}
		if _, twice := values[f.Names()[0]]; twice {
			return nil, usagef("--config %s: %s is given twice; keep one", path, key)
		}
		v, err := configValue(f, node)
		if err != nil {
			return nil, usagef("--config %s: %v", path, err)
		}
		values[f.Names()[0]] = v
	}
	return values, nil
}

// configValue returns the value of node for flag f, typed as altsrc reads it.
func configValue(f cli.Flag, node *yaml.Node) (interface{}, error) {
	name := f.Names()[0]
	if _, ok := f.(*altsrc.StringSliceFlag); ok {
		switch node.Kind {
		case yaml.ScalarNode:
			if node.Tag == "!!null" {
				return []interface{}{}, nil
			}
			return []interface{}{node.Value}, nil
		case yaml.SequenceNode:
			list := make([]interface{}, 0, len(node.Content))
			for _, item := range node.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s: want a list of values such as %s: [A, B], or one value", name, name)
				}
				list = append(list, item.Value)
			}
			return list, nil
		}
		return nil, fmt.Errorf("%s: want a list of values such as %s: [A, B], or one value", name, name)
	}
	if node.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%s: want one value, not a list or a map", name)
	}
	value := node.Value
	if node.Tag == "!!null" {
		value = ""
	}
	bad := fmt.Errorf("invalid value %q for %s: %s", value, name, valueHint(f))
	switch f.(type) {
	case *altsrc.DurationFlag:
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, bad
		}
		return d, nil
	case *altsrc.IntFlag:
		n, err := strconv.Atoi(value)
		if err != nil {
			return nil, bad
		}
		return n, nil
	case *altsrc.BoolFlag:
		var b bool
		if node.Tag == "!!null" || node.Decode(&b) != nil {
			return nil, bad
		}
		return b, nil
	}
	return value, nil
}

// refuseEmptyDB makes an empty --db (given as "", or so set in the
// environment or the --config file) bad input for cmd and its subcommands:
// every command would otherwise fail on a file named "" with a message that
// names none.
func refuseEmptyDB(cmd *cli.Command) {
	for _, sub := range cmd.Subcommands {
		refuseEmptyDB(sub)
	}
	has := false
	for _, f := range cmd.Flags {
		has = has || slices.Contains(f.Names(), "db")
	}
	if !has {
		return
	}
	afterBefore(cmd, func(c *cli.Context) error {
		if c.String("db") == "" || slices.Contains(c.StringSlice("db"), "") {
			return usagef("--db is empty: give the database FILE, such as --db /var/lib/headcount/headcount.db")
		}
		return nil
	})
}

// afterBefore makes cmd run check after its Before hook, if that succeeds.
func afterBefore(cmd *cli.Command, check func(*cli.Context) error) {
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if before != nil {
			if err := before(c); err != nil {
				return err
			}
		}
		return check(c)
	}
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
	afterBefore(cmd, func(c *cli.Context) error {
		for _, name := range required {
			if !c.IsSet(name) {
				return usagef("%s needs --%s; see headcount %s --help", path, name, path)
			}
		}
		return nil
	})
}
