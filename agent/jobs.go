package agent

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/admin"
	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/entitlement"
	"headcount/internal/botclass"
	"headcount/report/export"
	"headcount/store"
	"headcount/usage"
)

// Ticks replaces the background jobs' timers, for tests; each nil field
// keeps the production timer.
type Ticks struct {
	// Sweep and Flush drive the meter (MeterOptions.SweepTick, FlushTick).
	Sweep, Flush <-chan time.Time
	// License triggers the daily licence check (LicenseCheckOptions.Tick).
	License <-chan time.Time
	// UsageAfter is the usage sender's timer (usage.SenderOptions.After).
	UsageAfter func(time.Duration) <-chan time.Time
	// Reports triggers the look for due report files
	// (export.SchedulerOptions.Tick).
	Reports <-chan time.Time
}

// Hooks are called, when set, after the step each names, from the
// goroutine that took it; a hook that blocks holds that job up.
type Hooks struct {
	// Listening is called once both listeners accept connections, with
	// their addresses (admin nil without an admin endpoint).
	Listening func(spoe, admin net.Addr)
	// Swept and Flushed follow each sweep and flush of the meter's loop
	// (MeterOptions.OnSweep, OnFlush); not the final flush at shutdown.
	Swept   func()
	Flushed func(error)
	// LicenseChecked follows each licence check of the background job
	// (LicenseCheckOptions.OnCheck); not the offline check at start.
	LicenseChecked func(entitlement.Status)
	// UsageAttempted follows each usage transmission attempt
	// (usage.SenderOptions.OnAttempt).
	UsageAttempted func(usage.Transmission, error)
	// ReportsWritten follows each look for due report files
	// (export.SchedulerOptions.OnRun).
	ReportsWritten func(written []string, err error)
}

// parts is what Run starts and stops, as build makes it.
type parts struct {
	cfg    Config
	db     *store.DB
	log    zerolog.Logger
	meter  *Meter
	server *spop.Server
	// jobs are the background jobs: each runs until its context is done.
	jobs []func(context.Context)
	// admin is the admin endpoint; nil without one.
	admin *admin.Endpoint
}

