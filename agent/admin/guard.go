package admin

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// guard applies the endpoint's limits to every route and its access rule to
// /backup and /snapshot.
type guard struct {
	e         *Endpoint
	lim       Limits
	all, data chan struct{} // semaphores: requests in flight, of them /backup and /snapshot
	limiter   *rate.Limiter // the web configuration's rate_limit; nil without one
	// bcryptMu runs one password check at a time: each costs tens of
	// milliseconds of CPU by design.
	bcryptMu sync.Mutex
}

// Answers of refused requests (pinned by tests).
const (
	busyAnswer        = "the admin endpoint is answering as many requests as it takes; try again shortly"
	rateLimitedAnswer = "over the admin endpoint's rate_limit; try again shortly"
	webConfigAnswer   = "the agent cannot read its --web-config-file to check the credentials; see the agent's log"
)

// askCredentials is the answer to a client not on loopback without
// credentials, or with wrong ones, when users are configured.
func askCredentials(route string) string {
	return route + " is served to loopback clients and to the users of the agent's --web-config-file (basic_auth_users): give a user name and password"
}

// loopbackOnly is the answer to a client not on loopback when no users are
// configured.
func loopbackOnly(route string) string {
	return route + " is served to loopback clients only: the agent has no basic_auth_users in a --web-config-file"
}

// bound serves every route: it sets the web configuration's headers,
// applies its rate_limit, and answers 503 at once beyond MaxRequests in
// flight.
func (g *guard) bound(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.e.web != nil {
			for k, v := range g.e.web.HTTPConfig.Header {
				w.Header().Set(k, v)
			}
		}
		if g.limiter != nil && !g.limiter.Allow() {
			g.e.refuse(RateLimited)
			w.Header().Set("Retry-After", "1")
			http.Error(w, rateLimitedAnswer, http.StatusTooManyRequests)
			return
		}
		select {
		case g.all <- struct{}{}:
			defer func() { <-g.all }()
		default:
			g.busy(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (g *guard) busy(w http.ResponseWriter) {
	g.e.refuse(Busy)
	w.Header().Set("Retry-After", "1")
	http.Error(w, busyAnswer, http.StatusServiceUnavailable)
}

// guarded serves route (/backup or /snapshot) to loopback clients and to
// the users of the web configuration file, at most MaxDataRequests at once.
// The users are read again from the file for each check, so a changed user
// list needs no restart. h gets a writer whose every write has
// WriteTimeout, and at most until end(start) when end is set.
func (g *guard) guarded(route string, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		local := loopback(r.RemoteAddr)
		user, password, given := r.BasicAuth()
		if !local && !given {
			g.e.refuse(Unauthenticated)
			g.refuseAccess(w, route, g.e.Users())
			return
		}
		select {
		case g.data <- struct{}{}:
			defer func() { <-g.data }()
		default:
			g.busy(w)
			return
		}
		if !local {
			ok, users, err := g.authenticate(user, password)
			if err != nil {
				g.e.refuse(WebConfig)
				http.Error(w, webConfigAnswer, http.StatusServiceUnavailable)
				return
			}
			if !ok {
				g.e.refuse(BadCredentials)
				g.refuseAccess(w, route, users)
				return
			}
		}
		h(w, r)
	}
}

// refuseAccess answers 401 asking for credentials when users are
// configured, else 403: no credentials can help.
func (g *guard) refuseAccess(w http.ResponseWriter, route string, users bool) {
	if !users {
		http.Error(w, loopbackOnly(route), http.StatusForbidden)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="headcount admin", charset="UTF-8"`)
	http.Error(w, askCredentials(route), http.StatusUnauthorized)
}

// fakeHash is compared against for an unknown user, so that the answer
// takes as long as for a known one (it is bcrypt's hash of "fakepassword").
var fakeHash = []byte("$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi")

// authenticate reports whether user and password are those of a user of
// the web configuration file, read again now, and whether it has users.
func (g *guard) authenticate(user, password string) (ok, users bool, err error) {
	if g.e.web == nil {
		return false, false, nil
	}
	c, err := loadWebConfig(g.e.web.path)
	if err != nil {
		return false, false, err
	}
	if len(c.Users) == 0 {
		return false, false, nil
	}
	hash, known := c.Users[user]
	stored := []byte(hash)
	if !known {
		stored = fakeHash
	}
	g.bcryptMu.Lock()
	match := bcrypt.CompareHashAndPassword(stored, []byte(password)) == nil
	g.bcryptMu.Unlock()
	return known && match, true, nil
}

// loopback reports whether remote, a request's RemoteAddr, is a loopback
// address (127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6).
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// deadlineWriter gives each write to a response its own deadline: each
// long from the write's start, and never past end (when set).
type deadlineWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	each time.Duration
	end  time.Time
}

func newDeadlineWriter(w http.ResponseWriter, each time.Duration, end time.Time) *deadlineWriter {
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), each: each, end: end}
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	deadline := time.Now().Add(d.each)
	if !d.end.IsZero() && d.end.Before(deadline) {
		deadline = d.end
	}
	_ = d.rc.SetWriteDeadline(deadline)
	return d.w.Write(p)
}
