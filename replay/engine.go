package replay

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"time"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/store"
)

// Config sets how Run reads and counts.
type Config struct {
	// Format is the line format of every file; FormatAuto detects it per
	// file from its first lines.
	Format Format
	// Session holds the session rules (idle timeout, maximum session), as
	// the agent's table takes them.
	Session session.Config
	// Keyer keys the requests, as the agent's handler does; its exclusion
	// files must be loaded.
	Keyer *keying.Keyer
	// LogoutPath ends the session of a request whose path (without query
	// string) it matches. Nil: no logout.
	LogoutPath *regexp.Regexp
	// ReorderWindow is how much older than the newest line read a line may
	// be and still be counted in time order. Older lines are counted late
	// and applied at once, as the agent's table takes late requests.
	// Default 5m: a longer window costs memory (the lines of that span are
	// held, 24 bytes each).
	ReorderWindow time.Duration
	// Hole is the longest time without a line in any file that still counts
	// as covered: a longer one is left out of the coverage. Default 15m.
	Hole time.Duration
	// Progress, when not nil, is called with the lines read so far every
	// ProgressLines lines, from Run's goroutine.
	Progress func(lines uint64)
	// everySlot makes the table sweep every slot instead of the keys its
	// due wheel holds (tests compare the two).
	everySlot bool

	// Resume, when not zero, is the settled point of an earlier run over
	// the same logs (its Result.Settled): lines before ReadFrom(Resume) are
	// ignored, and only the sessions ending after Resume are counted, the
	// coverage from Resume on and the hour statistics from Resume's hour on
	// (the earlier run wrote those before). ResumeOpen is that run's
	// Result.SettledOpen: a covered span running across Resume continues
	// the interval the earlier run stored under that start.
	Resume, ResumeOpen time.Time
	// Settle leaves uncounted the sessions that may continue in lines not
	// read yet: those ending after the run's settled point (Result.Settled,
	// the reorder window before the newest line, down to the table's tick),
	// for the next run resumed from it. Every session the run completed
	// before reading its last line ended by then: no completion needs the
	// settled point before it is known. Without Settle the
	// sessions live at the end of the logs end by their idle timeout or
	// maximum, as if no request followed, and the settled point is the
	// hour after the last of them ended.
	Settle bool
	// DaysFrom, when not zero, leaves uncounted the sessions whose UTC day
	// (that of their last request) is before it: a run that replaces the
	// days from DaysFrom on leaves the day before as it is stored.
	DaysFrom time.Time
}

// readMargin is how much earlier than the session rules need a resumed run
// starts reading: sessions ending up to two sweeps late (the table waits a
// minute where a day is at stake) are live in the earlier run's hours
// as they are in the resumed run's.
const readMargin = 5 * time.Minute

// ReadFrom returns the time from which a run resumed from the settled point
// resume reads the logs: no session ending after resume, and none live in
// resume's hour or later, started before it (the maximum session and the
// idle timeout before the start of resume's hour, and a margin).
func ReadFrom(cfg Config, resume time.Time) time.Time {
	idle, maxSession := rules(cfg.Session)
	return resume.UTC().Truncate(time.Hour).Add(-maxSession - idle - readMargin)
}

// ProgressLines is how many lines Run reads between two calls of
// Config.Progress.
const ProgressLines = 1 << 16

// Input is one log file.
type Input struct {
	Name string
	R    io.Reader
	// Offset is where R starts in the file's stream (for Result.Offsets):
	// a resumed run may seek past the lines an earlier one read. Line is
	// the number of lines before it, so that skipped lines are named by
	// their number in the file.
	Offset int64
	Line   uint64
	// Seen, when not zero, is how many bytes of the file an earlier run
	// read (the size it recorded), for the file that run read. A line from
	// Seen on whose time is not after Config.Resume was written after that
	// run settled with a time before its settled point: Result.WrittenLate
	// counts it.
	Seen int64
}

// SkippedLine names a line that fits no format by its file and number.
type SkippedLine struct {
	File string
	Line uint64
}

// maxSkippedLines is how many skipped lines a Result names.
const maxSkippedLines = 5

