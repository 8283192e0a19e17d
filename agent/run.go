// Package agent is the running meter: it wires the SPOP server (agent/spop)
// to the handler that turns HAProxy's messages into session keys, the
// session table (agent/session), the coverage record and the meter that
// flushes both to the store, plus the admin endpoint (agent/admin) and the
// background jobs (licence checks, online usage, scheduled report files).
// Run only orders their start and stop.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/admin"
	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/store"
	"headcount/usage"
)

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
	mono, wall := cfg.Clock()
	table, err := session.New(session.Config{IdleTimeout: cfg.IdleTimeout + cfg.Heartbeat, MaxSession: cfg.MaxSession}, mono)
	if err != nil {
		return err
	}
	table.SetWall(mono, wall)
	coverage := &Coverage{}
	meter := NewMeter(MeterOptions{Table: table, Coverage: coverage, DB: db, FlushEvery: cfg.FlushInterval, Clock: cfg.Clock, Log: log})
	if _, err := meter.Recover(wall); err != nil {
		return err
	}
	handler := NewHandler(HandlerConfig{ExcludeIP: cfg.ExcludeIP, ExcludeUA: cfg.ExcludeUA, Production: cfg.Production, Heartbeat: cfg.Heartbeat > 0}, table, log)
	server := spop.NewServer(spop.Config{
		Allow:          cfg.Allow,
		MaxConnections: cfg.MaxConnections,
		Clock:          func() time.Time { mono, _ := cfg.Clock(); return mono },
		OnContact:      coverage.Contact,
	}, handler, log)

	// The background jobs: each runs until jobsCtx is done.
	var jobs []func(context.Context)
	var license *LicenseCheck
	if cfg.License != nil || cfg.LicenseProblem != "" || cfg.Entitlement != nil {
		license = NewLicenseCheck(cfg.License, cfg.LicenseProblem, cfg.Entitlement, cfg.Environment, db, log)
		if cfg.Entitlement == nil {
			license.Check(wall) // an online check runs in the background: it never holds up the start
		}
		jobs = append(jobs, func(ctx context.Context) {
			license.Run(ctx, LicenseRunOptions{Clock: cfg.Clock, Online: cfg.Entitlement != nil, Recheck: cfg.Recheck, Reload: cfg.ReloadLicense})
		})
	}
	var sender *usage.Sender
	if cfg.UsageURL != "" {
		sender = usage.NewSender(usage.SenderOptions{
			Transmitter: &usage.Transmitter{URL: cfg.UsageURL, Deployment: cfg.Deployment, Environment: cfg.Environment, Store: db,
				HTTP: &http.Client{Timeout: cmp.Or(cfg.UsageTimeout, 10*time.Second)}},
			Every: cfg.UsageInterval,
			Now:   func() time.Time { _, wall := cfg.Clock(); return wall },
			Log:   log,
		})
		jobs = append(jobs, sender.Run)
	}
	if cfg.Reports != nil {
		jobs = append(jobs, func(ctx context.Context) {
			cfg.Reports.Run(ctx, db, func() time.Time { _, wall := cfg.Clock(); return wall }, nil, log)
		})
	}

	spoe, err := net.Listen("tcp", cfg.SPOEAddr)
	if err != nil {
		return fmt.Errorf("listen for SPOP on %s: %w", cfg.SPOEAddr, err)
	}
	var adminSrv *http.Server
	var adminL net.Listener
	if cfg.AdminAddr != "" {
		adminL, err = net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			_ = spoe.Close()
			return fmt.Errorf("listen for the admin endpoint on %s: %w", cfg.AdminAddr, err)
		}
		sources := metricsSources{Clock: cfg.Clock, Server: server, Table: table, Meter: meter, Coverage: coverage, License: license,
			Usage: sender, Environment: cfg.Environment, Production: cfg.Production, Version: cfg.Version}
		adminSrv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: admin.Handler(admin.Options{
			DB: db, Metrics: newRegistry(sources), Ready: func() admin.Readiness { return readiness(sources) },
		})}
	}

	log.Info().
		Str("spoe_addr", spoe.Addr().String()).
		Str("admin_addr", addrString(adminL)).
		Str("db", db.Path()).
		Str("environment", cfg.Environment).
		Bool("production", cfg.Production).
		Stringer("idle_timeout", cfg.IdleTimeout).
		Stringer("max_session", cfg.MaxSession).
		Stringer("flush_interval", cfg.FlushInterval).
		Stringer("heartbeat", cfg.Heartbeat).
		Str("version", cfg.Version).
		Msg("headcount is metering")

	// Start: the meter, the background jobs, then the listeners.
	meterCtx, stopMeter := context.WithCancel(context.Background())
	meterDone := make(chan struct{})
	go func() {
		meter.Run(meterCtx)
		close(meterDone)
	}()
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	var running sync.WaitGroup // the jobs use the database: waited for before Run returns
	for _, job := range jobs {
		running.Go(func() { job(jobsCtx) })
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- server.Serve(spoe) }()
	if adminSrv != nil {
		go func() {
			if err := adminSrv.Serve(adminL); !errors.Is(err, http.ErrServerClosed) {
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

	// Stop, in the reverse order: SPOP (so no request starts a session
	// afterwards), the jobs and the meter, the final flush, the admin
	// endpoint last (it reads the database).
	drainCtx, cancel := context.WithTimeout(context.Background(), cmp.Or(cfg.ShutdownTimeout, 10*time.Second))
	defer cancel()
	if err := server.Shutdown(drainCtx); err != nil {
		log.Warn().Err(err).Msg("closed SPOP connections that had not drained")
	}
	stopJobs()
	running.Wait()
	stopMeter()
	<-meterDone
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
