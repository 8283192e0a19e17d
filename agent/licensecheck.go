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
	license *entitlement.License // nil: the licence did not verify, or none was given
	problem string               // why license is nil, when a licence was given
	online  *entitlement.Client  // nil: offline only
	request entitlement.Request  // what the online check asks about
	db      *store.DB
	log     zerolog.Logger

	mu     sync.Mutex
	status entitlement.Status
}

// NewLicenseCheck returns a checker for a verified licence, or for a licence
// that failed verification (problem says why): that counts as no valid
// entitlement, and metering goes on. With online set, the entitlement
// server's answer decides, and the request names the licence's deployment
// and id (or, without a licence, the environment).
func NewLicenseCheck(license *entitlement.License, problem string, online *entitlement.Client, environment string, db *store.DB, log zerolog.Logger) *LicenseCheck {
	req := entitlement.Request{Deployment: environment, Product: "headcount"}
	if license != nil {
		req.Deployment, req.License = license.Deployment, license.ID
	}
	return &LicenseCheck{license: license, problem: problem, online: online, request: req, db: db, log: log}
}

// SetLicense replaces the licence to check (after the operator changed the
// file and asked for a new check).
func (e *LicenseCheck) SetLicense(license *entitlement.License, problem string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.license, e.problem = license, problem
	if license != nil {
		e.request.Deployment, e.request.License = license.Deployment, license.ID
	}
}

// Check evaluates the entitlement at wall, persists the grace state and logs
// the outcome.
func (e *LicenseCheck) Check(wall time.Time) entitlement.Status {
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
		ev, err = e.online.Check(context.Background(), request)
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

// LicenseRunOptions sets up LicenseCheck.Run.
type LicenseRunOptions struct {
	Clock Clock
	// Online: check once at once (the start-up check of an online
	// entitlement runs here, so that it never holds up the start).
	Online bool
	// Tick triggers the daily check; default a ticker of licenseEvery.
	Tick <-chan time.Time
	// Recheck asks for a check now (SIGHUP); Reload, when set, reads the
	// licence again first.
	Recheck <-chan struct{}
	Reload  func() (*entitlement.License, string)
}

// licenseEvery is how often the licence is checked while running.
const licenseEvery = 24 * time.Hour

// Run checks the entitlement on every tick and every recheck until ctx is
// done.
func (e *LicenseCheck) Run(ctx context.Context, o LicenseRunOptions) {
	if o.Tick == nil {
		t := time.NewTicker(licenseEvery)
		defer t.Stop()
		o.Tick = t.C
	}
	if o.Online {
		_, wall := o.Clock()
		e.Check(wall)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Tick:
		case <-o.Recheck:
			if o.Reload != nil {
				e.SetLicense(o.Reload())
			}
			e.log.Info().Msg("checking the entitlement again, as asked (SIGHUP)")
		}
		_, wall := o.Clock()
		e.Check(wall)
	}
}
