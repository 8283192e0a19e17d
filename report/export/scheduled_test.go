package export

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"headcount/internal/logbuf"
	"headcount/report"
	"headcount/report/metricsfile"
	"headcount/store"

	"github.com/rs/zerolog"
)

// TestSchedule_WriteDue writes daily reports across a simulated outage: every
// period is written once, at the first run after it settled, with the
// content of export --by day for it; writing again changes nothing.
func TestSchedule_WriteDue(t *testing.T) {
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	db := mustHistory(t, day0, 20, 12) // day 12: nothing metered, no report for it
	dir := t.TempDir()
	s := Schedule{Dir: dir, Name: "dx-prod-daily", Every: 24 * time.Hour, Environment: "dx-prod", Settle: 40 * time.Minute, Since: 30 * 24 * time.Hour}

	at := func(days int, minutes int) time.Time {
		return day0.AddDate(0, 0, days).Add(time.Duration(minutes) * time.Minute)
	}
	runs := []struct {
		now  time.Time
		want int // files written by this run
	}{
		{at(5, 30), 4},   // days 0..3; day 4 ended 30 minutes ago, not settled
		{at(5, 45), 1},   // day 4
		{at(5, 50), 0},   // nothing new
		{at(16, 45), 10}, // the agent was down for eleven days: days 5..15 but 12
		{at(16, 46), 0},
	}
	seen := map[string]int{}
	for i, r := range runs {
		written, err := s.WriteDue(db, r.now)
		if err != nil {
			t.Fatal(err)
		}
		if len(written) != r.want {
			t.Errorf("run %d at %s wrote %d files, want %d: %v", i, r.now, len(written), r.want, written)
		}
		for _, p := range written {
			seen[p]++
		}
	}
	if len(seen) != 15 {
		t.Errorf("%d distinct reports, want 15 (days 0..15 but 12)", len(seen))
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", p, n)
		}
	}
	// The Reports/<name>/<year>/<month>/<day>/<report-id>.csv layout, and the
	// content of export --by day.
	path := filepath.Join(dir, "Reports", "dx-prod-daily", "2026", "10", "03", "dx-prod-daily_2026-10-03_2026-10-04.csv")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := db.Snapshot(day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3), store.Parts{})
	var want bytes.Buffer
	_ = report.WriteCSV(&want, report.Build(Input(snap, day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 3), report.Day, "dx-prod", day0.AddDate(0, 0, 3).Add(time.Hour))))
	if string(got) != want.String() || want.String() != "day,sessions,gaps,environment,covered_hours,peak_live,average_live\n2026-10-03,102,,dx-prod,24,0,0.00\n" {
		t.Errorf("report:\n%s\nwant:\n%s", got, want.String())
	}
	if _, err := os.Stat(s.Path(day0.AddDate(0, 0, 12))); !os.IsNotExist(err) {
		t.Errorf("a report was written for a day nothing was metered")
	}
	// Weekly and 30-day periods.
	for _, tc := range []struct {
		every time.Duration
		first string
	}{{7 * 24 * time.Hour, "2026-09-27"}, {30 * 24 * time.Hour, "2026-09-04"}} {
		ws := Schedule{Dir: t.TempDir(), Name: "r", Every: tc.every, Settle: time.Hour, Since: 60 * 24 * time.Hour}
		written, err := ws.WriteDue(db, at(40, 0))
		if err != nil || len(written) == 0 || filepath.Base(written[0])[:12] != "r_"+tc.first {
			t.Errorf("every %v: %v (%v); want the first period to start %s", tc.every, written, err, tc.first)
		}
	}
}

