package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/entitlement"
	"headcount/reporting"
	"headcount/store"
)

// Config is everything `headcount serve` runs with.
type Config struct {
	SPOEAddr      string // SPOP listen address
	AdminAddr     string // admin endpoint listen address; "" disables it
	Environment   string
	IdleTimeout   time.Duration
	MaxSession    time.Duration
	FlushInterval time.Duration
	// Heartbeat is HAProxy's heartbeat interval with the heartbeat
	// configuration (haproxy/haproxy-heartbeat.cfg), 0 with the per-request
	// one. HAProxy then reports a client at most once per interval, so a
	// session is idle only after IdleTimeout + Heartbeat without a report.
	Heartbeat time.Duration
	Allow     []netip.Prefix
	// MaxConnections bounds the open SPOP connections (0: the default, 512).
	MaxConnections int
	ExcludeIP      []netip.Prefix
	ExcludeUA      []*regexp.Regexp
	Production     bool
	Version        string
	// ShutdownTimeout bounds how long in-flight frames get at shutdown.
	ShutdownTimeout time.Duration
	// Clock is the metering clock: frame arrival, sweeps, flushes,
	// coverage. Default SystemClock(); tests step its wall clock.
	Clock Clock
	// License is the verified licence to check (--license); LicenseProblem
	// says why a given licence did not verify. With neither, entitlement is
	// not checked.
	License        *entitlement.License
	LicenseProblem string
	// Entitlement is the online entitlement check, nil without one.
	Entitlement *entitlement.Client
	// Recheck asks for an entitlement check now (SIGHUP: the operator
	// changed the configuration); ReloadLicense, when set, reads the licence
	// again first.
	Recheck       <-chan struct{}
	ReloadLicense func() (*entitlement.License, string)
	// UsageURL, when set, receives the completed sessions every
	// UsageInterval (reporting.Transmission), as Deployment.
	UsageURL      string
	UsageInterval time.Duration
	// UsageTimeout bounds one transmission; default 10s.
	UsageTimeout time.Duration
	Deployment   string
	// Reports, when set, writes the scheduled report files; checked every
	// minute (and at start, for periods missed while the agent was down).
	Reports *reporting.Schedule
}

// entitlementEvery is how often the licence is checked while running.
const entitlementEvery = 24 * time.Hour

// Validate checks the durations against the session table's limits and the
// coverage sampling.
func (c *Config) Validate() error {
	switch {
	case c.IdleTimeout < time.Second || c.IdleTimeout > session.MaxDuration:
		return fmt.Errorf("--idle-timeout %s must be between 1s and %s", c.IdleTimeout, session.MaxDuration)
	case c.MaxSession < time.Second || c.MaxSession > session.MaxDuration:
		return fmt.Errorf("--max-session %s must be between 1s and %s", c.MaxSession, session.MaxDuration)
	case c.Heartbeat != 0 && (c.Heartbeat < time.Second || c.Heartbeat > time.Hour):
		return fmt.Errorf("--heartbeat %s must be 0 (per-request mode) or between 1s and 1h", c.Heartbeat)
	case c.FlushInterval < 100*time.Millisecond || c.FlushInterval >= ContactWindow:
		return fmt.Errorf("--flush-interval %s must be at least 100ms and less than %s (coverage is sampled at each flush)", c.FlushInterval, ContactWindow)
	}
	return nil
}

