package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/entitlement"
	"headcount/internal/logbuf"
	"headcount/internal/promtext"
	"headcount/store"
	"headcount/usage"
)

// runningAgent is Run running in-process on loopback ports.
type runningAgent struct {
	spoe, admin string
	logs        *logbuf.Buffer
	// events receives a value after any step of a background job (a
	// sweep, flush, licence check, usage attempt or look for reports);
	// values are coalesced, so a step is never missed by a waiter that
	// looked before it.
	events chan struct{}
	sweeps atomic.Int64 // sweeps made by the meter's loop
	stop   func() error
}

// runAgent runs Run in-process on free loopback ports until the test ends
// or stop is called, and returns once both listeners accept connections.
// It chains its own hooks after those cfg has.
func runAgent(t *testing.T, db *store.DB, cfg Config) *runningAgent {
	t.Helper()
	cfg.SPOEAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	a := &runningAgent{logs: &logbuf.Buffer{}, events: make(chan struct{}, 1)}
	notify := func() {
		select {
		case a.events <- struct{}{}:
		default:
		}
	}
	h := cfg.Hooks
	listening := make(chan [2]string, 1)
	cfg.Hooks.Listening = func(spoe, admin net.Addr) {
		if h.Listening != nil {
			h.Listening(spoe, admin)
		}
		listening <- [2]string{spoe.String(), admin.String()}
	}
	cfg.Hooks.Swept = func() {
		if h.Swept != nil {
			h.Swept()
		}
		a.sweeps.Add(1)
		notify()
	}
	cfg.Hooks.Flushed = func(err error) {
		if h.Flushed != nil {
			h.Flushed(err)
		}
		notify()
	}
	cfg.Hooks.LicenseChecked = func(s entitlement.Status) {
		if h.LicenseChecked != nil {
			h.LicenseChecked(s)
		}
		notify()
	}
	cfg.Hooks.UsageAttempted = func(tr usage.Transmission, err error) {
		if h.UsageAttempted != nil {
			h.UsageAttempted(tr, err)
		}
		notify()
	}
	cfg.Hooks.ReportsWritten = func(written []string, err error) {
		if h.ReportsWritten != nil {
			h.ReportsWritten(written, err)
		}
		notify()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, db, zerolog.New(a.logs)) }()
	var once bool
	var result error
	a.stop = func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = a.stop() })
	select {
	case addrs := <-listening:
		a.spoe, a.admin = addrs[0], addrs[1]
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return a
}

// waitUntil checks cond now and again after every step of a background
// job until it holds, for at most 5 seconds.
func (a *runningAgent) waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	a.waitFor(t, 5*time.Second, cond, what)
}

// waitFor is waitUntil with a time limit of limit.
func (a *runningAgent) waitFor(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-a.events:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (a *runningAgent) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + a.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v, ok := promtext.Sum(string(b), series)
	if !ok {
		t.Fatalf("no %s in /metrics", series)
	}
	return v
}

// driver drives an agent's meter and usage sender by hand, through
// Config.Ticks, and learns of their steps through Config.Hooks: each of its
// methods returns once the step it asked for is done. Jobs it does not
// drive keep their timers.
type driver struct {
	t                               *testing.T
	sweepTick, flushTick, usageTick chan time.Time
	swept                           chan struct{}
	flushed, attempted              chan error
}

// drive sets cfg up to be driven by the returned driver.
func drive(t *testing.T, cfg *Config) *driver {
	d := &driver{t: t, sweepTick: make(chan time.Time), flushTick: make(chan time.Time), usageTick: make(chan time.Time),
		swept: make(chan struct{}, 1), flushed: make(chan error, 1), attempted: make(chan error, 1)}
	cfg.Ticks.Sweep, cfg.Ticks.Flush = d.sweepTick, d.flushTick
	cfg.Ticks.UsageAfter = func(time.Duration) <-chan time.Time { return d.usageTick }
	cfg.Hooks.Swept = func() { d.swept <- struct{}{} }
	cfg.Hooks.Flushed = func(err error) { d.flushed <- err }
	cfg.Hooks.UsageAttempted = func(_ usage.Transmission, err error) { d.attempted <- err }
	return d
}

// send sends a tick on ch, failing the test if no job takes it in time.
func send(t *testing.T, ch chan<- time.Time, what string) {
	t.Helper()
	select {
	case ch <- time.Time{}:
	case <-time.After(5 * time.Second):
		t.Fatalf("the agent did not take the tick for %s", what)
	}
}

// receive returns the value the hook sent on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not finish %s", what)
		panic("unreachable")
	}
}

// sweep makes the meter sweep once.
func (d *driver) sweep() {
	d.t.Helper()
	send(d.t, d.sweepTick, "a sweep")
	receive(d.t, d.swept, "a sweep")
}

// flush makes the meter flush once and returns the flush's error.
func (d *driver) flush() error {
	d.t.Helper()
	send(d.t, d.flushTick, "a flush")
	return receive(d.t, d.flushed, "a flush")
}

// startUsage starts one usage transmission attempt, without waiting for it.
func (d *driver) startUsage() {
	d.t.Helper()
	send(d.t, d.usageTick, "a usage transmission")
}

// usage makes one usage transmission attempt and returns its error.
func (d *driver) usage() error {
	d.t.Helper()
	d.startUsage()
	return receive(d.t, d.attempted, "a usage transmission")
}