// Result is what Run counted.
type Result struct {
	// Lines is the number of non-empty lines read.
	Lines uint64
	// Skipped is the number of lines that fit no format; FirstSkipped names
	// the first of them.
	Skipped      uint64
	FirstSkipped []SkippedLine
	// Late is the number of lines older than the newest line read by more
	// than the reorder window.
	Late uint64
	// Excluded is the number of requests not metered (excluded networks,
	// User-Agents or session keys).
	Excluded uint64
	// Formats holds the format each input was read in, by input.
	Formats []Format
	// Flush holds the completed sessions per day, hour and window, the
	// coverage, the hour statistics and the counters, ready for store.Flush
	// (Seq and Now are the caller's).
	Flush store.Flush

	// Ignored is the number of lines before ReadFrom of Config.Resume,
	// which a resumed run does not count.
	Ignored uint64
	// Settled is the run's settled point: every session ending at or before
	// it is counted (by this run or an earlier one), none ending after it,
	// and the coverage and hour statistics stop there (at its hour, for the
	// hour statistics). Zero when the run read no line at or after
	// ReadFrom. A later run resumes from it (Config.Resume).
	Settled time.Time
	// SettledOpen is the start of the coverage interval running across
	// Settled (cut there), zero if none: Config.ResumeOpen of the next run.
	SettledOpen time.Time
	// Offsets holds per input the offset in its stream from which the next
	// run, resumed from Settled, must read: no line before it is at or
	// after that run's ReadFrom. OffsetLines holds the number of lines
	// before each (Input.Line of the next run).
	Offsets     []int64
	OffsetLines []uint64
	// Continuous is the number of clients of a resumed run whose sessions
	// may be split differently from one run over the whole period: their
	// first line after ReadFrom came within the idle timeout of it, so a
	// session started before may have been running, and the session that
	// line started ran into the maximum or ended after Resume. Zero for a
	// run that does not resume.
	Continuous uint64
	// WrittenLate is the number of lines of a resumed run written to a file
	// after the earlier run read it (Input.Seen) with a time not after the
	// settled point (Config.Resume): a node whose clock is behind the others'
	// by more than the reorder window, or a writer that held its lines that
	// long. The earlier run may have counted the session such a line
	// belongs to, ended before the line; this run then counts it again. One
	// run over all the logs would have counted it once.
	WrittenLate uint64
}

// Sessions returns the number of completed sessions in r.
func (r *Result) Sessions() uint64 {
	var n uint64
	for _, d := range r.Flush.Days {
		n += d.Sessions
	}
	return n
}

// event is one line, keyed and classified: all a line leaves behind.
type event struct {
	t     int64 // Unix nanoseconds
	key   uint64
	kind  uint8
	class session.Class
}

const (
	kindRequest  uint8 = iota // a metered request
	kindLogout                // a metered logout request
	kindCoverage              // a line that is not metered: it only covers its time
)

// tableSlack is how much earlier than the first line the session table's
// clock reaches (session.New takes times up to a day before its start). A
// line older than that, late by about a day, is counted late and not
// applied.
const tableSlack = 23 * time.Hour

// sweepStep is the log time between two sweeps of the table. It divides
// store.Window: completions are collected at each window's end.
const sweepStep = time.Minute

// Run reads the inputs as one stream merged by time and counts the sessions
// of their requests with agent/session's table, the log's times as its
// clock. Sessions still live at the end of the logs end as their idle
// timeout or maximum ends them, as if no request followed.
func Run(cfg Config, inputs []Input) (Result, error) {
	if cfg.ReorderWindow <= 0 {
		cfg.ReorderWindow = 5 * time.Minute
	}
	if cfg.Hole <= 0 {
		cfg.Hole = 15 * time.Minute
	}
	if cfg.Keyer == nil {
		cfg.Keyer = keying.New(keying.Config{})
	}
	e := &engine{cfg: cfg, window: int64(cfg.ReorderWindow), hole: int64(cfg.Hole), from: math.MinInt64}
	if !cfg.Resume.IsZero() {
		e.resume = cfg.Resume.UnixNano()
		e.from = ReadFrom(cfg, cfg.Resume).UnixNano()
	}
	e.classFn = func() session.Class { return e.class }
	e.res.Formats = make([]Format, len(inputs))
	for i, in := range inputs {
		s := &source{name: in.Name, lr: newLineReader(in.R, in.Offset), format: cfg.Format, seen: in.Seen}
		s.lr.line = in.Line
		s.cps = []checkpoint{{max: math.MinInt64, off: in.Offset, line: in.Line}}
		if err := e.start(s); err != nil {
			return Result{}, err
		}
		e.res.Formats[i] = s.format
		e.sources = append(e.sources, s)
	}
	if err := e.run(); err != nil {
		return Result{}, err
	}
	if e.resume != 0 && (e.res.Settled.IsZero() || e.res.Settled.Equal(cfg.Resume)) {
		e.res.Settled, e.res.SettledOpen = cfg.Resume.UTC(), cfg.ResumeOpen // nothing new settled
	}
	e.res.Offsets, e.res.OffsetLines = e.offsets()
	return e.res, nil
}

