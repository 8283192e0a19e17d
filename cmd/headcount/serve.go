package main

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"headcount/agent"
	"headcount/agent/admin"
	"headcount/agent/session"
	"headcount/entitlement"
	"headcount/report/export"
	"headcount/store"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "spoe-addr", Value: "127.0.0.1:12345", EnvVars: env("SPOE_ADDR"), Usage: "listen for HAProxy's SPOP connections on `ADDR`"},
		&cli.StringFlag{Name: "admin-addr", Value: "127.0.0.1:9345", EnvVars: env("ADMIN_ADDR"), Usage: "serve /metrics, /healthz and /readyz on `ADDR` (loopback by default; empty disables), and /backup and /snapshot to loopback clients and --web-config-file's users"},
		&cli.StringFlag{Name: "web-config-file", EnvVars: env("WEB_CONFIG_FILE"), Usage: "the admin endpoint's TLS and basic-auth users, in the Prometheus exporters' web configuration `FILE` format (see README: Admin endpoint)"},
		&cli.StringFlag{Name: "db", Value: "./headcount.db", EnvVars: env("DB"), Usage: "database `FILE`, created with mode 0600 if missing"},
		&cli.StringFlag{Name: "environment", EnvVars: env("ENVIRONMENT"), Usage: "environment `ID` named in reports, stored on the first successful start (default RELEASE-NAMESPACE from HEADCOUNT_RELEASE and HEADCOUNT_NAMESPACE or POD_NAMESPACE, else the host name); a later different ID is logged as a warning and not used (see headcount environment rename)"},
		&cli.DurationFlag{Name: "idle-timeout", Value: session.DefaultIdleTimeout, EnvVars: env("IDLE_TIMEOUT"), Usage: "a session ends after this long without a request"},
		&cli.DurationFlag{Name: "max-session", Value: session.DefaultMaxSession, EnvVars: env("MAX_SESSION"), Usage: "a session ends this long after it started; the next request starts a new one"},
		&cli.IntFlag{Name: "max-live-sessions", Value: agent.DefaultMaxLiveSessions, EnvVars: env("MAX_LIVE_SESSIONS"), Usage: "keep at most `N` sessions in memory, those ended within the last minute included (the default takes 1 GiB when full, about 27 bytes a session). Beyond it a request with a new key is counted at once as a completed one-request session (reason overflow) and not kept; headcount_sessions_completed_total{reason=\"overflow\"} and a warning (at most one a minute) say how many"},
		&cli.DurationFlag{Name: "flush-interval", Value: 5 * time.Second, EnvVars: env("FLUSH_INTERVAL"), Usage: "write counts and coverage to the database this often. A crash (power loss, kill -9) loses the sessions started in the last interval; those started earlier are counted at the next start. While the database cannot be written, each flush goes to FILE.pending next to it instead, applied at the next start; if that fails too (a full file system fails both), a crash loses everything since the last write that succeeded (logged, and counted in headcount_store_pending_file_errors_total)"},
		&cli.DurationFlag{Name: "heartbeat", EnvVars: env("HEARTBEAT"), Usage: "0 with HAProxy's per-request configuration; with the heartbeat configuration (haproxy/haproxy-heartbeat.cfg), its interval (60s there): a session then ends after --idle-timeout plus this without a report"},
		&cli.StringSliceFlag{Name: "allow", EnvVars: env("ALLOW"), Usage: "accept SPOP connections only from this `CIDR` (repeatable; default loopback)"},
		&cli.IntFlag{Name: "max-connections", Value: 512, EnvVars: env("MAX_CONNECTIONS"), Usage: "refuse SPOP connections beyond this many open ones (HAProxy uses a few per process)"},
		&cli.StringSliceFlag{Name: "exclude-ip", EnvVars: env("EXCLUDE_IP"), Usage: "do not meter requests from client network `CIDR` (repeatable)"},
		&cli.StringSliceFlag{Name: "exclude-ua", EnvVars: env("EXCLUDE_UA"), Usage: "do not meter requests whose User-Agent matches `REGEX`, e.g. health probes (repeatable)"},
		&cli.StringFlag{Name: "exclude-ip-file", EnvVars: env("EXCLUDE_IP_FILE"), Usage: "do not meter requests from the addresses and networks in `FILE`, one a line (as HCL's User Session Reporting Tool takes them); read again on SIGHUP"},
		&cli.StringFlag{Name: "exclude-key-file", EnvVars: env("EXCLUDE_KEY_FILE"), Usage: "do not meter the session keys in `FILE`, one a line: IP \"User-Agent\" \"X-Forwarded-For\" (as HCL's User Session Reporting Tool writes them); read again on SIGHUP"},
		&cli.StringSliceFlag{Name: "trusted-proxies", EnvVars: env("TRUSTED_PROXIES"), Usage: "believe X-Forwarded-For only from requests whose source is in `CIDR` (repeatable): from anywhere else the key is IP + User-Agent + \"-\", so a client cannot start sessions by varying the header. Default: every client is trusted (seed 004's key); set it to the networks of the proxies in front of HAProxy"},
		&cli.BoolFlag{Name: "production", Value: true, EnvVars: env("PRODUCTION"), Usage: "count sessions; with --production=false the agent answers HAProxy and records coverage but counts nothing"},
		&cli.StringFlag{Name: "license", EnvVars: env("LICENSE"), Usage: "check this signed licence `FILE` at start and daily (log, metrics, /readyz); its outcome never stops metering, but a licence that does not verify stops the start (status 2)"},
		&cli.StringFlag{Name: "license-pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` that signed --license (default: the key built into this binary; required with --license when there is none)"},
		&cli.StringFlag{Name: "entitlement-url", EnvVars: env("ENTITLEMENT_URL"), Usage: "check the entitlement online at `URL` at start and daily (see README: Entitlement); never holds up start-up or traffic"},
		&cli.StringFlag{Name: "entitlement-ca", EnvVars: env("ENTITLEMENT_CA"), Usage: "trust only the certificate authorities in this PEM `FILE` for --entitlement-url"},
		&cli.StringFlag{Name: "usage-url", EnvVars: env("USAGE_URL"), Usage: "send the completed sessions to this `URL` every --usage-interval (see README: Usage reporting)"},
		&cli.DurationFlag{Name: "usage-interval", Value: time.Hour, EnvVars: env("USAGE_INTERVAL"), Usage: "how often --usage-url receives a report; a failed one is resent with backoff"},
		&cli.StringFlag{Name: "deployment", EnvVars: env("DEPLOYMENT"), Usage: "deployment `ID` in usage reports (default: the licence's, else the environment)"},
		&cli.StringFlag{Name: "report-dir", EnvVars: env("REPORT_DIR"), Usage: "write scheduled reports under `DIR`/Reports/NAME/YYYY/MM/DD/ID.csv (see README)"},
		&cli.DurationFlag{Name: "report-every", Value: 24 * time.Hour, EnvVars: env("REPORT_EVERY"), Usage: "the scheduled reports' period: 24h, 168h (weeks from Sunday) or 720h (30 days)"},
		&cli.StringFlag{Name: "report-name", Value: "headcount", EnvVars: env("REPORT_NAME"), Usage: "the scheduled reports' `NAME`"},
		&cli.StringFlag{Name: "report-sign-key", EnvVars: env("REPORT_SIGN_KEY"), Usage: "sign each scheduled report with the site's private key `FILE` (headcount keygen), as the metrics file is signed; headcount verify checks it"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("LOG_LEVEL"), Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", Value: "json", EnvVars: env("LOG_FORMAT"), Usage: "json or console"},
	}
}

func serveCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:  "serve",
		Usage: "run the SPOE agent that meters sessions",
		Description: "Listens for HAProxy's SPOE connections (see haproxy/ for the configuration to use) and counts\n" +
			"completed sessions per UTC day into --db. Stop it with SIGTERM or SIGINT: it finishes the frames in\n" +
			"flight, counts the live sessions as completed (reason shutdown) and flushes before exiting.\n" +
			"A start that fails (bad input, an address in use, an unreadable file, a database in use) leaves no\n" +
			"database file it did not find. Every flag can also be set with the environment variable HEADCOUNT_<FLAG> or in the --config file.",
		Flags:        serveFlags(),
		OnUsageError: onUsage,
		Action:       serve,
	})
}

func serve(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", c.Args().First())
	}
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		SPOEAddr:       c.String("spoe-addr"),
		AdminAddr:      c.String("admin-addr"),
		IdleTimeout:    c.Duration("idle-timeout"),
		MaxSession:     c.Duration("max-session"),
		FlushInterval:  c.Duration("flush-interval"),
		Heartbeat:      c.Duration("heartbeat"),
		MaxConnections: c.Int("max-connections"),
		Production:     c.Bool("production"),
		Version:        version,
	}
	if cfg.Allow, err = parsePrefixes("--allow", c.StringSlice("allow")); err != nil {
		return err
	}
	if cfg.ExcludeIP, err = parsePrefixes("--exclude-ip", c.StringSlice("exclude-ip")); err != nil {
		return err
	}
	if c.IsSet("trusted-proxies") {
		if cfg.TrustedProxies, err = parsePrefixes("--trusted-proxies", c.StringSlice("trusted-proxies")); err != nil {
			return err
		}
		if cfg.TrustedProxies == nil {
			cfg.TrustedProxies = []netip.Prefix{}
		}
	}
	cfg.ExcludeIPFile, cfg.ExcludeKeyFile = c.String("exclude-ip-file"), c.String("exclude-key-file")
	if err := agent.CheckExclusionFiles(cfg.ExcludeIPFile, cfg.ExcludeKeyFile); err != nil {
		return usageError{err}
	}
	for _, s := range c.StringSlice("exclude-ua") {
		re, err := regexp.Compile(s)
		if err != nil {
			return usagef("--exclude-ua %q: %v", s, err)
		}
		cfg.ExcludeUA = append(cfg.ExcludeUA, re)
	}
	if cfg.MaxConnections < 1 {
		return usagef("--max-connections %d: want at least 1", cfg.MaxConnections)
	}
	if cfg.MaxLiveSessions = int64(c.Int("max-live-sessions")); cfg.MaxLiveSessions < 1 {
		return usagef("--max-live-sessions %d: want at least 1", cfg.MaxLiveSessions)
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if err := dirMustExist("--db", c.String("db")); err != nil {
		return err
	}
	if err := checkListenAddr("--spoe-addr", cfg.SPOEAddr); err != nil {
		return err
	}
	if cfg.AdminAddr != "" {
		if err := checkListenAddr("--admin-addr", cfg.AdminAddr); err != nil {
			return err
		}
	}
	if path := c.String("web-config-file"); path != "" {
		if cfg.AdminAddr == "" {
			return usagef("--web-config-file %s configures the admin endpoint, which --admin-addr \"\" disables: give an --admin-addr", path)
		}
		if err := admin.CheckWebConfig(path); err != nil {
			// One line: YAML errors span several.
			return usagef("--web-config-file %s: %s (see README: Admin endpoint)", path, strings.Join(strings.Fields(err.Error()), " "))
		}
		cfg.AdminWebConfig = path
	}

	if path := c.String("license"); path != "" {
		// A licence that cannot be used is a configuration error: serve
		// refuses to start rather than report a contract it did not read.
		l, err := serveLicense(path, c.String("license-pubkey"))
		if err != nil {
			return err
		}
		cfg.License = &l
	}

	if u := c.String("entitlement-url"); u != "" {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return usagef("--entitlement-url %q: want an http:// or https:// URL", u)
		}
		var ca []byte
		if path := c.String("entitlement-ca"); path != "" {
			if ca, err = os.ReadFile(path); err != nil {
				return usageError{err}
			}
		}
		if cfg.Entitlement, err = entitlement.NewClient(u, ca); err != nil {
			return usagef("--entitlement-ca %s: %v", c.String("entitlement-ca"), err)
		}
	}

	if u := c.String("usage-url"); u != "" {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return usagef("--usage-url %q: want an http:// or https:// URL", u)
		}
		if c.Duration("usage-interval") < time.Second {
			return usagef("--usage-interval %s: want at least 1s", c.Duration("usage-interval"))
		}
		cfg.UsageURL, cfg.UsageInterval = u, c.Duration("usage-interval")
	}

	if dir := c.String("report-dir"); dir != "" {
		every := c.Duration("report-every")
		if every != 24*time.Hour && every != 7*24*time.Hour && every != 30*24*time.Hour {
			return usagef("--report-every %s: want 24h, 168h or 720h", every)
		}
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return usagef("--report-dir %s: not a directory", dir)
		}
		name := c.String("report-name")
		if name == "" || strings.ContainsAny(name, "/\\") {
			return usagef("--report-name %q: want a name without slashes", name)
		}
		cfg.Reports = &export.Schedule{Dir: dir, Name: name, Every: every, Settle: cfg.IdleTimeout + cfg.Heartbeat + time.Minute, Since: 400 * 24 * time.Hour}
		if path := c.String("report-sign-key"); path != "" {
			if cfg.Reports.SignKey, err = readSignKey("--report-sign-key", path); err != nil {
				return err
			}
		}
	} else if c.String("report-sign-key") != "" {
		return usagef("--report-sign-key signs the scheduled reports: add --report-dir DIR, or leave it out")
	}

	// SIGHUP: read the licence and the exclusion files again, and check the
	// entitlement now.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	recheck, reload := make(chan struct{}, 1), make(chan struct{}, 1)
	go func() {
		for range hup {
			for _, ch := range []chan struct{}{recheck, reload} {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	cfg.Recheck, cfg.Reload = recheck, reload
	if path := c.String("license"); path != "" {
		cfg.ReloadLicense = func() (*entitlement.License, string) {
			l, err := serveLicense(path, c.String("license-pubkey"))
			if err != nil {
				return nil, err.Error() // the agent keeps the licence it read before and says so
			}
			return &l, ""
		}
	}

	// Start-up creates nothing when it fails: every check above comes first,
	// then the listeners, then the database (whose lock keeps a second agent
	// off the file); a database this start created is removed again if the
	// agent cannot start on it.
	listeners, err := agent.Listen(cfg)
	if err != nil {
		return err
	}
	db, err := store.Open(c.String("db"), store.Options{})
	if err != nil {
		listeners.Close()
		return err
	}
	if m, ok := db.Migrated(); ok {
		log.Info().Uint64("from", m.From).Uint64("to", m.To).Int("days", m.Days).Int("windows", m.Windows).Str("backup", m.Backup).
			Msg("migrated the database to this build's schema; the file as it was is the backup (keep it until the upgrade is settled)")
	}
	a, err := prepare(c, cfg, db, listeners, log)
	if err != nil {
		if derr := db.Discard(); derr != nil {
			return fmt.Errorf("%w (and the database this start created could not be removed: %v)", err, derr)
		}
		return err
	}
	defer db.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return a.Run(ctx)
}

// prepare makes the agent on db, as the environment runEnvironment picks,
// and then stores that environment in a database that has none. On an error
// it has released the listeners.
func prepare(c *cli.Context, cfg agent.Config, db *store.DB, l agent.Listeners, log zerolog.Logger) (*agent.Agent, error) {
	var held bool
	var err error
	if cfg.Environment, held, err = runEnvironment(db, c.String("environment"), log); err != nil {
		l.Close()
		return nil, err
	}
	cfg.Deployment = c.String("deployment")
	if cfg.Deployment == "" && cfg.License != nil {
		cfg.Deployment = cfg.License.Deployment
	}
	if cfg.Deployment == "" {
		cfg.Deployment = cfg.Environment
	}
	a, err := agent.New(cfg, db, l, log)
	if err != nil {
		return nil, err
	}
	if held {
		return a, nil
	}
	if _, err := db.SetEnvironment(cfg.Environment); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}
