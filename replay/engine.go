package replay

import (
	"fmt"
	"io"
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
}

// ProgressLines is how many lines Run reads between two calls of
// Config.Progress.
const ProgressLines = 1 << 16

// Input is one log file.
type Input struct {
	Name string
	R    io.Reader
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
	e := &engine{cfg: cfg, window: int64(cfg.ReorderWindow), hole: int64(cfg.Hole)}
	e.classFn = func() session.Class { return e.class }
	e.res.Formats = make([]Format, len(inputs))
	for i, in := range inputs {
		s := &source{name: in.Name, lr: newLineReader(in.R), format: cfg.Format}
		if err := e.start(s); err != nil {
			return Result{}, err
		}
		e.res.Formats[i] = s.format
		e.sources = append(e.sources, s)
	}
	if err := e.run(); err != nil {
		return Result{}, err
	}
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
	// earlyLine is the line number of early[0].
	earlyLine uint64
	head      event
	ok        bool // head holds the next event
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

	days    map[int64]*store.DayCount
	hours   map[int64]*store.HourCount
	windows map[int64]*store.WindowCount
	stats   map[int64]*store.HourStat
}

// start reads a source's first lines to detect its format when asked to,
// and its first event.
func (e *engine) start(s *source) error {
	if s.format == FormatAuto {
		s.earlyLine = 1
		for len(s.early) < detectLines {
			line, ok := s.lr.Next()
			if !ok {
				break
			}
			s.early = append(s.early, append([]byte(nil), line...))
			s.earlyLong = append(s.earlyLong, s.lr.longLine)
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
		long := false
		if len(s.early) > 0 {
			line, n, long = s.early[0], s.earlyLine, s.earlyLong[0]
			s.early, s.earlyLong = s.early[1:], s.earlyLong[1:]
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
			n, long = s.lr.line, s.lr.longLine
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
	table, err := session.New(cfg, time.Unix(0, first))
	if err != nil {
		return err
	}
	e.table = table
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
		e.push(next.head)
		if err := e.advance(next); err != nil {
			return err
		}
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
	e.pending = append(e.pending, ev)
	for i := len(e.pending) - 1; i > e.pendHead && e.pending[i-1].t > e.pending[i].t; i-- {
		e.pending[i-1], e.pending[i] = e.pending[i], e.pending[i-1]
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
	for ev.t >= e.nextSweep {
		e.sweep(e.nextSweep)
		e.nextSweep += int64(sweepStep)
		if e.table.Live() == 0 && ev.t >= e.nextSweep {
			// Nothing live: jump over the quiet time (a hole in the logs),
			// the completions so far in the window they completed in.
			e.collect(e.nextSweep)
			e.nextSweep = ev.t - ev.t%int64(sweepStep) + int64(sweepStep)
		}
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
	for e.table.Live() > 0 {
		e.sweep(e.nextSweep)
		e.nextSweep += int64(sweepStep)
	}
	e.table.EndAll(time.Unix(0, e.nextSweep))
	e.collect(e.nextSweep)
	if e.covered {
		e.addCoverage()
	}
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
	for _, h := range e.stats {
		// The table samples the hours of a hole too (with the sessions
		// live at its end); an hour wholly in a hole was not metered.
		if meets(f.Coverage, h.Hour, h.Hour.Add(time.Hour)) {
			f.Hours = append(f.Hours, *h)
		}
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
	e.res.Flush.Coverage = append(e.res.Flush.Coverage, store.Interval{Start: start, End: end})
}

// collect adds the table's completions since the previous collection to the
// day, hour and window counts; they fall in the window holding t-1ns.
func (e *engine) collect(t int64) {
	d := e.table.Collect()
	f := &e.res.Flush
	f.Started += d.Started
	w := (t - 1) - (t-1)%int64(store.Window)
	for _, c := range d.Completions {
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