// FormatError says that no line of a file's first ones fits a format, so
// FormatAuto cannot tell which it is.
type FormatError struct {
	File  string
	Lines int // the non-empty lines looked at
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: no line of the first %d fits a format (dx-ust, ncsa, haproxy); pass --format if the file is one of them", e.File, e.Lines)
}

// source is one input being read.
type source struct {
	name   string
	lr     *lineReader
	format Format
	parse  parser
	// early holds the lines read to detect the format, copied, until they
	// are parsed; earlyLong tells which of them were longer than maxLine.
	early     [][]byte
	earlyLong []bool
	// earlyLine is the line number of early[0]; earlyOff holds the offsets
	// of the early lines.
	earlyLine uint64
	earlyOff  []int64
	head      event
	ok        bool  // head holds the next event
	seen      int64 // Input.Seen

	// cps holds checkpoints of the stream, in order: no line before off is
	// later than max. One is added each minute of log time, and those the
	// next run cannot need are dropped (checkpoint), to find where the next
	// run must read from (offsets).
	cps      []checkpoint
	maxT     int64 // the latest time of the lines read
	haveMax  bool
	cpMinute int64 // the minute of the last checkpoint
}

// checkpoint is a place in a stream: no line before off (line lines) is
// later than max.
type checkpoint struct {
	max, off int64
	line     uint64
}

type engine struct {
	cfg     Config
	window  int64
	hole    int64
	sources []*source
	res     Result

	record  Record
	ipBuf   [16]byte
	class   session.Class
	classFn func() session.Class

	pending    []event // the reorder buffer, sorted by time from pendHead
	pendHead   int
	newest     int64
	haveNewest bool

	table      *session.Table
	oldest     int64 // lines before it are older than the table's clock can hold
	nextSweep  int64
	covStart   int64
	covEnd     int64
	covered    bool
	lastWindow int64
	// unmetered is set from the start of a hole in the logs to its end,
	// and after the last line: the completions collected then count in
	// covEnd's window.
	unmetered bool

	days    map[int64]*store.DayCount
	hours   map[int64]*store.HourCount
	windows map[int64]*store.WindowCount
	stats   map[int64]*store.HourStat

	// from is ReadFrom of the resume point, resume that point (Unix
	// nanoseconds; from is math.MinInt64 and resume 0 for a run that does
	// not resume).
	from, resume int64
	// cov holds the covered spans, before they are cut to the run's share.
	cov []store.Interval
	// probes follows, in a resumed run, the first session of each key whose
	// first line came within the idle timeout of from (Result.Continuous).
	probes   map[uint64]*probe
	probeEnd int64 // no probe is open after it
}

// probe is the first session of a key in a resumed run, in ticks of
// session.Tick since the Unix epoch.
type probe struct {
	start, last int64
	done        bool
}