// build validates cfg and makes the agent's parts: the session table and
// coverage record, the meter (having counted the sessions a previous run's
// crash left live), the SPOP server, the background jobs and the admin
// endpoint's handler. An offline licence is checked here, before the start;
// an online one by its job. It writes to db only once nothing else can fail.
func build(cfg Config, db *store.DB, log zerolog.Logger) (*parts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock()
	}
	wallClock := func() time.Time { _, wall := cfg.Clock(); return wall }
	mono, wall := cfg.Clock()
	cfg.MaxLiveSessions = cmp.Or(cfg.MaxLiveSessions, DefaultMaxLiveSessions)
	table, err := session.New(session.Config{IdleTimeout: cfg.IdleTimeout + cfg.Heartbeat, MaxSession: cfg.MaxSession, MaxLive: cfg.MaxLiveSessions}, mono)
	if err != nil {
		return nil, err
	}
	table.SetWall(mono, wall)
	coverage := &Coverage{}
	// After each sweep (every second), warn of overflow sessions, at most
	// once a minute.
	overflow := &overflowWarning{table: table, log: log}
	swept := func() {
		mono, _ := cfg.Clock()
		overflow.check(mono)
		if cfg.Hooks.Swept != nil {
			cfg.Hooks.Swept()
		}
	}
	meter := NewMeter(MeterOptions{Table: table, Coverage: coverage, DB: db, FlushEvery: cfg.FlushInterval, Clock: cfg.Clock,
		SweepTick: cfg.Ticks.Sweep, FlushTick: cfg.Ticks.Flush, OnSweep: swept, OnFlush: cfg.Hooks.Flushed, Log: log})
	bots := botclass.New(botclass.Config{})
	handler := NewHandler(HandlerConfig{ExcludeIP: cfg.ExcludeIP, ExcludeUA: cfg.ExcludeUA, Production: cfg.Production, Heartbeat: cfg.Heartbeat > 0, MaxSession: cfg.MaxSession,
		TrustedProxies: cfg.TrustedProxies, ExcludeIPFile: cfg.ExcludeIPFile, ExcludeKeyFile: cfg.ExcludeKeyFile, Bots: bots}, table, log)
	if cfg.ExcludeIPFile != "" || cfg.ExcludeKeyFile != "" {
		networks, keys, err := handler.LoadExclusions()
		if err != nil {
			return nil, err
		}
		log.Info().Int("networks", networks).Int("session_keys", keys).Msg("read the exclusion files")
	}
	server := spop.NewServer(spop.Config{
		Allow:          cfg.Allow,
		MaxConnections: cfg.MaxConnections,
		Clock:          func() time.Time { mono, _ := cfg.Clock(); return mono },
		OnContact:      coverage.Contact,
	}, handler, log)
	p := &parts{cfg: cfg, db: db, log: log, meter: meter, server: server}
	if cfg.ExcludeIPFile != "" || cfg.ExcludeKeyFile != "" {
		p.jobs = append(p.jobs, func(ctx context.Context) { reloadExclusions(ctx, handler, cfg.Reload, log) })
	}

	var license *LicenseCheck
	if cfg.License != nil || cfg.Entitlement != nil {
		license = NewLicenseCheck(LicenseCheckOptions{License: cfg.License, Online: cfg.Entitlement,
			Environment: cfg.Environment, DB: db, Clock: cfg.Clock, Tick: cfg.Ticks.License, Recheck: cfg.Recheck, Reload: cfg.ReloadLicense,
			OnCheck: cfg.Hooks.LicenseChecked, Log: log})
		p.jobs = append(p.jobs, license.Run)
	}
	var sender *usage.Sender
	if cfg.UsageURL != "" {
		sender = usage.NewSender(usage.SenderOptions{
			Transmitter: &usage.Transmitter{URL: cfg.UsageURL, Deployment: cfg.Deployment, Environment: cfg.Environment, Store: db,
				HTTP: &http.Client{Timeout: cmp.Or(cfg.UsageTimeout, 10*time.Second)}},
			Every:     cfg.UsageInterval,
			Now:       wallClock,
			After:     cfg.Ticks.UsageAfter,
			OnAttempt: cfg.Hooks.UsageAttempted,
			Log:       log,
		})
		p.jobs = append(p.jobs, sender.Run)
	}
	if cfg.Reports != nil {
		reports := export.NewScheduler(export.SchedulerOptions{Schedule: *cfg.Reports, DB: db, Now: wallClock,
			Tick: cfg.Ticks.Reports, OnRun: cfg.Hooks.ReportsWritten, Log: log})
		p.jobs = append(p.jobs, reports.Run)
	}

	if cfg.AdminAddr != "" {
		sources := metricsSources{Clock: cfg.Clock, Server: server, Table: table, Meter: meter, Handler: handler, Bots: bots, Coverage: coverage, License: license,
			Usage: sender, AdminRefusals: &admin.Refusals{}, Environment: cfg.Environment, Production: cfg.Production, Version: cfg.Version}
		p.admin, err = admin.New(admin.Options{
			DB: db, Metrics: newRegistry(sources), Ready: func() admin.Readiness { return readiness(sources) },
			WebConfigFile: cfg.AdminWebConfig, Refusals: sources.AdminRefusals, Log: log,
		})
		if err != nil {
			return nil, fmt.Errorf("--web-config-file %s: %w", cfg.AdminWebConfig, err)
		}
	}

	// The writes come last, after every step that can fail without writing,
	// so that a build that fails has changed nothing.
	if _, err := meter.Recover(wall); err != nil {
		return nil, err
	}
	if license != nil && cfg.Entitlement == nil {
		license.Check(context.Background(), wall) // an online check runs in the background: it never holds up the start
	}
	return p, nil
}