// Run meters sessions until ctx is done, then shuts down in order: stop
// accepting, let in-flight frames finish, close the connections, end the live
// sessions and flush. db must be open read-write; Run does not close it.
func Run(ctx context.Context, cfg Config, db *store.DB, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	now, wall := cfg.Clock()
	table, err := session.New(session.Config{IdleTimeout: cfg.IdleTimeout + cfg.Heartbeat, MaxSession: cfg.MaxSession}, now)
	if err != nil {
		return err
	}
	coverage := &Coverage{}
	meter := NewMeter(table, coverage, db, cfg.FlushInterval, cfg.Clock, log)
	table.SetWall(now, wall)
	if _, err := meter.Recover(wall); err != nil {
		return err
	}
	var ent *Entitlement
	if cfg.License != nil || cfg.LicenseProblem != "" || cfg.Entitlement != nil {
		ent = NewEntitlement(cfg.License, cfg.LicenseProblem, cfg.Entitlement, cfg.Environment, db, log)
		if cfg.Entitlement == nil {
			ent.Check(wall) // an online check runs in the background, below: it never holds up the start
		}
	}
	handler := NewHandler(HandlerConfig{ExcludeIP: cfg.ExcludeIP, ExcludeUA: cfg.ExcludeUA, Production: cfg.Production, Heartbeat: cfg.Heartbeat > 0}, table, log)
	server := NewServer(ServerConfig{Allow: cfg.Allow, MaxConnections: cfg.MaxConnections, Clock: func() time.Time { mono, _ := cfg.Clock(); return mono }}, handler, coverage, log)

	var usage *usageSender
	if cfg.UsageURL != "" {
		usage = &usageSender{
			t: &reporting.Transmitter{URL: cfg.UsageURL, Deployment: cfg.Deployment, Environment: cfg.Environment, Store: db,
				HTTP: &http.Client{Timeout: cmp.Or(cfg.UsageTimeout, 10*time.Second)}},
			every: cfg.UsageInterval, clock: cfg.Clock, log: log,
		}
	}

	spoe, err := net.Listen("tcp", cfg.SPOEAddr)
	if err != nil {
		return fmt.Errorf("listen for SPOP on %s: %w", cfg.SPOEAddr, err)
	}
	var adminSrv *http.Server
	var admin net.Listener
	if cfg.AdminAddr != "" {
		admin, err = net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			_ = spoe.Close()
			return fmt.Errorf("listen for the admin endpoint on %s: %w", cfg.AdminAddr, err)
		}
		a := NewAdmin(db, cfg.Clock, server, table, meter, coverage, ent, cfg.Environment, cfg.Production, cfg.Version)
		a.usage = usage
		adminSrv = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	}

	log.Info().
		Str("spoe_addr", spoe.Addr().String()).
		Str("admin_addr", addrString(admin)).
		Str("db", db.Path()).
		Str("environment", cfg.Environment).
		Bool("production", cfg.Production).
		Stringer("idle_timeout", cfg.IdleTimeout).
		Stringer("max_session", cfg.MaxSession).
		Stringer("flush_interval", cfg.FlushInterval).
		Stringer("heartbeat", cfg.Heartbeat).
		Str("version", cfg.Version).
		Msg("headcount is metering")

	meterCtx, stopMeter := context.WithCancel(context.Background())
	meterDone := make(chan struct{})
	go func() {
		meter.Run(meterCtx)
		close(meterDone)
	}()
	var background sync.WaitGroup // goroutines that use the database: waited for before Run returns
	if usage != nil {
		background.Add(1)
		go func() {
			defer background.Done()
			usage.run(meterCtx)
		}()
	}
	if cfg.Reports != nil {
		background.Add(1)
		go func() {
			defer background.Done()
			for {
				_, wall := cfg.Clock()
				written, err := cfg.Reports.WriteDue(db, wall)
				for _, p := range written {
					log.Info().Str("file", p).Msg("wrote a scheduled report")
				}
				if err != nil {
					log.Error().Err(err).Msg("writing the scheduled reports failed; retried in a minute")
				}
				select {
				case <-meterCtx.Done():
					return
				case <-time.After(time.Minute):
				}
			}
		}()
	}
	if ent != nil {
		background.Add(1)
		go func() {
			defer background.Done()
			if cfg.Entitlement != nil {
				_, wall := cfg.Clock()
				ent.Check(wall)
			}
			tick := time.NewTicker(entitlementEvery)
			defer tick.Stop()
			for {
				select {
				case <-meterCtx.Done():
					return
				case <-tick.C:
				case <-cfg.Recheck:
					if cfg.ReloadLicense != nil {
						ent.SetLicense(cfg.ReloadLicense())
					}
					log.Info().Msg("checking the entitlement again, as asked (SIGHUP)")
				}
				_, wall := cfg.Clock()
				ent.Check(wall)
			}
		}()
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- server.Serve(spoe) }()
	if adminSrv != nil {
		go func() {
			if err := adminSrv.Serve(admin); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("admin endpoint: %w", err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("stopping: draining SPOP connections")
	case runErr = <-serveErr:
		log.Error().Err(runErr).Msg("stopping after a listener failed")
	}

	timeout := cfg.ShutdownTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := server.Shutdown(drainCtx); err != nil {
		log.Warn().Err(err).Msg("closed SPOP connections that had not drained")
	}
	stopMeter()
	<-meterDone
	background.Wait()
	if err := meter.Shutdown(cfg.Clock()); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("final flush: %w", err))
	} else {
		log.Info().Msg("flushed; stopped")
	}
	if adminSrv != nil {
		_ = adminSrv.Shutdown(drainCtx)
	}
	return runErr
}

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
