package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"headcount/agent/admin"
	"headcount/agent/spop/spoptest"
	"headcount/entitlement"
	"headcount/store"

	"github.com/rs/zerolog"
)

func readyz(t *testing.T, a *runningAgent) admin.Readiness {
	t.Helper()
	resp, err := http.Get("http://" + a.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %s", resp.Status)
	}
	var r admin.Readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRun_Entitlement: a licence that ended is reported (log line, metrics,
// /readyz) while metering goes on; a restart later keeps the grace period's
// original end.
func TestRun_Entitlement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var days atomic.Int64
	system := SystemClock()
	start := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	clock := func() (time.Time, time.Time) {
		mono, _ := system()
		return mono, start.Add(time.Duration(days.Load()) * 24 * time.Hour)
	}
	lic := entitlement.License{ID: "L-1", Deployment: "dx-prod", Sessions: 1000,
		Start: entitlement.Date{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, End: entitlement.Date{Time: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}}
	cfg := Config{IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock, License: &lic}

	a := runAgent(t, db, cfg)
	want := "entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (19 days left): renew the contract to keep the entitlement"
	if !strings.Contains(a.logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, a.logs.String())
	}
	if got := a.metric(t, "headcount_entitlement_state"); got != float64(entitlement.ExpiredInGrace) {
		t.Errorf("headcount_entitlement_state = %v, want %d", got, entitlement.ExpiredInGrace)
	}
	if got := a.metric(t, "headcount_entitlement_grace_days_left"); got != 19 {
		t.Errorf("grace days left = %v, want 19", got)
	}
	r := readyz(t, a)
	if !r.Ready || r.Entitlement == nil || r.Entitlement.State != "expired_in_grace" || r.Entitlement.Message != want {
		t.Errorf("/readyz = %+v (entitlement %+v)", r, r.Entitlement)
	}
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	c.Notify(requestMsg(ip4, "still metering", nil))
	if got := a.metric(t, "headcount_sessions_started_total"); got != 1 {
		t.Errorf("metering stopped with the entitlement in grace: %v sessions started", got)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	// Ten days later, restarted: the same grace end, nine days left.
	days.Store(10)
	a = runAgent(t, db, cfg)
	want = "entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (9 days left): renew the contract to keep the entitlement"
	if !strings.Contains(a.logs.String(), want) {
		t.Errorf("after a restart, log lacks %q:\n%s", want, a.logs.String())
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

}

// TestRun_EntitlementOnline: the online check at start, without holding it
// up: valid; then the server unreachable, a grace period starts, and a
// restart later keeps its end.
func TestRun_EntitlementOnline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var answer atomic.Value
	answer.Store(`{"status":"valid","contract_end":"2026-12-31"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer.Load().(string)
		if a == "" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	defer srv.Close()
	client, err := entitlement.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var days atomic.Int64
	system := SystemClock()
	start := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	clock := func() (time.Time, time.Time) {
		mono, _ := system()
		return mono, start.Add(time.Duration(days.Load()) * 24 * time.Hour)
	}
	cfg := Config{IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock, Entitlement: client, Environment: "dx-prod"}
	state := func(a *runningAgent) float64 {
		var v float64
		a.waitUntil(t, func() bool { v = a.metric(t, "headcount_entitlement_state"); return v != 0 }, "the first online check")
		return v
	}
	a := runAgent(t, db, cfg)
	if got := state(a); got != float64(entitlement.Valid) {
		t.Errorf("state %v, want valid", got)
	}
	_ = a.stop()

	answer.Store("") // the server fails from now on
	a = runAgent(t, db, cfg)
	if got := state(a); got != float64(entitlement.UnreachableGraceStarts) {
		t.Errorf("state %v, want unreachable, grace started", got)
	}
	_ = a.stop()

	days.Store(5)
	a = runAgent(t, db, cfg)
	if got := state(a); got != float64(entitlement.UnreachableInGrace) {
		t.Errorf("state %v, want unreachable within grace", got)
	}
	want := "the entitlement server could not be reached: within the grace period, which ends on 2026-06-29 (23 days left); check the connection to the entitlement server"
	a.waitUntil(t, func() bool { return strings.Contains(a.logs.String(), want) }, "the log line")
}

// TestRun_EntitlementNonProduction: with --production=false the licence is
// still checked and reported, and no session is counted.
func TestRun_EntitlementNonProduction(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lic := entitlement.License{ID: "L-1", Deployment: "dx-uat", Sessions: 1000,
		Start: entitlement.Date{Time: time.Now().AddDate(0, -1, 0)}, End: entitlement.Date{Time: time.Now().AddDate(0, 6, 0)}}
	a := runAgent(t, db, Config{IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: false, License: &lic})
	if got := a.metric(t, "headcount_entitlement_state"); got != float64(entitlement.Valid) {
		t.Errorf("non-production: entitlement state %v, want valid (checked)", got)
	}
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	c.Notify(requestMsg(ip4, "a tester", nil))
	if got := a.metric(t, "headcount_sessions_started_total"); got != 0 {
		t.Errorf("non-production counted %v sessions", got)
	}
	if got := a.metric(t, "headcount_spoe_messages_total"); got != 1 {
		t.Errorf("the message was not received (%v): the agent must still answer HAProxy", got)
	}
}

// TestRun_EntitlementRecheck: after a configuration change (SIGHUP in
// serve), the licence is read again and checked at once.
func TestRun_EntitlementRecheck(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := entitlement.License{ID: "L-1", Deployment: "dx-prod", Sessions: 1000,
		Start: entitlement.Date{Time: time.Now().AddDate(-2, 0, 0)}, End: entitlement.Date{Time: time.Now().AddDate(-1, 0, 0)}}
	renewed := old
	renewed.ID, renewed.End = "L-2", entitlement.Date{Time: time.Now().AddDate(1, 0, 0)}
	recheck := make(chan struct{}, 1)
	a := runAgent(t, db, Config{IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true,
		License: &old, Recheck: recheck, ReloadLicense: func() (*entitlement.License, string) { return &renewed, "" }})
	if got := a.metric(t, "headcount_entitlement_state"); got != float64(entitlement.NoEntitlement) {
		t.Fatalf("with the old licence: state %v, want no entitlement", got)
	}
	recheck <- struct{}{}
	a.waitUntil(t, func() bool { return a.metric(t, "headcount_entitlement_state") == float64(entitlement.Valid) }, "the renewed licence to be checked")
	if !strings.Contains(a.logs.String(), "entitlement valid: licence L-2 for dx-prod") {
		t.Errorf("no log line for the renewed licence")
	}
}

// TestLicenseCheck_Run drives the licence check's loop by its tick, its
// recheck channel and its clock: each tick checks at the clock's time, a
// recheck reads the licence again first, and an offline check makes no
// check of its own at start.
func TestLicenseCheck_Run(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	start := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	var days atomic.Int64
	clock := func() (time.Time, time.Time) {
		at := start.Add(time.Duration(days.Load()) * 24 * time.Hour)
		return at, at
	}
	old := entitlement.License{ID: "L-1", Deployment: "dx-prod", Sessions: 1000,
		Start: entitlement.Date{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, End: entitlement.Date{Time: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}}
	renewed := old
	renewed.ID, renewed.End = "L-2", entitlement.Date{Time: time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)}
	tick, recheck := make(chan time.Time), make(chan struct{})
	checked := make(chan entitlement.Status, 1)
	e := NewLicenseCheck(LicenseCheckOptions{License: &old, DB: db, Clock: clock, Tick: tick, Recheck: recheck,
		Reload:  func() (*entitlement.License, string) { return &renewed, "" },
		OnCheck: func(s entitlement.Status) { checked <- s }, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()

	tick <- time.Time{}
	if s := <-checked; s.Outcome != entitlement.ExpiredInGrace || s.DaysLeft != 19 {
		t.Errorf("first tick: %s, %d days left; want expired in grace, 19 days left", s.Outcome, s.DaysLeft)
	}
	days.Store(10)
	tick <- time.Time{}
	if s := <-checked; s.Outcome != entitlement.ExpiredInGrace || s.DaysLeft != 9 {
		t.Errorf("ten days later: %s, %d days left; want expired in grace, 9 days left", s.Outcome, s.DaysLeft)
	}
	recheck <- struct{}{}
	if s := <-checked; s.Outcome != entitlement.Valid {
		t.Errorf("after the recheck with the renewed licence: %s, want valid", s.Outcome)
	}
	if e.Status().Outcome != entitlement.Valid {
		t.Errorf("Status() = %s after the recheck, want valid", e.Status().Outcome)
	}
	cancel()
	<-done
	select {
	case s := <-checked:
		t.Errorf("a check nobody asked for: %+v", s)
	default:
	}
}

// TestRun_EntitlementReloadFails: a licence file that no longer verifies when
// read again (SIGHUP) is a configuration error: the log says so, with the
// reason, at the reload and at every later check, /readyz and a metric show
// it, the licence read before stays in force (still valid, not a lapsed
// contract), metering goes on, and a licence that verifies clears it.
func TestRun_EntitlementReloadFails(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "headcount.db"), store.Options{})
	start := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	system := SystemClock()
	clock := func() (time.Time, time.Time) { mono, _ := system(); return mono, start }
	lic := entitlement.License{ID: "L-1", Deployment: "dx-prod", Sessions: 1000,
		Start: entitlement.Date{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, End: entitlement.Date{Time: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)}}
	renewed := lic
	renewed.ID = "L-2"
	const problem = "--license /etc/headcount/license.signed does not verify with --license-pubkey /etc/headcount/vendor.pub: the signature does not match"
	var reloaded atomic.Pointer[entitlement.License]
	recheck, tick := make(chan struct{}), make(chan time.Time)
	checked := make(chan entitlement.Status, 1)
	a := runAgent(t, db, Config{IdleTimeout: time.Minute, MaxSession: time.Hour, FlushInterval: 100 * time.Millisecond, Production: true, Clock: clock,
		License: &lic, Recheck: recheck, ReloadLicense: func() (*entitlement.License, string) {
			if l := reloaded.Load(); l != nil {
				return l, ""
			}
			return nil, problem
		},
		Ticks: Ticks{License: tick}, Hooks: Hooks{LicenseChecked: func(s entitlement.Status) { checked <- s }}})
	const configError = "configuration error: the licence file does not verify (see licence_problem); the licence read before stays in force until a licence that verifies is read: fix --license or --license-pubkey, then send SIGHUP"
	valid := "entitlement valid: licence L-1 for dx-prod, 1000 sessions a year, contract ends on 2026-12-31 (214 days left)"

	recheck <- struct{}{}
	if s := <-checked; s.Outcome != entitlement.Valid || s.Message != valid {
		t.Errorf("after a reload that failed: %s %q; want the licence read before, %q", s.Outcome, s.Message, valid)
	}
	tick <- time.Time{} // the daily check says it again
	<-checked
	logs := a.logs.String()
	if n := strings.Count(logs, `"licence_problem":"`+problem+`","licence_in_force":"L-1","message":"`+configError+`"`); n != 2 {
		t.Errorf("the configuration error is logged %d times, want 2 (the reload and the daily check):\n%s", n, logs)
	}
	for _, lapsed := range []string{"renew the contract", "grace period"} {
		if strings.Contains(logs, lapsed) {
			t.Errorf("a configuration error is reported as a lapsed contract (%q):\n%s", lapsed, logs)
		}
	}
	if r := readyz(t, a); r.Entitlement == nil || r.Entitlement.State != "valid" || r.Entitlement.LicenseProblem != problem {
		t.Errorf("/readyz entitlement %+v, want valid with the licence problem", r.Entitlement)
	}
	if got := a.metric(t, "headcount_entitlement_licence_problem"); got != 1 {
		t.Errorf("headcount_entitlement_licence_problem = %v, want 1", got)
	}
	c := spoptest.Dial(t, a.spoe)
	c.Hello(false)
	c.Notify(requestMsg(ip4, "still metering", nil))
	if got := a.metric(t, "headcount_sessions_started_total"); got != 1 {
		t.Errorf("metering stopped with a licence problem: %v sessions started", got)
	}

	reloaded.Store(&renewed)
	recheck <- struct{}{}
	if s := <-checked; !strings.HasPrefix(s.Message, "entitlement valid: licence L-2 ") {
		t.Errorf("after a reload that verified: %q, want licence L-2", s.Message)
	}
	if r := readyz(t, a); r.Entitlement.LicenseProblem != "" {
		t.Errorf("/readyz still shows the licence problem %q after a licence that verifies", r.Entitlement.LicenseProblem)
	}
	if got := a.metric(t, "headcount_entitlement_licence_problem"); got != 0 {
		t.Errorf("headcount_entitlement_licence_problem = %v after a licence that verifies, want 0", got)
	}
}