// start reads a source's first lines to detect its format when asked to,
// and its first event.
func (e *engine) start(s *source) error {
	if s.format == FormatAuto {
		s.earlyLine = s.lr.line + 1
		for len(s.early) < detectLines {
			line, ok := s.lr.Next()
			if !ok {
				break
			}
			s.early = append(s.early, append([]byte(nil), line...))
			s.earlyLong = append(s.earlyLong, s.lr.longLine)
			s.earlyOff = append(s.earlyOff, s.lr.off)
		}
		if err := s.lr.Err(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		var nonEmpty [][]byte
		for i, l := range s.early {
			if len(trimEOL(l)) > 0 && !s.earlyLong[i] {
				nonEmpty = append(nonEmpty, l)
			}
		}
		f, ok := Detect(nonEmpty)
		if !ok && len(nonEmpty) > 0 {
			return &FormatError{File: s.name, Lines: len(nonEmpty)}
		}
		if !ok {
			f = FormatNCSA // an empty file: nothing to parse
		}
		s.format = f
	}
	s.parse = parserOf(s.format)
	return e.advance(s)
}

// advance reads the source's next event into its head.
func (e *engine) advance(s *source) error {
	for {
		var line []byte
		var n uint64
		var off int64
		long := false
		if len(s.early) > 0 {
			line, n, long, off = s.early[0], s.earlyLine, s.earlyLong[0], s.earlyOff[0]
			s.early, s.earlyLong, s.earlyOff = s.early[1:], s.earlyLong[1:], s.earlyOff[1:]
			s.earlyLine++
		} else {
			var ok bool
			if line, ok = s.lr.Next(); !ok {
				s.ok = false
				if err := s.lr.Err(); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				return nil
			}
			n, long, off = s.lr.line, s.lr.longLine, s.lr.off
		}
		if len(trimEOL(line)) == 0 && !long {
			continue
		}
		e.res.Lines++
		if e.cfg.Progress != nil && e.res.Lines%ProgressLines == 0 {
			e.cfg.Progress(e.res.Lines)
		}
		if long || !s.parse(line, &e.record) {
			e.res.Skipped++
			if len(e.res.FirstSkipped) < maxSkippedLines {
				e.res.FirstSkipped = append(e.res.FirstSkipped, SkippedLine{File: s.name, Line: n})
			}
			continue
		}
		e.checkpoint(s, e.record.Time, off, n-1)
		if s.seen > 0 && off >= s.seen && e.resume != 0 && e.record.Time <= e.resume {
			e.res.WrittenLate++
		}
		s.head = e.keyed(&e.record)
		s.ok = true
		return nil
	}
}

// keyed turns a parsed line into its event: keyed, classified, or only
// coverage when it is not metered.
func (e *engine) keyed(r *Record) event {
	ev := event{t: r.Time, kind: kindCoverage}
	k := e.cfg.Keyer
	// The agent receives the values cut as the shipped configuration cuts
	// them; the log holds them whole.
	r.UA = r.UA[:min(len(r.UA), keying.FieldLimit)]
	r.XFF = r.XFF[:min(len(r.XFF), keying.FieldLimit)]
	addr := parseAddr(r.Host)
	if k.ExcludedAddr(addr) || k.ExcludedUA(r.UA) {
		e.res.Excluded++
		return ev
	}
	ip := r.Host
	if addr.IsValid() {
		ip = keying.IPBytes(addr, e.ipBuf[:0])
	}
	key, ok := k.Key(addr, ip, r.UA, r.XFF, r.XFFSent)
	if !ok {
		e.res.Excluded++
		return ev
	}
	ev.key = key
	if e.cfg.LogoutPath != nil && len(r.Path) > 0 && e.cfg.LogoutPath.Match(r.Path) {
		ev.kind = kindLogout
		return ev
	}
	ev.kind = kindRequest
	ev.class = k.Classify(r.UA, time.Unix(0, r.Time))
	return ev
}

// run merges the sources by time and feeds the table.
func (e *engine) run() error {
	first, any := int64(0), false
	for _, s := range e.sources {
		if s.ok && (!any || s.head.t < first) {
			first, any = s.head.t, true
		}
	}
	first = max(first, e.from)
	e.days = make(map[int64]*store.DayCount)
	e.hours = make(map[int64]*store.HourCount)
	e.windows = make(map[int64]*store.WindowCount)
	e.stats = make(map[int64]*store.HourStat)
	e.res.Flush.Completed = make(map[string]uint64)
	if !any {
		return nil
	}
	cfg := e.cfg.Session
	if cfg.MaxLive == 0 {
		cfg.MaxLive = session.DefaultMaxLive
	}
	if cfg.Shards == 0 {
		// One goroutine feeds the table: the agent's 256 shards spread no
		// contention here, and their growth, one small array at a time,
		// allocated 0.08 times a line (16 shards: 0.01) at the same speed.
		cfg.Shards = 16
	}
	// The log's clock runs far faster than the wall clock: a sweep over
	// every slot each minute of it cost more than the lines (about 40 % of
	// the run); the wheel visits only the keys that may be due.
	cfg.DueWheel = !e.cfg.everySlot
	table, err := session.New(cfg, time.Unix(0, first))
	if err != nil {
		return err
	}
	e.table = table
	if e.resume != 0 {
		table.CountWithin(time.Unix(0, e.resume), time.Time{})
		e.probes = make(map[uint64]*probe)
		e.probeEnd = e.from + 2*int64(e.idle()) + int64(e.maxSession()) + int64(session.Tick)
	}
	e.oldest = first - int64(tableSlack)
	e.nextSweep = first - first%int64(sweepStep) + int64(sweepStep)
	e.lastWindow = e.nextSweep
	for {
		// k-way merge: the source whose next line is the oldest goes first.
		var next *source
		for _, s := range e.sources {
			if s.ok && (next == nil || s.head.t < next.head.t) {
				next = s
			}
		}
		if next == nil {
			break
		}
		if next.head.t < e.from {
			e.res.Ignored++
		} else {
			e.push(next.head)
		}
		if err := e.advance(next); err != nil {
			return err
		}
	}
	if e.cfg.Settle && e.haveNewest {
		// The lines still held by the reorder window are applied, but no
		// session ending after the settled point is counted: the next run
		// reads them again.
		settled := e.newest - e.window
		settled -= settled % int64(session.Tick)
		e.res.Settled = time.Unix(0, max(settled, e.resume)).UTC()
		e.table.CountWithin(time.Unix(0, e.resume), e.res.Settled)
	}
	for e.pendHead < len(e.pending) {
		e.apply(e.pending[e.pendHead])
		e.pendHead++
	}
	e.finish()
	return nil
}

// push puts an event into the reorder buffer and applies, in time order,
// the events the reorder window no longer holds.
func (e *engine) push(ev event) {
	if !e.haveNewest || ev.t > e.newest {
		e.newest, e.haveNewest = ev.t, true
	}
	horizon := e.newest - e.window
	if ev.t < horizon {
		e.res.Late++
	}
	// Insert ev after every pending event of its time or earlier, so that
	// events of one time keep the order they were read in: most lines come
	// in order and are appended; a late one is moved back in one copy.
	e.pending = append(e.pending, ev)
	if n := len(e.pending) - 1; n > e.pendHead && e.pending[n-1].t > ev.t {
		lo, hi := e.pendHead, n-1 // the insertion point is in [lo, hi]
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); e.pending[m].t <= ev.t {
				lo = m + 1
			} else {
				hi = m
			}
		}
		copy(e.pending[lo+1:], e.pending[lo:n])
		e.pending[lo] = ev
	}
	for e.pendHead < len(e.pending) && e.pending[e.pendHead].t <= horizon {
		e.apply(e.pending[e.pendHead])
		e.pendHead++
	}
	if e.pendHead > 4096 && e.pendHead*2 > len(e.pending) {
		n := copy(e.pending, e.pending[e.pendHead:])
		e.pending = e.pending[:n]
		e.pendHead = 0
	}
}

