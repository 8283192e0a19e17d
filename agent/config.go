package agent

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"headcount/agent/session"
	"headcount/entitlement"
	"headcount/report/export"
)

// DefaultMaxLiveSessions is --max-live-sessions's default: 1 GiB of session
// table when full (session.DefaultMaxLive).
const DefaultMaxLiveSessions = session.DefaultMaxLive

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
	// ExcludeIPFile and ExcludeKeyFile name exclusion files in the format
	// of HCL's User Session Reporting Tool, read at start and on Reload.
	ExcludeIPFile, ExcludeKeyFile string
	// TrustedProxies are the networks whose X-Forwarded-For is part of the
	// key; nil trusts every client.
	TrustedProxies []netip.Prefix
	// Reload asks for the exclusion files to be read again (SIGHUP).
	Reload     <-chan struct{}
	Production bool
	Version    string
	// ShutdownTimeout bounds how long in-flight frames get at shutdown.
	ShutdownTimeout time.Duration
	// MaxLiveSessions bounds the sessions in memory (session.Config.MaxLive;
	// 0: DefaultMaxLiveSessions). Beyond it a request with a new key is
	// counted at once as a one-request session (reason overflow).
	MaxLiveSessions int64
	// Clock is the metering clock: frame arrival, sweeps, flushes,
	// coverage. Default SystemClock(); tests step its wall clock.
	Clock Clock
	// License is the verified licence to check (--license); without it (and
	// without Entitlement) entitlement is not checked. A licence that does
	// not verify is a configuration error, which serve refuses at start.
	License *entitlement.License
	// Entitlement is the online entitlement check, nil without one.
	Entitlement *entitlement.Client
	// Recheck asks for an entitlement check now (SIGHUP: the operator
	// changed the configuration); ReloadLicense, when set, reads the licence
	// again first. When it returns no licence, its string says why (a
	// configuration error): the licence read before stays in force.
	Recheck       <-chan struct{}
	ReloadLicense func() (*entitlement.License, string)
	// UsageURL, when set, receives the completed sessions every
	// UsageInterval (usage.Transmission), as Deployment.
	UsageURL      string
	UsageInterval time.Duration
	// UsageTimeout bounds one transmission; default 10s.
	UsageTimeout time.Duration
	Deployment   string
	// Reports, when set, writes the scheduled report files; checked every
	// minute (and at start, for periods missed while the agent was down).
	Reports *export.Schedule

	// AdminWebConfig is the admin endpoint's web configuration file (TLS,
	// basic_auth_users; admin.Options.WebConfigFile); "" serves plain HTTP
	// with /backup and /snapshot to loopback clients only.
	AdminWebConfig string

	// Ticks and Hooks are test seams: Ticks drive the background jobs in
	// place of their timers, Hooks are told of each step the jobs take. Their
	// zero values, which serve uses, keep the production timers and call
	// nothing.
	Ticks Ticks
	Hooks Hooks
}

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
	case c.MaxSession < c.IdleTimeout:
		// In heartbeat mode the agent waits --heartbeat more before an idle
		// end, but HAProxy tells it of a session's first request past
		// --max-session whatever the interval, so only --idle-timeout is
		// compared.
		return fmt.Errorf("--max-session %s is shorter than --idle-timeout %s: every session would end at --max-session and none for being idle; set --max-session to at least %s",
			short(c.MaxSession), short(c.IdleTimeout), short(c.IdleTimeout))
	case c.FlushInterval < 100*time.Millisecond || c.FlushInterval >= ContactWindow:
		return fmt.Errorf("--flush-interval %s must be at least 100ms and less than %s (coverage is sampled at each flush)", c.FlushInterval, ContactWindow)
	}
	return nil
}

// short writes d as a flag would be given: 4h, 1h30m, 90s, not 4h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
