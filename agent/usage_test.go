package agent

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
	"headcount/store"
	"headcount/usage"
)

// receiver is a local usage receiver that misbehaves at random: it fails,
// times out, records a transmission and then drops its answer, or records
// it and answers; it counts each sequence once.
type receiver struct {
	mu       sync.Mutex
	seen     map[uint64]usage.Transmission
	received int
	chaos    atomic.Bool
	rng      *rand.Rand
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var tr usage.Transmission
	if err := json.NewDecoder(req.Body).Decode(&tr); err != nil || req.Header.Get("Idempotency-Key") != fmt.Sprint(tr.Sequence) {
		http.Error(w, "bad transmission", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	mode := 3
	if r.chaos.Load() {
		mode = r.rng.IntN(4)
	}
	r.received++
	if mode >= 2 { // recorded (once per sequence)
		if old, ok := r.seen[tr.Sequence]; ok && old != tr {
			r.mu.Unlock()
			panic(fmt.Sprintf("sequence %d resent changed: %+v then %+v", tr.Sequence, old, tr))
		}
		r.seen[tr.Sequence] = tr
	}
	r.mu.Unlock()
	switch mode {
	case 0:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case 1: // no answer: the agent gives up (UsageTimeout below) or stops
		<-req.Context().Done()
	case 2: // recorded, but the answer is lost
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func (r *receiver) total() (sum uint64, sequences int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tr := range r.seen {
		sum += tr.Sessions
	}
	return sum, len(r.seen)
}

// TestRun_UsageTransmission sends usage to a receiver that fails, times out,
// loses answers, and receives duplicates, across agent restarts (stops with
// a transmission in flight, which the stop cuts off): the receiver's
// de-duplicated sum equals the agent's completed total exactly. The test
// drives the clocks, the meter and the sender's timer.
func TestRun_UsageTransmission(t *testing.T) {
	rc := &receiver{seen: map[uint64]usage.Transmission{}, rng: rand.New(rand.NewPCG(7, 11))}
	rc.chaos.Store(true)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var elapsed atomic.Int64
	clock := func() (time.Time, time.Time) {
		now := base.Add(time.Duration(elapsed.Load()))
		return now, now
	}
	cfg := Config{IdleTimeout: time.Second, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock,
		UsageURL: srv.URL, UsageInterval: 150 * time.Millisecond, UsageTimeout: 300 * time.Millisecond, Deployment: "dx-prod", Environment: "prod"}
	client := 0
	for run := 0; run < 4; run++ {
		runCfg := cfg
		d := drive(t, &runCfg)
		a := runAgent(t, db, runCfg)
		c := spoptest.Dial(t, a.spoe)
		c.Hello(false)
		// 1.5s of traffic: 20 new clients every 50ms; sessions idle for 1s
		// end while the run goes on, the others at its stop.
		for round := 0; round < 30; round++ {
			for i := 0; i < 20; i++ {
				c.Notify(requestMsg(ip4, fmt.Sprint("client-", client), nil))
				client++
			}
			elapsed.Add(int64(50 * time.Millisecond))
			d.sweep()
			_ = d.flush() // a failure is retried with the next flush
			if round%3 == 2 {
				_ = d.usage() // a failure is resent with the next attempt
			}
		}
		d.startUsage() // stopped while this one is in flight
		if err := a.stop(); err != nil {
			t.Fatal(err)
		}
	}
	// A last, quiet run with a well-behaved receiver delivers what is left.
	rc.chaos.Store(false)
	d := drive(t, &cfg)
	a := runAgent(t, db, cfg)
	want, err := db.CompletedTotal()
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		if sum, _ := rc.total(); sum == want {
			break
		}
		if attempt == 10 {
			t.Fatalf("the receiver does not have everything after %d attempts with a well-behaved receiver", attempt)
		}
		_ = d.usage()
	}
	for range 3 { // a few more transmissions, a second apart: nothing more may arrive
		elapsed.Add(int64(time.Second))
		if err := d.usage(); err != nil {
			t.Errorf("a transmission to the well-behaved receiver failed: %v", err)
		}
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	sum, sequences := rc.total()
	if got, _ := db.CompletedTotal(); sum != got || uint64(client) != got {
		t.Errorf("receiver's de-duplicated sum %d, agent's completed total %d, clients %d: want all equal", sum, got, client)
	}
	rc.mu.Lock()
	received := rc.received
	rc.mu.Unlock()
	t.Logf("%d sessions, %d distinct transmissions, %d deliveries (with failures, time-outs, lost answers and duplicates), receiver total %d", client, sequences, received, sum)
}

// TestRun_UsageEarlierSessions: --usage-url turned on for a database that
// already holds sessions: the receiver's first transmission carries them,
// over a period from the database's first covered moment to the moment it
// is made (never a zero-length period), and the next one starts where it
// ended; the receiver's sum is the agent's completed total.
func TestRun_UsageEarlierSessions(t *testing.T) {
	var mu sync.Mutex
	var got []usage.Transmission
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr usage.Transmission
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, tr)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	db := mustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	base := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var elapsed atomic.Int64
	clock := func() (time.Time, time.Time) {
		now := base.Add(time.Duration(elapsed.Load()))
		return now, now
	}
	cfg := Config{IdleTimeout: time.Second, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock,
		Deployment: "dx-prod", Environment: "prod"}

	// Metered for a day without online reporting.
	runCfg := cfg
	d := drive(t, &runCfg)
	a := runAgent(t, db, runCfg)
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	for i := range 7 {
		c.Notify(requestMsg(ip4, fmt.Sprint("client-", i), nil))
	}
	elapsed.Add(int64(24 * time.Hour))
	d.sweep()
	if err := d.flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	first, ok, err := db.FirstCovered()
	if err != nil || !ok || !first.Equal(base) {
		t.Fatalf("first covered moment %s (%v, %v), want %s", first, ok, err, base)
	}

	// Online reporting turned on a day later.
	elapsed.Add(int64(24 * time.Hour))
	cfg.UsageURL, cfg.UsageInterval = srv.URL, time.Hour
	d = drive(t, &cfg)
	a = runAgent(t, db, cfg)
	elapsed.Add(int64(time.Hour))
	if err := d.usage(); err != nil {
		t.Fatal(err)
	}
	elapsed.Add(int64(time.Hour))
	if err := d.usage(); err != nil {
		t.Fatal(err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []usage.Transmission{
		{Deployment: "dx-prod", Environment: "prod", Sequence: 1, PeriodStart: base, PeriodEnd: base.Add(49 * time.Hour), Sessions: 7, SentAt: base.Add(49 * time.Hour)},
		{Deployment: "dx-prod", Environment: "prod", Sequence: 2, PeriodStart: base.Add(49 * time.Hour), PeriodEnd: base.Add(50 * time.Hour), Sessions: 0, SentAt: base.Add(50 * time.Hour)},
	}
	if len(got) != len(want) {
		t.Fatalf("the receiver got %d transmissions, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("transmission %d:\n%+v\nwant\n%+v", i+1, got[i], want[i])
		}
	}
	if total, _ := db.CompletedTotal(); total != 7 {
		t.Errorf("completed total %d, want the 7 sessions sent", total)
	}
}
