package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Limits bound what one client can take of the endpoint. Zero fields take
// the defaults.
type Limits struct {
	// MaxRequests bounds the requests in flight on every route; one more
	// is answered 503 at once. Default 16.
	MaxRequests int
	// MaxDataRequests bounds /backup and /snapshot in flight (each holds a
	// read transaction), within MaxRequests, counted before the password is
	// checked so that wrong passwords cannot take every slot. Default 4.
	MaxDataRequests int
	// ReadHeaderTimeout and ReadTimeout bound reading a request (the routes
	// take no body). Defaults 5s and 10s.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; /backup and /snapshot instead
	// give each write of their body that long, so a large database streams
	// as long as the client keeps reading. Default 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle that long. Default 60s.
	IdleTimeout time.Duration
	// BackupRate is the least average rate, after its first minute, at
	// which /backup must be read, so that a slow client cannot hold the
	// database's read transaction for ever. Default 256 KiB/s.
	BackupRate int64
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxRequests <= 0 {
		l.MaxRequests = 16
	}
	if l.MaxDataRequests <= 0 {
		l.MaxDataRequests = 4
	}
	l.MaxDataRequests = min(l.MaxDataRequests, l.MaxRequests)
	def(&l.ReadHeaderTimeout, 5*time.Second)
	def(&l.ReadTimeout, 10*time.Second)
	def(&l.WriteTimeout, 30*time.Second)
	def(&l.IdleTimeout, 60*time.Second)
	if l.BackupRate <= 0 {
		l.BackupRate = 256 << 10
	}
	return l
}

// Endpoint is the admin endpoint's HTTP server: /metrics, /healthz and
// /readyz for everyone who reaches it; /backup and /snapshot for loopback
// clients and for the users of the web configuration file. With TLS
// configured there, it serves HTTPS only.
type Endpoint struct {
	srv      *http.Server
	web      *webConfig // nil without a web configuration file
	refusals *Refusals
	log      *refusalLog
	guard    *guard
}

// New makes the endpoint for o, reading o.WebConfigFile if set.
func New(o Options) (*Endpoint, error) {
	e := &Endpoint{refusals: o.Refusals}
	if e.refusals == nil {
		e.refusals = &Refusals{}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	e.log = &refusalLog{log: o.Log, now: now}
	if o.WebConfigFile != "" {
		c, err := loadWebConfig(o.WebConfigFile)
		if err != nil {
			return nil, err
		}
		e.web = c
	}
	lim := o.Limits.withDefaults()
	g := &guard{e: e, lim: lim, all: make(chan struct{}, lim.MaxRequests), data: make(chan struct{}, lim.MaxDataRequests)}
	if e.web != nil && e.web.RateLimiterConfig.Interval > 0 {
		g.limiter = rate.NewLimiter(rate.Every(e.web.RateLimiterConfig.Interval), e.web.RateLimiterConfig.Burst)
	}
	e.guard = g
	e.srv = &http.Server{
		Handler:           g.bound(routes(o, g)),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(&serverLog{e: e, log: o.Log}, "", 0),
	}
	return e, nil
}

// Serve serves on l until Shutdown or Close, over TLS when the web
// configuration file has a tls_server_config. Certificates and keys are read
// again at each handshake, so a renewed certificate needs no restart.
// It returns http.ErrServerClosed after Shutdown or Close.
func (e *Endpoint) Serve(l net.Listener) error {
	if e.web == nil {
		return e.srv.Serve(l)
	}
	cfg, err := e.web.tls()
	if err != nil {
		return err
	}
	if cfg == nil {
		return e.srv.Serve(l)
	}
	protos := []string{"h2", "http/1.1"}
	if !e.web.HTTPConfig.HTTP2 {
		protos = protos[1:]
		e.srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	cfg.NextProtos = protos
	path := e.web.path
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := loadWebConfig(path)
		if err != nil {
			return nil, err
		}
		fresh, err := c.tls()
		if err != nil {
			return nil, err
		}
		if fresh == nil {
			return nil, errors.New("the web configuration file no longer configures TLS; restart the agent to serve plain HTTP")
		}
		fresh.NextProtos = protos
		return fresh, nil
	}
	e.srv.TLSConfig = cfg
	return e.srv.ServeTLS(l, "", "")
}

// TLS reports whether the endpoint serves HTTPS.
func (e *Endpoint) TLS() bool { return e.web != nil && e.web.TLSConfig.IsEnabled() }

// Users reports whether the web configuration file has basic_auth_users.
func (e *Endpoint) Users() bool { return e.web != nil && len(e.web.Users) > 0 }

// Shutdown stops the endpoint as http.Server.Shutdown does, and logs the
// refusals not yet logged.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	defer e.log.flush()
	return e.srv.Shutdown(ctx)
}

// Close closes the endpoint's listener and connections at once.
func (e *Endpoint) Close() error { return e.srv.Close() }

// Refusals returns the endpoint's refusal counts.
func (e *Endpoint) Refusals() *Refusals { return e.refusals }

func (e *Endpoint) refuse(r Reason) {
	e.refusals.n[r].Add(1)
	e.log.refused(r)
}

// serverLog takes the http.Server's own error lines: a failed TLS
// handshake is a refusal; any other line is logged with the client's
// address left out.
type serverLog struct {
	e   *Endpoint
	log zerolog.Logger
}

var addrPattern = regexp.MustCompile(`(\[[0-9A-Fa-f:.%a-z]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3}):[0-9]+`)

func (s *serverLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		s.e.refuse(TLSHandshake)
		return len(p), nil
	}
	s.log.Warn().Str("error", redact(string(bytes.TrimSpace(p)))).Msg("admin endpoint: HTTP server error")
	return len(p), nil
}

// redact replaces the addresses with ports in an error's text by ADDR:
// an admin client's address is nobody's business in the log.
func redact(s string) string { return addrPattern.ReplaceAllString(s, "ADDR") }