// apply feeds one event to the table at its time, after the sweeps due
// before it, and extends the coverage.
func (e *engine) apply(ev event) {
	if ev.t < e.oldest {
		return
	}
	hole := !e.covered || ev.t > e.covEnd+e.hole
	if hole {
		// No line from covEnd to ev.t: that time is not metered. The hour
		// statistics are sampled up to its start; the sweeps through it end
		// sessions but sample nothing (no sampled time, no live time). Nor
		// is the time before the run's first line: a resumed run's table
		// starts at ReadFrom, and one run over all the logs has a hole
		// there, or lines before that the earlier run sampled.
		if e.covered {
			e.table.Sweep(time.Unix(0, e.covEnd))
		}
		e.table.Unmetered(true)
		e.unmetered = e.covered
	}
	for ev.t >= e.nextSweep {
		e.sweep(e.nextSweep)
		e.nextSweep += int64(sweepStep)
		if e.table.Live() == 0 && ev.t >= e.nextSweep {
			// Nothing live: jump over the quiet time (a hole in the logs),
			// the completions so far in the window they completed in. A
			// sweep at its end, before ev starts a session, samples the
			// quiet time with nothing live; the next sweep's sample would
			// charge all of it with the sessions live then.
			e.collect(e.nextSweep)
			e.table.Sweep(time.Unix(0, ev.t-ev.t%int64(sweepStep)))
			e.nextSweep = ev.t - ev.t%int64(sweepStep) + int64(sweepStep)
		}
	}
	if hole {
		e.table.Sweep(time.Unix(0, ev.t)) // sampling starts again here
		e.table.Unmetered(false)
		e.unmetered = false
	}
	if e.probes != nil && ev.t < e.probeEnd && ev.kind != kindCoverage {
		e.probe(ev)
	}
	switch {
	case !e.covered:
		e.covStart, e.covEnd, e.covered = ev.t, ev.t, true
	case ev.t > e.covEnd+e.hole:
		e.addCoverage()
		e.covStart, e.covEnd = ev.t, ev.t
	case ev.t > e.covEnd:
		e.covEnd = ev.t
	}
	now := time.Unix(0, ev.t)
	switch ev.kind {
	case kindRequest:
		e.class = ev.class
		e.table.ObserveClass(ev.key, now, e.classFn)
	case kindLogout:
		e.table.Logout(ev.key, now)
	}
}