// Listeners are the agent's bound sockets: SPOP's and, with an admin endpoint, the admin endpoint's.
type Listeners struct {
	SPOE  net.Listener
	Admin net.Listener // nil without an admin endpoint
}

// Listen binds the SPOP address of cfg and, unless cfg.AdminAddr is empty, the admin endpoint's. serve
// binds them before it opens the database, so that an address in use fails the start before any file
// is made. On an error it leaves nothing open.
func Listen(cfg Config) (Listeners, error) {
	spoe, err := net.Listen("tcp", cfg.SPOEAddr)
	if err != nil {
		return Listeners{}, fmt.Errorf("listen for SPOP on %s: %w", cfg.SPOEAddr, err)
	}
	l := Listeners{SPOE: spoe}
	if cfg.AdminAddr != "" {
		if l.Admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			_ = spoe.Close()
			return Listeners{}, fmt.Errorf("listen for the admin endpoint on %s: %w", cfg.AdminAddr, err)
		}
	}
	return l, nil
}

// Close closes the listeners.
func (l Listeners) Close() {
	if l.SPOE != nil {
		_ = l.SPOE.Close()
	}
	if l.Admin != nil {
		_ = l.Admin.Close()
	}
}

// logStart logs what the agent meters with.
func (p *parts) logStart(spoe, adminL net.Listener) {
	cfg := p.cfg
	p.log.Info().
		Str("spoe_addr", spoe.Addr().String()).
		Str("admin_addr", addrString(adminL)).
		Str("db", p.db.Path()).
		Str("environment", cfg.Environment).
		Bool("production", cfg.Production).
		Stringer("idle_timeout", cfg.IdleTimeout).
		Stringer("max_session", cfg.MaxSession).
		Int64("max_live_sessions", cfg.MaxLiveSessions).
		Stringer("flush_interval", cfg.FlushInterval).
		Stringer("heartbeat", cfg.Heartbeat).
		Str("version", cfg.Version).
		Msg("headcount is metering")
	if cfg.TrustedProxies == nil {
		p.log.Warn().Msg("X-Forwarded-For is trusted from every client (no --trusted-proxies): a client can start sessions at will by varying it; set --trusted-proxies to the networks of the proxies in front of HAProxy")
	} else {
		nets := make([]string, len(cfg.TrustedProxies))
		for i, n := range cfg.TrustedProxies {
			nets[i] = n.String()
		}
		p.log.Info().Strs("trusted_proxies", nets).Msg("X-Forwarded-For is part of the key only for requests from these networks")
	}
}

// listening tells the Listening hook, if any, the listeners' addresses.
func (p *parts) listening(spoe, adminL net.Listener) {
	if p.cfg.Hooks.Listening == nil {
		return
	}
	var adminAddr net.Addr
	if adminL != nil {
		adminAddr = adminL.Addr()
	}
	p.cfg.Hooks.Listening(spoe.Addr(), adminAddr)
}

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// reloadExclusions reads the exclusion files again each time reload
// delivers (SIGHUP), until ctx is done. A file that cannot be read or parsed
// leaves the lists in force as they were, and says so.
func reloadExclusions(ctx context.Context, h *Handler, reload <-chan struct{}, log zerolog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			networks, keys, err := h.LoadExclusions()
			if err != nil {
				log.Error().Err(err).Msg("kept the exclusion lists in force: the exclusion files could not be read again")
				continue
			}
			log.Info().Int("networks", networks).Int("session_keys", keys).Msg("read the exclusion files again")
		}
	}
}

// CheckExclusionFiles reads the exclusion files as the agent will, and
// returns the first error it finds (file and line number): serve calls it
// to refuse bad input before anything starts.
func CheckExclusionFiles(ipFile, keyFile string) error { return keying.CheckFiles(ipFile, keyFile) }
