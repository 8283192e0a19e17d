package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/internal/botclass"
	"headcount/internal/plural"
	"headcount/replay"
	"headcount/report"
	"headcount/store"
)

func replayCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:      "replay",
		Usage:     "count sessions from access logs, as the agent would have",
		ArgsUsage: "FILE…",
		Description: "Reads access logs (FILE - is stdin; gzipped files are read as such, whatever their name) and counts their\n" +
			"sessions with the agent's rules, the log's times as the clock: the same key (client address, User-Agent,\n" +
			"X-Forwarded-For), exclusions, trusted proxies, bot classification, idle timeout, maximum session and logout.\n" +
			"All FILEs are one stream merged by time, so the logs of Active-Active nodes read together count a session\n" +
			"once. Formats (--format, detected per file by default from its first lines):\n" +
			"  dx-ust   the field [DX_UST] %t %h \"%{User-Agent}i\" \"%{X-Forwarded-For}i\" [/DX_UST] anywhere in a line\n" +
			"  ncsa     NCSA combined, with an optional trailing \"%{X-Forwarded-For}i\"\n" +
			"  haproxy  option httplog with capture request header User-Agent and then X-Forwarded-For as the\n" +
			"           frontend's last captures ({…|ua|xff});\n" +
			"           its date is UTC unless the line starts with an RFC 5424 syslog header carrying an offset\n" +
			"A line that fits no format is skipped and counted; the summary names the first by file and line number.\n" +
			"On a terminal, a progress line on stderr shows the lines read, their rate, the bytes read and the time left.\n" +
			"Sessions still live at the end of the logs end by their own idle timeout or maximum. Coverage is the time\n" +
			"the logs span, less every stretch longer than --hole without a line in any file.\n" +
			"Counts are written in one transaction, into a database created if missing. A day the database already\n" +
			"has sessions or coverage for is refused (nothing is written): replay each day once. With --dry-run\n" +
			"nothing is written: the per-day counts are printed as CSV day,sessions,bot_sessions and the summary\n" +
			"goes to stderr. The agent must be stopped: it holds the database while it runs.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`, created with mode 0600 if missing"},
			&cli.StringFlag{Name: "format", Value: "auto", EnvVars: env("FORMAT"), Usage: "line format of every FILE: auto (detected per file), dx-ust, ncsa or haproxy"},
			&cli.DurationFlag{Name: "idle-timeout", Value: 30 * time.Minute, EnvVars: env("IDLE_TIMEOUT"), Usage: "a session ends after this long without a request"},
			&cli.DurationFlag{Name: "max-session", Value: 4 * time.Hour, EnvVars: env("MAX_SESSION"), Usage: "a session ends this long after it started; the next request starts a new one"},
			&cli.StringFlag{Name: "logout-path", Value: "(?i)/logout$", EnvVars: env("LOGOUT_PATH"), Usage: "a request whose path (without query string) matches `REGEX` ends its session; the default is the shipped HAProxy configuration's logout ACL, path_end -i /logout"},
			&cli.DurationFlag{Name: "reorder-window", Value: 5 * time.Minute, EnvVars: env("REORDER_WINDOW"), Usage: "a line up to this much older than the newest line read is still counted in time order; an older one is counted late and applied at once"},
			&cli.DurationFlag{Name: "hole", Value: 15 * time.Minute, EnvVars: env("HOLE"), Usage: "a stretch longer than this without a line in any file is left out of the coverage (reported as not metered)"},
			&cli.StringSliceFlag{Name: "exclude-ip", EnvVars: env("EXCLUDE_IP"), Usage: "do not meter requests from client network `CIDR` (repeatable)"},
			&cli.StringSliceFlag{Name: "exclude-ua", EnvVars: env("EXCLUDE_UA"), Usage: "do not meter requests whose User-Agent matches `REGEX`, e.g. health probes (repeatable)"},
			&cli.StringFlag{Name: "exclude-ip-file", EnvVars: env("EXCLUDE_IP_FILE"), Usage: "do not meter requests from the addresses and networks in `FILE`, one a line"},
			&cli.StringFlag{Name: "exclude-key-file", EnvVars: env("EXCLUDE_KEY_FILE"), Usage: "do not meter the session keys in `FILE`, one a line: IP \"User-Agent\" \"X-Forwarded-For\""},
			&cli.StringSliceFlag{Name: "trusted-proxies", EnvVars: env("TRUSTED_PROXIES"), Usage: "believe X-Forwarded-For only from requests whose client is in `CIDR` (repeatable), as serve does. Default: every client is trusted"},
			&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` to store if the database has none yet; refused if it has another (see headcount environment rename)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "write nothing: print the per-day counts as CSV day,sessions,bot_sessions"},
		},
		Action: replayLogs,
	})
}

func replayLogs(c *cli.Context) error {
	if c.NArg() == 0 {
		return usagef("replay takes the log files to read, e.g. headcount replay --db headcount.db access.log access.log.1.gz (- reads stdin)")
	}
	format, ok := replay.ParseFormat(c.String("format"))
	if !ok {
		return usagef("--format %q: want auto, dx-ust, ncsa or haproxy", c.String("format"))
	}
	logout, err := regexp.Compile(c.String("logout-path"))
	if err != nil {
		return usagef("--logout-path %q: %v", c.String("logout-path"), err)
	}
	kcfg := keying.Config{Bots: botclass.New(botclass.Config{MatchesPerSecond: 1 << 30})}
	if kcfg.ExcludeIP, err = parsePrefixes("--exclude-ip", c.StringSlice("exclude-ip")); err != nil {
		return err
	}
	if c.IsSet("trusted-proxies") {
		if kcfg.TrustedProxies, err = parsePrefixes("--trusted-proxies", c.StringSlice("trusted-proxies")); err != nil {
			return err
		}
		if kcfg.TrustedProxies == nil {
			kcfg.TrustedProxies = []netip.Prefix{}
		}
	}
	for _, s := range c.StringSlice("exclude-ua") {
		re, err := regexp.Compile(s)
		if err != nil {
			return usagef("--exclude-ua %q: %v", s, err)
		}
		kcfg.ExcludeUA = append(kcfg.ExcludeUA, re)
	}
	kcfg.ExcludeIPFile, kcfg.ExcludeKeyFile = c.String("exclude-ip-file"), c.String("exclude-key-file")
	keyer := keying.New(kcfg)
	if _, _, err := keyer.LoadExclusions(); err != nil {
		return usageError{err}
	}
	for _, d := range []string{"reorder-window", "hole"} {
		if c.Duration(d) <= 0 {
			return usagef("--%s %s: want a positive duration such as 5m", d, c.Duration(d))
		}
	}
	scfg := session.Config{IdleTimeout: c.Duration("idle-timeout"), MaxSession: c.Duration("max-session")}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--idle-timeout", scfg.IdleTimeout}, {"--max-session", scfg.MaxSession}} {
		if d.v < time.Second || d.v > session.MaxDuration {
			return usagef("%s %s: want 1s to %s", d.flag, d.v, session.MaxDuration)
		}
	}
	given := c.String("environment")
	if given != "" {
		if err := checkEnvironmentID(given); err != nil {
			return err
		}
	}
	dryRun := c.Bool("dry-run")
	if !dryRun {
		if err := dirMustExist("--db", c.String("db")); err != nil {
			return err
		}
	}

	var inputs []replay.Input
	var read, total int64 // bytes read of the files, and their sizes (-1: unknown, stdin)
	for _, name := range c.Args().Slice() {
		rc, err := replay.Open(name, c.App.Reader, &read)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Path == name { // not "open NAME: …"
				return usagef("cannot read %s: %v; check the path", name, pe.Err)
			}
			return usagef("cannot read %v", err)
		}
		defer rc.Close()
		inputs = append(inputs, replay.Input{Name: name, R: rc})
		if fi, err := os.Stat(name); name != "-" && err == nil && total >= 0 {
			total += fi.Size()
		} else {
			total = -1
		}
	}
	rcfg := replay.Config{Format: format, Session: scfg, Keyer: keyer, LogoutPath: logout,
		ReorderWindow: c.Duration("reorder-window"), Hole: c.Duration("hole")}
	shown := false
	if isTerminal(c.App.ErrWriter) {
		start := time.Now()
		rcfg.Progress = func(lines uint64) {
			fmt.Fprintf(c.App.ErrWriter, "\r%s\033[K", progressLine(read, total, lines, time.Since(start)))
			shown = true
		}
	}
	res, err := replay.Run(rcfg, inputs)
	if shown {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K") // the summary and errors start on a clean line
	}
	var unknown *replay.FormatError
	if errors.As(err, &unknown) {
		return usageError{err}
	}
	if err != nil {
		return err
	}

	if dryRun {
		w := c.App.Writer
		fmt.Fprintln(w, "day,sessions,bot_sessions")
		for _, d := range res.Flush.Days {
			fmt.Fprintf(w, "%s,%d,%d\n", d.Day.Format(report.DateLayout), d.Sessions, d.Bots)
		}
		_, err := fmt.Fprintf(c.App.ErrWriter, "%s; nothing written (--dry-run)\n", replaySummary(res, len(inputs)))
		return err
	}

	db, err := store.Open(c.String("db"), store.Options{})
	if err != nil {
		return err
	}
	created := db.Created()
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	if given != "" {
		stored, err := db.Environment()
		if err != nil {
			return err
		}
		if stored != "" && stored != given {
			_ = db.Discard()
			db = nil
			return usagef("--environment %q is not the database's environment %q; nothing replayed. "+
				"Replay without --environment, or rename the environment first: %s", given, stored, renameCommandLine(c.String("db"), given))
		}
	}
	days := replayDays(res)
	if taken, err := daysTaken(db, days); err != nil {
		return err
	} else if len(taken) > 0 {
		_ = db.Discard()
		db = nil
		return fmt.Errorf("%s already has sessions or coverage for %s: %s; nothing written. Replay the logs of other days, "+
			"or into another database", c.String("db"), plural.Count(len(taken), "day"), strings.Join(taken, ", "))
	}
	seq, err := db.FlushSeq()
	if err != nil {
		return err
	}
	f := res.Flush
	f.Seq, f.Now = seq+1, time.Now()
	if aside, err := db.Flush(f); err != nil {
		return err
	} else if len(aside) > 0 {
		return fmt.Errorf("%s: %s of the logs could not be stored (see headcount check): times outside 1970-9999", db.Path(), plural.Count(len(aside), "entry"))
	}
	if given != "" {
		if _, err := db.SetEnvironment(given); err != nil {
			return err
		}
	}
	state := "existing"
	if created {
		state = "created"
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s; %s written into %s (%s)\n", replaySummary(res, len(inputs)), plural.Count(len(days), "day"), db.Path(), state)
	return err
}

// replaySummary says what a replay read and counted.
func replaySummary(res replay.Result, files int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "replayed %s of %s", plural.Count(res.Lines, "line"), plural.Count(files, "file"))
	fmt.Fprintf(&b, ": %s skipped", plural.Count(res.Skipped, "line"))
	if len(res.FirstSkipped) > 0 {
		var at []string
		for _, s := range res.FirstSkipped {
			at = append(at, fmt.Sprintf("%s line %d", s.File, s.Line))
		}
		first := "first"
		if res.Skipped > uint64(len(at)) {
			first = fmt.Sprintf("first %d", len(at))
		}
		fmt.Fprintf(&b, " (%s: %s)", first, strings.Join(at, ", "))
	}
	fmt.Fprintf(&b, ", %s late, %s excluded; %s", plural.Count(res.Late, "line"), plural.Count(res.Excluded, "request"),
		plural.Count(res.Sessions(), "session"))
	return b.String()
}

// replayDays returns the UTC days a replay writes: those of its sessions and
// of its coverage, as YYYY-MM-DD in order.
func replayDays(res replay.Result) []string {
	seen := map[string]bool{}
	for _, d := range res.Flush.Days {
		seen[d.Day.UTC().Format(report.DateLayout)] = true
	}
	for _, iv := range res.Flush.Coverage {
		for d := iv.Start.UTC().Truncate(24 * time.Hour); d.Before(iv.End); d = d.Add(24 * time.Hour) {
			seen[d.Format(report.DateLayout)] = true
		}
	}
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// daysTaken returns those of days (YYYY-MM-DD, in order) the database has
// sessions or coverage for.
func daysTaken(db *store.DB, days []string) ([]string, error) {
	if len(days) == 0 {
		return nil, nil
	}
	from, _ := time.Parse(report.DateLayout, days[0])
	to, _ := time.Parse(report.DateLayout, days[len(days)-1])
	stored, err := db.Days(from, to.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, d := range stored {
		have[d.Day.UTC().Format(report.DateLayout)] = true
	}
	cov, err := db.Coverage()
	if err != nil {
		return nil, err
	}
	for _, iv := range cov {
		for d := iv.Start.UTC().Truncate(24 * time.Hour); d.Before(iv.End) || d.Equal(iv.Start.UTC().Truncate(24*time.Hour)); d = d.Add(24 * time.Hour) {
			have[d.Format(report.DateLayout)] = true
		}
	}
	var out []string
	for _, d := range days {
		if have[d] {
			out = append(out, d)
		}
	}
	return out, nil
}

// progressLine describes a replay in progress: bytes read of the files'
// total (-1 when stdin is among them: no share, no time left), lines read
// and their rate.
func progressLine(read, total int64, lines uint64, elapsed time.Duration) string {
	secs := max(elapsed.Seconds(), 0.001)
	line := fmt.Sprintf("replay: %s lines, %s lines/s, %s read", withCommas(lines), withCommas(uint64(float64(lines)/secs)), mebibytes(read))
	if total > 0 {
		share := min(float64(read)/float64(total), 1)
		line += fmt.Sprintf(" of %s (%.0f%%)", mebibytes(total), 100*share)
		if share > 0 {
			left := time.Duration(float64(elapsed) * (1 - share) / share).Round(time.Second)
			line += fmt.Sprintf(", %s left", left)
		}
	}
	return line
}

// mebibytes returns n bytes in MiB with one decimal.
func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// withCommas returns n with thousands separated by commas.
func withCommas(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
