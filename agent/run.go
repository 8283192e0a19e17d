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
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/admin"
	"headcount/store"
)

// Run meters sessions until ctx is done, then shuts down in order: stop
// accepting, let in-flight frames finish, close the connections, end the live
// sessions and flush. db must be open read-write; Run does not close it.
func Run(ctx context.Context, cfg Config, db *store.DB, log zerolog.Logger) error {
	p, err := build(cfg, db, log)
	if err != nil {
		return err
	}
	cfg = p.cfg
	spoe, adminL, err := p.listen()
	if err != nil {
		return err
	}
	p.logStart(spoe, adminL)

	// Start: the meter, the background jobs, then the listeners.
	meterCtx, stopMeter := context.WithCancel(context.Background())
	meterDone := make(chan struct{})
	go func() {
		p.meter.Run(meterCtx)
		close(meterDone)
	}()
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	var running sync.WaitGroup // the jobs use the database: waited for before Run returns
	for _, job := range p.jobs {
		running.Go(func() { job(jobsCtx) })
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- p.server.Serve(spoe) }()
	var adminSrv *admin.Endpoint
	if adminL != nil {
		adminSrv = p.admin
		go func() {
			if err := adminSrv.Serve(adminL); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("admin endpoint: %w", err)
			}
		}()
	}
	p.listening(spoe, adminL)

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
	if err := p.server.Shutdown(drainCtx); err != nil {
		log.Warn().Err(err).Msg("closed SPOP connections that had not drained")
	}
	stopJobs()
	running.Wait()
	stopMeter()
	<-meterDone
	if err := p.meter.Shutdown(cfg.Clock()); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("final flush: %w", err))
	} else {
		log.Info().Msg("flushed; stopped")
	}
	if adminSrv != nil {
		// A /backup or /snapshot still streaming holds a read transaction,
		// and the database cannot close under it: give it a moment, then cut.
		adminCtx, cancelAdmin := context.WithTimeout(context.Background(), 2*time.Second)
		if adminSrv.Shutdown(adminCtx) != nil {
			_ = adminSrv.Close()
		}
		cancelAdmin()
	}
	return runErr
}