// TestScheduler_Run drives the scheduler by its tick and clock: it writes
// the periods missed while it was down at once, then what fell due at each
// tick, logs the files and a failure, and stops when its context is done.
func TestScheduler_Run(t *testing.T) {
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	db := mustHistory(t, day0, 5, -1)
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(day0.AddDate(0, 0, 3).Add(time.Hour).UnixNano())
	tick := make(chan time.Time)
	type run struct {
		written []string
		err     error
	}
	runs := make(chan run, 1)
	logs := &logbuf.Buffer{}
	sched := Schedule{Dir: dir, Name: "daily", Every: 24 * time.Hour, Settle: 40 * time.Minute, Since: 30 * 24 * time.Hour}
	s := NewScheduler(SchedulerOptions{Schedule: sched, DB: db, Now: func() time.Time { return time.Unix(0, now.Load()).UTC() },
		Tick: tick, OnRun: func(w []string, err error) { runs <- run{w, err} }, Log: zerolog.New(logs)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	if r := <-runs; r.err != nil || len(r.written) != 3 {
		t.Errorf("at start: wrote %v (%v), want days 0..2, missed while down", r.written, r.err)
	}
	tick <- time.Time{}
	if r := <-runs; r.err != nil || len(r.written) != 0 {
		t.Errorf("a tick with nothing due wrote %v (%v)", r.written, r.err)
	}
	now.Store(day0.AddDate(0, 0, 4).Add(time.Hour).UnixNano())
	tick <- time.Time{}
	if r := <-runs; r.err != nil || len(r.written) != 1 || r.written[0] != sched.Path(day0.AddDate(0, 0, 3)) {
		t.Errorf("a day later wrote %v (%v), want %s", r.written, r.err, sched.Path(day0.AddDate(0, 0, 3)))
	}
	// The reports' directory for day 4 is a file: the write fails, is
	// logged, and the next tick tries again.
	blocked := filepath.Join(dir, "Reports", "daily", "2026", "10", "05")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	now.Store(day0.AddDate(0, 0, 5).Add(time.Hour).UnixNano())
	tick <- time.Time{}
	if r := <-runs; r.err == nil {
		t.Errorf("wrote %v under a file", r.written)
	}
	if err := os.Remove(blocked); err != nil {
		t.Fatal(err)
	}
	tick <- time.Time{}
	if r := <-runs; r.err != nil || len(r.written) != 1 || r.written[0] != sched.Path(day0.AddDate(0, 0, 4)) {
		t.Errorf("after the failure: wrote %v (%v), want %s", r.written, r.err, sched.Path(day0.AddDate(0, 0, 4)))
	}
	cancel()
	<-done
	if got := strings.Count(logs.String(), "wrote a scheduled report"); got != 5 {
		t.Errorf("%d log lines for written reports, want 5:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "writing the scheduled reports failed") {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
}

// mustHistory returns a new database holding days metered days from day0 on,
// 100+i sessions on day i, except day skip (-1: none), which is a gap. It is
// closed when the test ends.
func mustHistory(t *testing.T, day0 time.Time, days, skip int) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var history []store.DayCount
	for i := 0; i < days; i++ {
		if i != skip {
			history = append(history, store.DayCount{Day: day0.AddDate(0, 0, i), Sessions: uint64(100 + i)})
		}
	}
	if err := db.Import(history); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestSchedule_Signed: with a signing key each file is the period's CSV
// sealed as the metrics file is (a chain value on every line, an END
// signature), it verifies with the public key, and writing again changes
// nothing (Ed25519 signatures are deterministic).
func TestSchedule_Signed(t *testing.T) {
	day0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	db := mustHistory(t, day0, 5, -1)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := Schedule{Dir: t.TempDir(), Name: "daily", Every: 24 * time.Hour, Environment: "dx-prod", Settle: time.Hour, Since: 30 * 24 * time.Hour}
	signed := plain
	signed.Dir, signed.SignKey = t.TempDir(), priv
	now := day0.AddDate(0, 0, 3).Add(2 * time.Hour)
	if _, err := plain.WriteDue(db, now); err != nil {
		t.Fatal(err)
	}
	written, err := signed.WriteDue(db, now)
	if err != nil || len(written) != 3 {
		t.Fatalf("wrote %v, %v; want the files of 3 days", written, err)
	}
	for i, path := range written {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		csv, err := os.ReadFile(plain.Path(day0.AddDate(0, 0, i)))
		if err != nil {
			t.Fatal(err)
		}
		f, err := metricsfile.Verify(data, pub)
		if err != nil || strings.Join(f.Report, "\n")+"\n" != string(csv) {
			t.Errorf("%s verifies as %q, %v; want the plain report\n%s", path, f.Report, err, csv)
		}
		if !strings.HasPrefix(string(data), "day,sessions,gaps,environment,covered_hours,peak_live,average_live,") {
			t.Errorf("%s:\n%s", path, data)
		}
	}
	if again, err := signed.WriteDue(db, now.Add(time.Minute)); err != nil || len(again) != 0 {
		t.Errorf("writing again: %v, %v", again, err)
	}
}
