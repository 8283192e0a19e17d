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
	"syscall"
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
			"Coverage is the time the logs span, less every stretch longer than --hole without a line in any file.\n" +
			"Runs in steps (e.g. daily, on logs that grow or rotate): a run settles at the reorder window before the\n" +
			"newest line it read and counts only the sessions that ended by then; the sessions that may still continue\n" +
			"wait for the next run, which resumes from that point. That is the default because a session counted too\n" +
			"early cannot be taken back, while one left waiting is counted by the next run; --final ends and counts them\n" +
			"(for a last run: the sessions of later logs would be split). The database records, for the next run, the\n" +
			"settled point and per FILE its identity (device and inode), size and the byte offset to read on from; never\n" +
			"a key or anything of a line. The next run reads a FILE of the same identity, not shorter, from that offset\n" +
			"when a line starts there that is not newer than that run's newest (a FILE truncated and written anew, as\n" +
			"logrotate's copytruncate leaves it, is not); any other FILE (rotated, new, truncated) from its start,\n" +
			"ignoring its lines before the maximum session and idle timeout before the settled point's hour, and it\n" +
			"skips a FILE last modified before then unread.\n" +
			"It counts only the sessions ending after the settled point, the coverage from it and the hour statistics\n" +
			"from its hour on. Known limit: with no key on disk, a client active without a pause as long as the idle\n" +
			"timeout since before that reading start had a session whose start the resumed run cannot see; its later\n" +
			"maximum-session cuts may fall differently from one run over the whole period. The summary counts the\n" +
			"sessions of such clients.\n" +
			"Counts are written in one transaction, into a database created if missing. A day the database has\n" +
			"sessions or coverage for that replay did not write is refused (nothing is written), unless --replace-days:\n" +
			"then the UTC days the run writes from the day of its start point on are emptied first (their sessions,\n" +
			"sessions by hour, 10-minute windows, hour statistics and coverage) and written anew, in the same\n" +
			"transaction; the start point moves to its UTC midnight, and the sessions counted on an earlier day are left\n" +
			"out (that day stays as stored). --since earlier than the database's settled point would count the\n" +
			"sessions between twice: refused unless --replace-days, which then reads every FILE from its start.\n" +
			"With --dry-run nothing is written: the per-day counts are printed as CSV day,sessions,bot_sessions and the\n" +
			"summary goes to stderr; given --db of an existing database, it goes on from that database's settled point\n" +
			"and the summary says if the run itself would be refused.\n" +
			"The agent must be stopped: it holds the database while it runs.",
		OnUsageError: onUsage,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`, created with mode 0600 if missing"},
			&cli.StringFlag{Name: "format", Value: "auto", EnvVars: env("FORMAT"), Usage: "line format of every FILE: auto (detected per file), dx-ust, ncsa or haproxy"},
			&cli.DurationFlag{Name: "idle-timeout", Value: session.DefaultIdleTimeout, EnvVars: env("IDLE_TIMEOUT"), Usage: "a session ends after this long without a request"},
			&cli.DurationFlag{Name: "max-session", Value: session.DefaultMaxSession, EnvVars: env("MAX_SESSION"), Usage: "a session ends this long after it started; the next request starts a new one"},
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
			&cli.StringFlag{Name: "since", Usage: "count as if an earlier replay had settled at `TIME` (RFC 3339, or YYYY-MM-DD for that UTC midnight): only sessions ending after it, coverage from it; refused before the database's settled point unless --replace-days"},
			&cli.BoolFlag{Name: "final", Usage: "end the sessions still live at the end of the logs and count them, for a last run when no more logs will come"},
			&cli.BoolFlag{Name: "replace-days", Usage: "empty the UTC days the run writes, from the day of its start point (--since, or where the database's replay settled) on, and write them anew, in one transaction"},
		},
		Action: replayLogs,
	})
}

func replayLogs(c *cli.Context) (retErr error) {
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
	var since time.Time
	if v := c.String("since"); v != "" {
		var err1, err2 error
		if since, err1 = time.Parse(time.RFC3339Nano, v); err1 != nil {
			if since, err2 = time.Parse(report.DateLayout, v); err2 != nil {
				return usagef("--since %q: want an RFC 3339 time such as 2026-03-01T06:00:00Z or a UTC day such as 2026-03-01", v)
			}
		}
		since = since.UTC()
	}
	replace := c.Bool("replace-days")

	// The database comes first: its replay state says where to resume.
	var db *store.DB
	defer func() {
		if db != nil && retErr != nil {
			_ = db.Discard() // a database this run created and wrote nothing into goes again
		} else if db != nil {
			db.Close()
		}
	}()
	discard := func() {
		if db != nil {
			_ = db.Discard()
			db = nil
		}
	}
	dbPath := c.String("db")
	if !dryRun {
		var err error
		if db, err = store.Open(dbPath, store.Options{}); err != nil {
			return err
		}
	} else if _, err := os.Stat(dbPath); err == nil && c.IsSet("db") {
		var err error
		if db, err = store.Open(dbPath, store.Options{ReadOnly: true}); err != nil {
			return err
		}
	}
	var state store.ReplayState
	stateFound := false
	if db != nil {
		var err error
		if state, stateFound, err = db.ReplayState(); err != nil {
			return err
		}
	}
	if given != "" && db != nil {
		stored, err := db.Environment()
		if err != nil {
			return err
		}
		if stored != "" && stored != given {
			discard()
			return usagef("--environment %q is not the database's environment %q; nothing replayed. "+
				"Replay without --environment, or rename the environment first: %s", given, stored, renameCommandLine(dbPath, given))
		}
	}

	if stateFound && !replace && state.IdleTimeout != 0 && (state.IdleTimeout != scfg.IdleTimeout || state.MaxSession != scfg.MaxSession) {
		discard()
		return usagef("--idle-timeout %s and --max-session %s are not the rules the replays into %s counted with (%s and %s): "+
			"the sessions they ended would end elsewhere and count twice or not at all; nothing replayed. "+
			"Give the same rules, or add --replace-days to count the days from the start point's on anew",
			scfg.IdleTimeout, scfg.MaxSession, dbPath, state.IdleTimeout, state.MaxSession)
	}

	// The start point: the database's settled point, or --since.
	var resume, open time.Time
	switch {
	case !since.IsZero() && stateFound && since.Before(state.Settled) && !replace:
		discard()
		return usagef("--since %s is before %s, where the replays into %s settled: the sessions ending between were counted "+
			"already and would count twice; nothing replayed. Give a later --since, none to go on from there, "+
			"or add --replace-days to count the days from --since's on anew",
			since.Format(time.RFC3339Nano), state.Settled.Format(time.RFC3339Nano), dbPath)
	case !since.IsZero():
		resume = since
		if stateFound && since.Equal(state.Settled) {
			open = state.Open
		}
	case stateFound:
		resume, open = state.Settled, state.Open
	}
	var daysFrom time.Time
	if replace && !resume.IsZero() {
		resume = resume.Truncate(24 * time.Hour)
		daysFrom, open = resume, time.Time{}
		if db != nil {
			cov, err := db.Coverage()
			if err != nil {
				return err
			}
			for _, iv := range cov { // the interval the emptied days cut at resume, continued by the run
				if iv.Start.Before(resume) && !iv.End.Before(resume) {
					open = iv.Start
				}
			}
		}
	}
	rcfg := replay.Config{Format: format, Session: scfg, Keyer: keyer, LogoutPath: logout,
		ReorderWindow: c.Duration("reorder-window"), Hole: c.Duration("hole"),
		Resume: resume, ResumeOpen: open, Settle: !c.Bool("final"), DaysFrom: daysFrom}
	var readFrom time.Time
	if !resume.IsZero() {
		readFrom = replay.ReadFrom(rcfg, resume)
	}
	// Offsets are a shortcut that only a run going on from the settled point may take.
	useOffsets := stateFound && resume.Equal(state.Settled)

	var inputs []replay.Input
	var files []store.ReplayFile // by input, then the files skipped
	var skipped []store.ReplayFile
	var read, total int64 // bytes read of the files, and their sizes (-1: unknown, stdin)
	for _, name := range c.Args().Slice() {
		file := store.ReplayFile{Name: name}
		var fi os.FileInfo
		if name != "-" {
			var err error
			if fi, err = os.Stat(name); err == nil {
				file.Size = fi.Size()
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					file.Device, file.Inode = uint64(st.Dev), uint64(st.Ino)
				}
			}
		}
		if fi != nil && fi.Mode().IsRegular() && !readFrom.IsZero() && fi.ModTime().Before(readFrom) {
			file.Offset = -1 // wholly before the lines the run reads: not even opened
			skipped = append(skipped, file)
			continue
		}
		var offset, seen int64
		var line uint64
		if useOffsets && file.Inode != 0 {
			for _, old := range state.Files {
				if old.Device == file.Device && old.Inode == file.Inode && file.Size >= old.Size && old.Offset >= 0 {
					offset, line, seen = old.Offset, old.Line, old.Size
				}
			}
			// Truncated and written anew past the recorded size (copytruncate): from its start.
			if offset > 0 && !replay.OffsetHolds(name, offset, format, state.Settled.Add(rcfg.ReorderWindow+time.Second)) {
				offset, line, seen = 0, 0, 0
			}
			// A gzipped file's recorded size is not a place in the stream its
			// lines are read from: it is not written to, no line is late.
			if seen > 0 && replay.Gzipped(name) {
				seen = 0
			}
		}
		rc, err := replay.OpenAt(name, c.App.Reader, &read, offset)
		if err != nil {
			discard()
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Path == name { // not "open NAME: …"
				return usagef("cannot read %s: %v; check the path", name, pe.Err)
			}
			return usagef("cannot read %v", err)
		}
		defer rc.Close()
		inputs = append(inputs, replay.Input{Name: name, R: rc, Offset: offset, Line: line, Seen: seen})
		files = append(files, file)
		if name != "-" && fi != nil && total >= 0 {
			total += fi.Size() - offset
		} else {
			total = -1
		}
	}
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
		discard()
		return usageError{err}
	}
	if err != nil {
		return err
	}
	notes := replayNotes(res, rcfg, readFrom, len(skipped))
	// A run that replaces days must reach the point the earlier runs
	// settled at: the days stored after its own settled point would stay,
	// counted by runs the next one could not go on from (it would count
	// their sessions again, or lose those the earlier runs left waiting).
	var behind string
	if replace && stateFound && res.Settled.Before(state.Settled) {
		behind = fmt.Sprintf("--replace-days: these logs settle at %s, before %s, where the replays into %s settled: "+
			"the days stored after it would stay as the earlier runs counted them, and the next run would count their sessions again or lose some; nothing written. "+
			"Give the logs up to %s as well, or replay into another database",
			res.Settled.UTC().Format(time.RFC3339Nano), state.Settled.UTC().Format(time.RFC3339Nano), dbPath, state.Settled.UTC().Format(time.RFC3339Nano))
	}

	if dryRun {
		if behind != "" {
			notes += "; without --dry-run it would be refused: " + behind
		}
		if db != nil && !replace {
			// Say what the run itself would refuse, so that a dry run is
			// not taken for a run that would go through.
			taken, err := daysTaken(db, replayDays(res, resume), resume, state, stateFound && !resume.Before(state.Settled))
			if err != nil {
				return err
			}
			if len(taken) > 0 {
				notes += fmt.Sprintf("; without --dry-run it would be refused: %s already has sessions or coverage that replay did not write for %s: %s",
					dbPath, plural.Count(len(taken), "day"), strings.Join(taken, ", "))
			}
		}
		w := c.App.Writer
		fmt.Fprintln(w, "day,sessions,bot_sessions")
		for _, d := range res.Flush.Days {
			fmt.Fprintf(w, "%s,%d,%d\n", d.Day.Format(report.DateLayout), d.Sessions, d.Bots)
		}
		_, err := fmt.Fprintf(c.App.ErrWriter, "%s%s; nothing written (--dry-run)\n", replaySummary(res, len(inputs)+len(skipped)), notes)
		return err
	}

	if behind != "" {
		discard()
		return usagef("%s", behind)
	}
	created := db.Created()
	days := replayDays(res, resume)
	var replaced []time.Time
	if replace {
		for _, d := range days {
			day, _ := time.Parse(report.DateLayout, d)
			replaced = append(replaced, day)
		}
	} else if taken, err := daysTaken(db, days, resume, state, stateFound && !resume.Before(state.Settled)); err != nil {
		return err
	} else if len(taken) > 0 {
		discard()
		return fmt.Errorf("%s already has sessions or coverage that replay did not write for %s: %s; nothing written. "+
			"Replay the logs of other days, into another database, or with --replace-days to replace those days",
			dbPath, plural.Count(len(taken), "day"), strings.Join(taken, ", "))
	}
	for i := range files {
		files[i].Offset, files[i].Line = res.Offsets[i], res.OffsetLines[i]
	}
	files = append(files, skipped...) // Offset -1: not read
	f := res.Flush
	f.Now = time.Now()
	if aside, err := db.ReplayFlush(f, store.ReplayState{Settled: res.Settled, Open: res.SettledOpen, Files: files,
		IdleTimeout: scfg.IdleTimeout, MaxSession: scfg.MaxSession}, replaced); err != nil {
		return err
	} else if len(aside) > 0 {
		return fmt.Errorf("%s: %s of the logs could not be stored (see headcount check): times outside 1970-9999", db.Path(), plural.Count(len(aside), "entry"))
	}
	if given != "" {
		if _, err := db.SetEnvironment(given); err != nil {
			return err
		}
	}
	dbState := "existing"
	if created {
		dbState = "created"
	}
	verb := "written into"
	if replace && len(days) > 0 {
		verb = "replaced in"
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s; %s %s %s (%s)%s\n", replaySummary(res, len(inputs)+len(skipped)), plural.Count(len(days), "day"), verb, db.Path(), dbState, notes)
	return err
}

// replayNotes says, after the summary, where a run resumed and settled, what
// it skipped, and how many sessions the known limit of resumed runs may
// split differently.
func replayNotes(res replay.Result, cfg replay.Config, readFrom time.Time, skipped int) string {
	var b strings.Builder
	if !cfg.Resume.IsZero() {
		fmt.Fprintf(&b, "; resumed from %s", cfg.Resume.UTC().Format(time.RFC3339Nano))
		if res.Ignored > 0 {
			fmt.Fprintf(&b, ", %s before %s ignored", plural.Count(res.Ignored, "line"), readFrom.UTC().Format(time.RFC3339))
		}
		if skipped > 0 {
			fmt.Fprintf(&b, ", %s last modified before %s skipped", plural.Count(skipped, "file"), readFrom.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "; %s of clients active without a pause since before %s may be split differently from one run over the whole period",
			plural.Count(res.Continuous, "session"), readFrom.UTC().Format(time.RFC3339))
		if res.WrittenLate > 0 {
			fmt.Fprintf(&b, "; %s written since the last run carry times before its settled point: a session they belong to may be counted twice (widen --reorder-window to cover the nodes' clock skew and their writers' delay)",
				plural.Count(res.WrittenLate, "line"))
		}
	}
	if cfg.Settle && !res.Settled.IsZero() {
		fmt.Fprintf(&b, "; settled at %s: sessions still live then wait for the next run (--final counts them)", res.Settled.Format(time.RFC3339Nano))
	}
	return b.String()
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
// of its coverage from its start point resume on (a resumed run continues
// the coverage interval stored before), as YYYY-MM-DD in order.
func replayDays(res replay.Result, resume time.Time) []string {
	seen := map[string]bool{}
	for _, d := range res.Flush.Days {
		seen[d.Day.UTC().Format(report.DateLayout)] = true
	}
	for _, iv := range res.Flush.Coverage {
		if iv.Start.Before(resume) {
			iv.Start = resume
		}
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
// sessions or coverage for that replay did not write: for a run going on
// from the replay state (own), sessions on a day other than those the
// state recorded, and coverage after the start point resume (zero: any).
func daysTaken(db *store.DB, days []string, resume time.Time, state store.ReplayState, own bool) ([]string, error) {
	if len(days) == 0 {
		return nil, nil
	}
	from, _ := time.Parse(report.DateLayout, days[0])
	to, _ := time.Parse(report.DateLayout, days[len(days)-1])
	stored, err := db.Days(from, to.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	replayed := map[string]uint64{}
	if own {
		for _, d := range state.Days {
			replayed[d.Day.UTC().Format(report.DateLayout)] = d.Sessions
		}
	}
	have := map[string]bool{}
	for _, d := range stored {
		if day := d.Day.UTC().Format(report.DateLayout); d.Sessions != replayed[day] {
			have[day] = true
		}
	}
	cov, err := db.Coverage()
	if err != nil {
		return nil, err
	}
	for _, iv := range cov {
		if !resume.IsZero() {
			if !iv.End.After(resume) {
				continue // before the start point: replay's own, or a day before the run's
			}
			if iv.Start.Before(resume) {
				iv.Start = resume
			}
		}
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
