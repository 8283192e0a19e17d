package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"headcount/agent/admin"
	"headcount/store"
)

func environmentCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return &cli.Command{
		Name:  "environment",
		Usage: "show or rename the environment id a database names in reports",
		Description: "The environment id names the deployment in reports and usage reports. serve stores it in the\n" +
			"database on its first successful start (--environment, else RELEASE-NAMESPACE, else the host name) and\n" +
			"keeps it: a later --environment (or RELEASE-NAMESPACE) that differs is not used, and each start logs a\n" +
			"warning that names both ids and the rename command. rename changes the stored id and records the\n" +
			"change in the database's history, which show prints.",
		OnUsageError: onUsage,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("environment has no command %q; see headcount environment --help", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
		Subcommands: []*cli.Command{
			configurable(&cli.Command{
				Name:         "show",
				Usage:        "print the database's environment id and the history of its renames",
				Description:  "Prints the stored id and each rename (UTC time, old id, new id). Works while the agent runs.",
				OnUsageError: onUsage,
				Flags:        append([]cli.Flag{dbFlag("database `FILE`"), adminAddrFlag()}, adminAuthFlags()...),
				Action:       showEnvironment,
			}),
			configurable(&cli.Command{
				Name:      "rename",
				Usage:     "store a new environment id in the database, recorded in its history (stop the agent first)",
				ArgsUsage: "NEW",
				Description: "Stores NEW as the database's environment id and records the change (UTC time, old id, new id)\n" +
					"in the database's history, in one transaction; headcount environment show prints it. Reports name\n" +
					"NEW from then on, for every day, also those metered before. The agent must be stopped: it holds\n" +
					"the database while it runs and keeps the id it started with. Start it again with --environment NEW\n" +
					"(or none), or it warns that the id it is given differs.",
				OnUsageError: onUsage,
				Flags:        []cli.Flag{dbFlag("database `FILE`; it must exist")},
				Action:       renameEnvironment,
			}),
		},
	}
}

// runEnvironment returns the environment id the agent runs as on db, and
// whether db holds it already: the stored one, else environment(flag). When
// the operator chose an id (chosenEnvironment) and the database keeps
// another, it logs one warning naming both and the command that renames the
// stored one.
func runEnvironment(db *store.DB, flag string, log zerolog.Logger) (id string, held bool, err error) {
	stored, err := db.Environment()
	if err != nil {
		return "", false, err
	}
	if stored == "" {
		return environment(flag), false, nil
	}
	if given := chosenEnvironment(flag); given != "" && given != stored {
		log.Warn().Str("environment", stored).Str("given_environment", given).
			Msgf("the environment given, %q, is not the database's, %q, which the agent keeps and reports name; "+
				"to rename it, stop the agent and run: %s", given, stored, renameCommandLine(db.Path(), given))
	}
	return stored, true, nil
}

// renameCommandLine returns the command that renames the environment of
// the database at path to id, ready to paste into a shell.
func renameCommandLine(path, id string) string {
	return "headcount environment rename --db " + shellWord(path) + " " + shellWord(id)
}

// plainWord matches the words no shell interprets.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellWord returns s as one shell word: as it is when no shell would
// interpret it, else in single quotes.
func shellWord(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkEnvironmentID refuses an id that reports could not show as it is:
// empty, not UTF-8, with a control character, or with spaces at either end.
func checkEnvironmentID(id string) error {
	if id == "" || !utf8.ValidString(id) || strings.IndexFunc(id, unicode.IsControl) >= 0 || strings.TrimSpace(id) != id {
		return usagef("environment id %q: want printable text without spaces at either end, e.g. prod-eu", id)
	}
	return nil
}

func renameEnvironment(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("environment rename takes the new id after the flags, e.g. headcount environment rename --db ./headcount.db prod-eu")
	}
	to := c.Args().First()
	if err := checkEnvironmentID(to); err != nil {
		return err
	}
	path := c.String("db")
	db, err := store.Open(path, store.Options{MustExist: true})
	switch {
	case errors.Is(err, store.ErrMissing):
		return usagef("%s does not exist; name the agent's database with --db", path)
	case errors.Is(err, store.ErrLocked):
		return usagef("%s is in use by a running headcount process; stop the agent, rename, then start it with --environment %s",
			path, shellWord(to))
	case err != nil:
		return err
	}
	defer db.Close()
	from, err := db.RenameEnvironment(to, time.Now())
	if err != nil {
		return err
	}
	w := c.App.Writer
	switch from {
	case to:
		_, err = fmt.Fprintf(w, "the environment of %s is already %q; nothing changed\n", path, to)
	case "":
		_, err = fmt.Fprintf(w, "set the environment of %s to %q (it had none); recorded in its history\n", path, to)
	default:
		_, err = fmt.Fprintf(w, "renamed the environment of %s from %q to %q; recorded in its history\n", path, from, to)
	}
	return err
}

func showEnvironment(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("environment show takes no arguments; name the database with --db")
	}
	client, err := adminClient(c)
	if err != nil {
		return err
	}
	path := c.String("db")
	db, done, err := openForReading(path, client)
	if err != nil {
		return err
	}
	defer done()
	env, err := db.Environment()
	if err != nil {
		return err
	}
	history, err := db.EnvironmentHistory()
	if err != nil {
		return err
	}
	w := c.App.Writer
	switch {
	case env == "":
		fmt.Fprintf(w, "%s: no environment stored yet; the agent stores one on its first start\n", path)
	case len(history) == 0:
		fmt.Fprintf(w, "%s: environment %q, never renamed\n", path, env)
	default:
		fmt.Fprintf(w, "%s: environment %q\n", path, env)
	}
	for _, h := range history {
		at := h.Time.UTC().Format(time.RFC3339)
		if h.From == "" {
			fmt.Fprintf(w, "%s set to %q (there was none)\n", at, h.To)
		} else {
			fmt.Fprintf(w, "%s renamed from %q to %q\n", at, h.From, h.To)
		}
	}
	return nil
}

// openForReading opens the database at path read-only; while an agent holds
// it, it opens a consistent copy streamed from the agent's admin endpoint
// through client instead. done closes the database and removes any copy.
func openForReading(path string, client admin.Client) (db *store.DB, done func(), err error) {
	db, err = store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		return db, func() { _ = db.Close() }, nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "headcount-read-")
	if err != nil {
		return nil, nil, err
	}
	target := filepath.Join(dir, "copy.db")
	if err := admin.CopyDatabase(path, client, target); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	if db, err = store.Open(target, store.Options{ReadOnly: true}); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return db, func() { _ = db.Close(); _ = os.RemoveAll(dir) }, nil
}