// sweep completes the sessions over at t and, at the end of a 10-minute
// window, collects the window's completions.
func (e *engine) sweep(t int64) {
	e.table.Sweep(time.Unix(0, t))
	if t%int64(store.Window) == 0 {
		e.collect(t)
	}
}

// finish ends the sessions still live after the last line, each at its own
// idle timeout or maximum, and closes the coverage.
func (e *engine) finish() {
	if e.covered {
		// After the last line nothing is metered: the sessions still live
		// end, but their time after it is in no hour statistics.
		e.table.Sweep(time.Unix(0, e.covEnd))
		e.table.Unmetered(true)
		e.unmetered = true
	}
	for e.table.Live() > 0 {
		e.sweep(e.nextSweep)
		e.nextSweep += int64(sweepStep)
	}
	e.table.EndAll(time.Unix(0, e.nextSweep))
	e.collect(e.nextSweep)
	if e.covered {
		e.addCoverage()
	}
	if !e.cfg.Settle {
		// Every session ended: the next run, if any, starts after them.
		e.res.Settled = time.Unix(0, max(e.nextSweep, e.resume)).UTC().Truncate(time.Hour).Add(time.Hour)
	}
	for _, p := range e.probes {
		if !p.done && e.splits(p) {
			e.res.Continuous++
		}
	}
	e.share()
	f := &e.res.Flush
	for _, d := range e.days {
		f.Days = append(f.Days, *d)
	}
	for _, h := range e.hours {
		f.HourSessions = append(f.HourSessions, *h)
	}
	for _, w := range e.windows {
		f.Windows = append(f.Windows, *w)
	}
	fromHour, untilHour := time.Time{}, e.res.Settled.Truncate(time.Hour)
	if e.resume != 0 {
		fromHour = time.Unix(0, e.resume).UTC().Truncate(time.Hour)
	}
	for _, h := range e.stats {
		// The table samples the hours of a hole too; an hour wholly in a
		// hole was not metered. A resumed run's table lacks the sessions
		// started before it read, in the hours before the resume point's
		// (the earlier run wrote those), and the hours from the settled
		// point's on are the next run's.
		if meets(e.cov, h.Hour, h.Hour.Add(time.Hour)) && !h.Hour.Before(fromHour) &&
			(e.res.Settled.IsZero() || h.Hour.Before(untilHour)) {
			f.Hours = append(f.Hours, *h)
		}
	}
	f.Started = 0
	for _, n := range f.Completed {
		f.Started += n // every session counted here started and ended within the run's share
	}
	sort.Slice(f.Days, func(i, j int) bool { return f.Days[i].Day.Before(f.Days[j].Day) })
	sort.Slice(f.HourSessions, func(i, j int) bool { return f.HourSessions[i].Hour.Before(f.HourSessions[j].Hour) })
	sort.Slice(f.Windows, func(i, j int) bool { return f.Windows[i].Start.Before(f.Windows[j].Start) })
	sort.Slice(f.Hours, func(i, j int) bool { return f.Hours[i].Hour.Before(f.Hours[j].Hour) })
}

