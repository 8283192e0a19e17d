package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version, commit and buildDate are set at build time with
// -ldflags "-X main.version=... -X main.commit=... -X main.buildDate=...";
// `make build` and `make dist` set them from `git describe`, the commit and
// the commit's time (so that two builds of one commit are identical).
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// buildInfo returns the commit and build date: those set at build time,
// else those the Go toolchain recorded from the version control system (a
// plain `go build` in a git checkout), else "unknown".
func buildInfo() (rev, date string) {
	rev, date = commit, buildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return rev, date
}

// printVersion prints the version, the commit, the build date and the Go
// version, for `headcount version` and `headcount --version` alike.
func printVersion(c *cli.Context) {
	rev, date := buildInfo()
	fmt.Fprintf(c.App.Writer, "headcount %s\ncommit: %s\nbuilt: %s\ngo: %s\n", version, rev, date, runtime.Version())
}
