package agent

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"headcount/entitlement"
	"headcount/store"
)

// LicenseCheck checks the site's licence at start and once a day, keeps the
// grace period's state in the database, and reports the outcome in the log,
// the metrics and /readyz. It never stops metering.
type LicenseCheck struct {
	license *entitlement.License // nil: none was given (an online check only)
	problem string               // why the licence file last read did not verify; "" once one does
	online  *entitlement.Client  // nil: offline only
	request entitlement.Request  // what the online check asks about
	db      *store.DB
	log     zerolog.Logger

	clock   Clock
	tick    <-chan time.Time
	recheck <-chan struct{}
	reload  func() (*entitlement.License, string)
	onCheck func(entitlement.Status)

	mu     sync.Mutex
	status entitlement.Status
}

// LicenseCheckOptions sets a LicenseCheck up.
type LicenseCheckOptions struct {
	// License is the verified licence, nil when none was given.
	License *entitlement.License
	// Online, when set, is the entitlement server whose answer decides; the
	// request names the licence's deployment and id (or, without a licence,
	// Environment).
	Online      *entitlement.Client
	Environment string
	DB          *store.DB
	// Clock is the clock checks are made at; default SystemClock().
	Clock Clock
	// Tick triggers the daily check; default a ticker of licenseEvery.
	// Tests send on their own channel.
	Tick <-chan time.Time
	// Recheck asks for a check now (SIGHUP); Reload, when set, reads the
	// licence again first (see SetLicense for a licence that does not read).
	Recheck <-chan struct{}
	Reload  func() (*entitlement.License, string)
	// OnCheck, when set, is called after each check Run makes, from Run's
	// goroutine, with its outcome.
	OnCheck func(entitlement.Status)
	Log     zerolog.Logger
}

// NewLicenseCheck returns a checker set up by o; Check checks once, Run
// checks on every tick and recheck.
func NewLicenseCheck(o LicenseCheckOptions) *LicenseCheck {
	req := entitlement.Request{Deployment: o.Environment, Product: entitlement.Product}
	if o.License != nil {
		req.Deployment, req.License = o.License.Deployment, o.License.ID
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	return &LicenseCheck{license: o.License, online: o.Online, request: req, db: o.DB, log: o.Log,
		clock: o.Clock, tick: o.Tick, recheck: o.Recheck, reload: o.Reload, onCheck: o.OnCheck}
}

// SetLicense replaces the licence to check (after the operator changed the
// file and asked for a new check). A nil license means the file did not read
// or verify, for the reason problem: a configuration error, which says
// nothing about the contract. The licence read before then stays in force
// and every check logs the problem, until a licence that verifies is set.
func (e *LicenseCheck) SetLicense(license *entitlement.License, problem string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if license == nil {
		e.problem = problem
		return
	}
	e.license, e.problem = license, ""
	e.request.Deployment, e.request.License = license.Deployment, license.ID
}

// Problem returns why the licence file last read did not verify, "" when it
// did (or none was read again since the start).
func (e *LicenseCheck) Problem() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.problem
}

// Check evaluates the entitlement at wall, persists the grace state and logs
// the outcome. An online check cut short by ctx (the agent stopping) is no
// evidence that the server is unreachable: nothing is evaluated or stored
// then, and the last outcome is returned.
func (e *LicenseCheck) Check(ctx context.Context, wall time.Time) entitlement.Status {
	var st entitlement.State
	if raw, err := e.db.EntitlementState(); err != nil {
		e.log.Error().Err(err).Msg("reading the entitlement state failed; checking as if none was stored")
	} else if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			e.log.Error().Err(err).Msg("the stored entitlement state does not read; checking as if none was stored")
		}
	}
	e.mu.Lock()
	license, problem, request := e.license, e.problem, e.request
	e.mu.Unlock()
	ev := entitlement.Evidence{Kind: entitlement.ServerNone}
	if license != nil {
		ev = entitlement.Evidence{Kind: entitlement.LicenseFile, License: *license}
	}
	if e.online != nil {
		var err error
		ev, err = e.online.Check(ctx, request)
		if ctx.Err() != nil {
			return e.Status()
		}
		if err != nil {
			e.log.Debug().Err(err).Msg("online entitlement check failed")
		}
		if license != nil {
			end := ev.License.End
			ev.License = *license // the licence's facts for the log; the server's end date wins
			if !end.IsZero() {
				ev.License.End = end
			}
		}
	}
	s, next := entitlement.Evaluate(wall, ev, st)
	if raw, err := json.Marshal(next); err == nil {
		if err := e.db.SetEntitlementState(raw); err != nil {
			e.log.Error().Err(err).Msg("storing the entitlement state failed; the grace period is kept in memory until the next check")
		}
	}
	if s.ClockSetBack {
		e.log.Warn().Time("latest_seen", next.LatestSeen).Msg("the clock is earlier than a time an entitlement check already saw; grace periods are counted from the latest time seen")
	}
	ev2 := e.log.Info()
	switch s.Outcome {
	case entitlement.Valid:
	case entitlement.ExpiredInGrace, entitlement.UnreachableGraceStarts, entitlement.UnreachableInGrace:
		ev2 = e.log.Warn()
	default:
		ev2 = e.log.Error()
	}
	if problem != "" {
		ev2 = ev2.Str("licence_problem", problem)
		held := "none"
		if license != nil {
			held = license.ID
		}
		e.log.Error().Str("licence_problem", problem).Str("licence_in_force", held).
			Msg("configuration error: the licence file does not verify (see licence_problem); the licence read before stays in force until a licence that verifies is read: fix --license or --license-pubkey, then send SIGHUP")
	}
	ev2.Str("entitlement", s.Outcome.String()).Int("days_left", s.DaysLeft).Msg(s.Message)
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
	return s
}

// Status returns the last check's outcome.
func (e *LicenseCheck) Status() entitlement.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// licenseEvery is how often the licence is checked while running.
const licenseEvery = 24 * time.Hour

// Run checks the entitlement on every tick and every recheck until ctx is
// done. With an online check it first checks at once: the start-up check of
// an online entitlement runs here, so that it never holds up the start (an
// offline one is made by the caller with Check before starting).
func (e *LicenseCheck) Run(ctx context.Context) {
	tick := e.tick
	if tick == nil {
		t := time.NewTicker(licenseEvery)
		defer t.Stop()
		tick = t.C
	}
	check := func() {
		_, wall := e.clock()
		s := e.Check(ctx, wall)
		if e.onCheck != nil {
			e.onCheck(s)
		}
	}
	if e.online != nil {
		check()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-e.recheck:
			if e.reload != nil {
				e.SetLicense(e.reload())
			}
			e.log.Info().Msg("checking the entitlement again, as asked (SIGHUP)")
		}
		check()
	}
}