// addCoverage records the covered span in progress, to the second (its end
// rounded up, so that a span of one line is a second long).
func (e *engine) addCoverage() {
	start := time.Unix(0, e.covStart).UTC().Truncate(time.Second)
	end := time.Unix(0, e.covEnd).UTC().Truncate(time.Second).Add(time.Second)
	e.cov = append(e.cov, store.Interval{Start: start, End: end})
}

// share cuts the coverage to the run's share, from the resume point to the
// settled point: the interval running across the resume point continues
// the one the earlier run stored (Config.ResumeOpen), and the start of the
// one running across the settled point is Result.SettledOpen.
func (e *engine) share() {
	from := time.Unix(0, e.resume).UTC()
	until := e.res.Settled
	for _, iv := range e.cov {
		continued, open := false, false
		if e.resume != 0 {
			if !iv.End.After(from) {
				continue // the earlier run's
			}
			if !iv.Start.After(from) {
				iv.Start, continued = from, !e.cfg.ResumeOpen.IsZero()
			}
		}
		if !until.IsZero() {
			if !iv.Start.Before(until) {
				continue // the next run's
			}
			if iv.End.After(until) {
				iv.End, open = until, true
			}
		}
		if continued {
			iv.Start = e.cfg.ResumeOpen
		}
		if open {
			e.res.SettledOpen = iv.Start
		}
		e.res.Flush.Coverage = append(e.res.Flush.Coverage, iv)
	}
}

// rules returns the session rules of s with the table's defaults.
func rules(s session.Config) (idle, maxSession time.Duration) {
	idle, maxSession = s.IdleTimeout, s.MaxSession
	if idle <= 0 {
		idle = session.DefaultIdleTimeout
	}
	if maxSession <= 0 {
		maxSession = session.DefaultMaxSession
	}
	return idle, maxSession
}

// idle and maxSession return the session rules with their defaults.
func (e *engine) idle() time.Duration {
	idle, _ := rules(e.cfg.Session)
	return idle
}

func (e *engine) maxSession() time.Duration {
	_, maxSession := rules(e.cfg.Session)
	return maxSession
}

// overTicks returns a duration in the table's ticks as the table counts it
// (session.Tick precision: a time is proven that far from another only one
// tick further).
func overTicks(d time.Duration) int64 { return int64((d+session.Tick-1)/session.Tick) + 1 }

// probe follows the first session of a key of a resumed run whose first
// line came within the idle timeout of where the run started reading: a
// session started before may have been running then, and the session that
// line starts may not be the one a run over all the logs has. It is counted
// in Result.Continuous when the difference may show (splits).
func (e *engine) probe(ev event) {
	tk := ev.t / int64(session.Tick)
	p := e.probes[ev.key]
	if p == nil {
		if ev.t >= e.from+int64(e.idle()) {
			return // a pause of the idle timeout at least: a session of its own either way
		}
		// A logout ends whatever ran before it: after it both agree.
		p = &probe{start: tk, last: tk, done: ev.kind == kindLogout}
		e.probes[ev.key] = p
		return
	}
	if p.done {
		return
	}
	idleEnd, maxEnd := p.last+overTicks(e.idle()), p.start+overTicks(e.maxSession())
	switch {
	case tk >= idleEnd || tk >= maxEnd:
		p.done = true
		if e.splits(p) {
			e.res.Continuous++
		}
	case ev.kind == kindLogout:
		p.done = true
		if tk*int64(session.Tick) > e.resume {
			e.res.Continuous++
		}
	default:
		p.last = tk
	}
}

// splits reports whether the first session of a probed key, ended by its
// idle timeout or maximum, may differ from the one a run over all the logs
// counts: it ran into the maximum (where an earlier start would have cut it
// elsewhere), or it ended after the resume point (it is counted now, where
// the earlier run may have counted the session it belonged to).
func (e *engine) splits(p *probe) bool {
	idleEnd, maxEnd := p.last+overTicks(e.idle()), p.start+overTicks(e.maxSession())
	if maxEnd < idleEnd {
		return true
	}
	return idleEnd*int64(session.Tick) > e.resume
}

