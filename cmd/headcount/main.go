// Command headcount meters user sessions behind HAProxy.
//
// main.go is wiring only: flags, environment variables and the --config file
// become a config, which the packages run with. Errors are printed here, and
// only here, as one line on stderr; bad input exits with status 2.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"headcount/store"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// usageError is bad input: exit status 2, nothing written.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(reorderArgs(args))
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "headcount: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, store.ErrNotHeadcount) || errors.Is(err, store.ErrCorrupt) ||
		errors.Is(err, store.ErrNewerSchema) || errors.Is(err, store.ErrMissing) || errors.Is(err, store.ErrLocked) {
		return 2
	}
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	cli.VersionPrinter = printVersion
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name:  "headcount",
		Usage: "meter user sessions behind HAProxy",
		Description: "headcount receives each request's client IP, User-Agent and X-Forwarded-For from HAProxy over SPOP,\n" +
			"recognises user sessions in memory (30 minutes idle, 4 hours at most, or an explicit logout), and\n" +
			"counts completed sessions per UTC day in a local database, with the times metering was on.\n" +
			"No IP address, User-Agent or header value is ever written anywhere.",
		Version:        version,
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    false,
		OnUsageError:   onUsage,
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q; see headcount --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			serveCommand(onUsage),
			exportCommand(onUsage),
			importCommand(onUsage),
			replayCommand(onUsage),
			backupCommand(onUsage),
			checkCommand(onUsage),
			environmentCommand(onUsage),
			migrateCommand(onUsage),
			keygenCommand(onUsage),
			licenseCommand(onUsage),
			usageCommand(onUsage),
			metricsFileCommand(onUsage),
			verifyCommand(onUsage),
			genDocsCommand(onUsage),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					printVersion(c)
					return nil
				},
			},
		},
	}
	for _, cmd := range app.Commands {
		requireFlags("", cmd)
		refuseEmptyDB(cmd)
		explainUsage("", cmd)
	}
	return app
}
