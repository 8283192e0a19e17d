package admin

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Reason is why the admin endpoint refused a request or a connection.
type Reason int

const (
	// Unauthenticated: /backup or /snapshot from a client that is not on
	// loopback and gave no credentials.
	Unauthenticated Reason = iota
	// BadCredentials: a user name or password that basic_auth_users does
	// not hold (or no users configured at all).
	BadCredentials
	// Busy: as many requests in flight as the endpoint takes.
	Busy
	// RateLimited: over the web configuration's rate_limit.
	RateLimited
	// TLSHandshake: a connection whose TLS handshake failed.
	TLSHandshake
	// WebConfig: the web configuration file could not be read again to
	// check credentials.
	WebConfig
	numReasons
)

// Reasons lists every Reason, for the metric's labels.
var Reasons = []Reason{Unauthenticated, BadCredentials, Busy, RateLimited, TLSHandshake, WebConfig}

var reasonNames = [numReasons]string{"unauthenticated", "bad_credentials", "busy", "rate_limited", "tls_handshake", "web_config"}

// reasonLines are the log messages, one per reason.
var reasonLines = [numReasons]string{
	"admin endpoint refused /backup or /snapshot to clients not on loopback that gave no credentials (users: basic_auth_users in --web-config-file)",
	"admin endpoint refused /backup or /snapshot for a wrong user name or password",
	"admin endpoint refused requests: too many in flight",
	"admin endpoint refused requests over the rate_limit of --web-config-file",
	"admin endpoint refused connections whose TLS handshake failed",
	"admin endpoint refused /backup or /snapshot: --web-config-file cannot be read again to check credentials",
}

func (r Reason) String() string { return reasonNames[r] }

// Refusals counts the admin endpoint's refusals by reason. Its zero value is
// ready; it is safe for concurrent use.
type Refusals struct {
	n [numReasons]atomic.Uint64
}

// Count returns the refusals for reason r since the start.
func (f *Refusals) Count(r Reason) uint64 { return f.n[r].Load() }

// LogEvery is how often at most the endpoint logs a line per reason of
// refusal; each line gives the refusals since that reason's previous one.
const LogEvery = time.Minute

// refusalLog logs refusals at most once per LogEvery per reason, with the
// count since the reason's previous line. Nothing about the client is logged.
type refusalLog struct {
	log zerolog.Logger
	now func() time.Time

	mu      sync.Mutex
	last    [numReasons]time.Time // of each reason's last line; zero before the first
	pending [numReasons]uint64    // refusals not yet in a line
}

func (l *refusalLog) refused(r Reason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending[r]++
	now := l.now()
	if !l.last[r].IsZero() && now.Sub(l.last[r]) < LogEvery {
		return
	}
	l.line(r)
	l.last[r] = now
}

// flush logs the refusals not yet in a line, at shutdown.
func (l *refusalLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range Reasons {
		if l.pending[r] > 0 {
			l.line(r)
		}
	}
}

func (l *refusalLog) line(r Reason) {
	l.log.Warn().Str("reason", r.String()).Uint64("refused", l.pending[r]).Msg(reasonLines[r])
	l.pending[r] = 0
}