// checkpoint notes the place of a line of s at time t and offset off.
func (e *engine) checkpoint(s *source, t, off int64, line uint64) {
	if !s.haveMax {
		s.maxT, s.haveMax = t, true
		s.cpMinute = t - t%int64(time.Minute)
		return
	}
	if t >= s.cpMinute+int64(time.Minute) {
		s.cps = append(s.cps, checkpoint{max: s.maxT, off: off, line: line})
		s.cpMinute = t - t%int64(time.Minute)
		// The next run reads from at least this much before the newest
		// line: a checkpoint with a later one before it is of no use.
		keep := s.maxT - int64(e.cfg.ReorderWindow+time.Hour+e.maxSession()+e.idle()+readMargin+time.Hour)
		n := 0
		for n+1 < len(s.cps) && s.cps[n+1].max < keep {
			n++
		}
		if n > 0 {
			s.cps = append(s.cps[:0], s.cps[n:]...)
		}
	}
	s.maxT = max(s.maxT, t)
}

// offsets returns per source the offset from which the next run must read,
// and the number of lines before it.
func (e *engine) offsets() ([]int64, []uint64) {
	next := int64(math.MinInt64)
	if !e.res.Settled.IsZero() {
		next = ReadFrom(e.cfg, e.res.Settled).UnixNano()
	}
	out, lines := make([]int64, len(e.sources)), make([]uint64, len(e.sources))
	for i, s := range e.sources {
		if !s.haveMax || s.maxT < next {
			out[i], lines[i] = s.lr.consumed(), s.lr.line // read to its end, every line before the next start
			continue
		}
		out[i], lines[i] = s.cps[0].off, s.cps[0].line
		for _, c := range s.cps {
			if c.max < next {
				out[i], lines[i] = c.off, c.line
			}
		}
	}
	return out, lines
}

// collect adds the table's completions since the previous collection to the
// day, hour and window counts; they fall in the window holding t-1ns.
func (e *engine) collect(t int64) {
	d := e.table.Collect()
	f := &e.res.Flush
	f.Started += d.Started
	w := (t - 1) - (t-1)%int64(store.Window)
	if e.unmetered && w > e.covEnd {
		// Completed in a hole of the logs or after the last line, where
		// nothing is metered: counted in the last metered window, as the
		// agent counts the sessions it ends when it stops, so that the
		// metered windows hold every session (headcount metrics-file).
		w = e.covEnd - e.covEnd%int64(store.Window)
	}
	for _, c := range d.Completions {
		if c.Day.Before(e.cfg.DaysFrom) {
			continue
		}
		f.Completed[c.Reason.String()] += c.Sessions
		bots, unclassified := c.Parts()
		day := e.days[c.Day.Unix()]
		if day == nil {
			day = &store.DayCount{Day: c.Day}
			e.days[c.Day.Unix()] = day
		}
		day.Sessions += c.Sessions
		day.Bots += bots
		day.Unclassified += unclassified
		hour := e.hours[c.Hour.Unix()]
		if hour == nil {
			hour = &store.HourCount{Hour: c.Hour}
			e.hours[c.Hour.Unix()] = hour
		}
		hour.Sessions += c.Sessions
		hour.Bots += bots
		hour.Unclassified += unclassified
		win := e.windows[w]
		if win == nil {
			win = &store.WindowCount{Start: time.Unix(0, w).UTC()}
			e.windows[w] = win
		}
		win.Sessions += c.Sessions
		win.Bots += bots
		win.Unclassified += unclassified
	}
	for _, h := range d.Hours {
		s := e.stats[h.Hour.Unix()]
		if s == nil {
			s = &store.HourStat{Hour: h.Hour}
			e.stats[h.Hour.Unix()] = s
		}
		s.Peak = max(s.Peak, h.Peak)
		s.LiveMillis += h.LiveMillis
		s.SampledMillis += h.SampledMillis
	}
}

// meets reports whether one of the intervals meets [from, to).
func meets(ivs []store.Interval, from, to time.Time) bool {
	for _, iv := range ivs {
		if iv.Start.Before(to) && iv.End.After(from) {
			return true
		}
	}
	return false
}
