package admin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"headcount/internal/remoteaddr"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"headcount/store"
)

// mustEndpoint returns an endpoint for db with o's other options, a
// registry for /metrics and a ready /readyz.
func mustEndpoint(t *testing.T, db *store.DB, o Options) *Endpoint {
	t.Helper()
	o.DB = db
	o.Metrics = prometheus.NewRegistry()
	o.Ready = func() Readiness { return Readiness{Ready: true} }
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serveRecorded answers one request from remote with e's handler.
func serveRecorded(e *Endpoint, remote, target, user, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	e.srv.Handler.ServeHTTP(rec, req)
	return rec
}

// TestEndpoint_Access: /metrics, /healthz and /readyz answer everyone;
// /backup and /snapshot answer loopback clients (IPv4, IPv6, IPv4 in IPv6)
// without credentials and other clients only with a configured user's
// password, with exact answers and each refusal counted by reason.
func TestEndpoint_Access(t *testing.T) {
	db := mustDB(t)
	dir := t.TempDir()
	withUsers := mustWebConfig(t, dir, map[string]string{"backup": "s3cret", "ops": "other"}, nil)
	noUsersDir := t.TempDir()
	noUsers := mustWebConfig(t, noUsersDir, nil, nil)
	const snap = "/snapshot?from=2024-01-01&to=2024-01-04"
	ask := func(route string) string { return askCredentials(route) + "\n" }
	only := func(route string) string { return loopbackOnly(route) + "\n" }
	if got := ask("/backup"); got != "/backup is served to loopback clients and to the users of the agent's --web-config-file (basic_auth_users): give a user name and password\n" {
		t.Errorf("askCredentials: %q", got)
	}
	if got := only("/snapshot"); got != "/snapshot is served to loopback clients only: the agent has no basic_auth_users in a --web-config-file\n" {
		t.Errorf("loopbackOnly: %q", got)
	}

	for _, tc := range []struct {
		name, webConfig, remote, target, user, password string
		status                                          int
		body                                            string // exact, unless served ("")
		reason                                          Reason // counted once when status is not 200
	}{
		{"loopback v4 backup", withUsers, "127.0.0.1:40000", "/backup", "", "", 200, "", 0},
		{"loopback 127/8 snapshot", withUsers, "127.3.2.1:40000", snap, "", "", 200, "", 0},
		{"loopback v6", withUsers, "[::1]:40000", "/backup", "", "", 200, "", 0},
		{"loopback v4 in v6", "", "[::ffff:127.0.0.1]:40000", snap, "", "", 200, "", 0},
		{"loopback without a web config", "", "127.0.0.1:40000", "/backup", "", "", 200, "", 0},
		{"remote with the password", withUsers, "192.0.2.9:40000", "/backup", "backup", "s3cret", 200, "", 0},
		{"remote, another user", withUsers, "[2001:db8::9]:40000", snap, "ops", "other", 200, "", 0},
		{"remote without credentials", withUsers, "192.0.2.9:40000", "/backup", "", "", 401, ask("/backup"), Unauthenticated},
		{"remote snapshot without credentials", withUsers, "192.0.2.9:40000", snap, "", "", 401, ask("/snapshot"), Unauthenticated},
		{"remote, wrong password", withUsers, "192.0.2.9:40000", "/backup", "backup", "S3cret", 401, ask("/backup"), BadCredentials},
		{"remote, another user's password", withUsers, "192.0.2.9:40000", snap, "ops", "s3cret", 401, ask("/snapshot"), BadCredentials},
		{"remote, unknown user", withUsers, "192.0.2.9:40000", "/backup", "root", "s3cret", 401, ask("/backup"), BadCredentials},
		{"remote, no users configured", noUsers, "192.0.2.9:40000", "/backup", "", "", 403, only("/backup"), Unauthenticated},
		{"remote with credentials, no users configured", noUsers, "192.0.2.9:40000", snap, "backup", "s3cret", 403, only("/snapshot"), BadCredentials},
		{"remote without a web config", "", "192.0.2.9:40000", "/backup", "", "", 403, only("/backup"), Unauthenticated},
		{"remote with credentials, without a web config", "", "10.0.0.1:40000", snap, "backup", "s3cret", 403, only("/snapshot"), BadCredentials},
		{"an address that is no address", withUsers, "@", "/backup", "", "", 401, ask("/backup"), Unauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEndpoint(t, db, Options{WebConfigFile: tc.webConfig, Log: zerolog.Nop()})
			rec := serveRecorded(e, tc.remote, tc.target, tc.user, tc.password)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %q", rec.Code, tc.status, rec.Body.String())
			}
			for _, r := range Reasons {
				want := uint64(0)
				if tc.status != 200 && r == tc.reason {
					want = 1
				}
				if got := e.Refusals().Count(r); got != want {
					t.Errorf("refusals %s: %d, want %d", r, got, want)
				}
			}
			if tc.status != 200 {
				if rec.Body.String() != tc.body {
					t.Errorf("body %q, want %q", rec.Body.String(), tc.body)
				}
				if got := rec.Header().Get("WWW-Authenticate"); (tc.status == 401) != (got == `Basic realm="headcount admin", charset="UTF-8"`) {
					t.Errorf("WWW-Authenticate %q with status %d", got, tc.status)
				}
				return
			}
			if strings.HasPrefix(tc.target, "/backup") {
				if rec.Header().Get(BackupDBHeader) == "" || rec.Body.Len() < 4096 {
					t.Errorf("backup: header %q, %d bytes", rec.Header().Get(BackupDBHeader), rec.Body.Len())
				}
				return
			}
			var answer SnapshotResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || len(answer.Snapshot.Days) != 3 || answer.Snapshot.Days[2].Sessions != 33 {
				t.Errorf("snapshot: %v, %+v", err, answer.Snapshot.Days)
			}
		})
	}

	t.Run("open routes", func(t *testing.T) {
		e := mustEndpoint(t, db, Options{WebConfigFile: withUsers, Log: zerolog.Nop()})
		for _, route := range []string{"/metrics", "/healthz", "/readyz"} {
			if rec := serveRecorded(e, "192.0.2.9:40000", route, "", ""); rec.Code != 200 {
				t.Errorf("%s from a remote client: %d %q", route, rec.Code, rec.Body.String())
			}
		}
	})
}

// TestEndpoint_UsersReadAgain: a user added to the web configuration file
// while the agent runs can authenticate at once; a removed one no longer
// can; a file that became unreadable refuses (web_config) instead of letting
// anyone in.
func TestEndpoint_UsersReadAgain(t *testing.T) {
	db := mustDB(t)
	dir := t.TempDir()
	path := mustWebConfig(t, dir, map[string]string{"old": "one"}, nil)
	e := mustEndpoint(t, db, Options{WebConfigFile: path, Log: zerolog.Nop()})
	if rec := serveRecorded(e, "192.0.2.9:1", "/backup", "old", "one"); rec.Code != 200 {
		t.Fatalf("old user before the change: %d", rec.Code)
	}
	mustWebConfig(t, dir, map[string]string{"new": "two"}, nil)
	if rec := serveRecorded(e, "192.0.2.9:1", "/backup", "new", "two"); rec.Code != 200 {
		t.Errorf("new user after the change: %d", rec.Code)
	}
	if rec := serveRecorded(e, "192.0.2.9:1", "/backup", "old", "one"); rec.Code != 401 {
		t.Errorf("removed user after the change: %d", rec.Code)
	}
	if err := os.WriteFile(path, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := serveRecorded(e, "192.0.2.9:1", "/backup", "new", "two")
	if want := "the agent cannot read its --web-config-file to check the credentials; see the agent's log\n"; rec.Code != 503 || rec.Body.String() != want {
		t.Errorf("unreadable file: %d %q, want 503 %q", rec.Code, rec.Body.String(), want)
	}
	if e.Refusals().Count(WebConfig) != 1 || e.Refusals().Count(BadCredentials) != 1 {
		t.Errorf("refusals: web_config %d, bad_credentials %d; want 1 and 1", e.Refusals().Count(WebConfig), e.Refusals().Count(BadCredentials))
	}
	if rec := serveRecorded(e, "127.0.0.1:1", "/backup", "", ""); rec.Code != 200 {
		t.Errorf("loopback with an unreadable file: %d", rec.Code)
	}
}

// TestEndpoint_Busy: beyond MaxDataRequests /backup and /snapshot in flight
// the next is answered 503 at once, while /metrics still answers; beyond
// MaxRequests every route is. A client without credentials is refused
// before it can take a slot, and a wrong password never waits for one.
func TestEndpoint_Busy(t *testing.T) {
	db := mustDB(t)
	web := mustWebConfig(t, t.TempDir(), map[string]string{"backup": "s3cret"}, nil)
	e := mustEndpoint(t, db, Options{WebConfigFile: web, Limits: Limits{MaxRequests: 3, MaxDataRequests: 2}, Log: zerolog.Nop()})
	g := e.guard
	if cap(g.all) != 3 || cap(g.data) != 2 {
		t.Fatalf("semaphores %d and %d, want 3 and 2", cap(g.all), cap(g.data))
	}
	// Two requests in flight hold the data slots.
	g.data <- struct{}{}
	g.data <- struct{}{}
	want := "the admin endpoint is answering as many requests as it takes; try again shortly\n"
	for _, tc := range []struct{ remote, user, password string }{{"127.0.0.1:1", "", ""}, {"192.0.2.9:1", "backup", "s3cret"}, {"192.0.2.9:1", "backup", "wrong"}} {
		rec := serveRecorded(e, tc.remote, "/backup", tc.user, tc.password)
		if rec.Code != 503 || rec.Body.String() != want || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("%s %s: %d %q (Retry-After %q), want 503 %q", tc.remote, tc.user, rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"), want)
		}
	}
	if rec := serveRecorded(e, "192.0.2.9:1", "/backup", "", ""); rec.Code != 401 {
		t.Errorf("no credentials while busy: %d, want 401", rec.Code)
	}
	if rec := serveRecorded(e, "192.0.2.9:1", "/metrics", "", ""); rec.Code != 200 {
		t.Errorf("/metrics while the data slots are taken: %d", rec.Code)
	}
	if e.Refusals().Count(Busy) != 3 || e.Refusals().Count(BadCredentials) != 0 || e.Refusals().Count(Unauthenticated) != 1 {
		t.Errorf("refusals: busy %d, bad_credentials %d, unauthenticated %d; want 3, 0, 1",
			e.Refusals().Count(Busy), e.Refusals().Count(BadCredentials), e.Refusals().Count(Unauthenticated))
	}
	// Three requests in flight: every route is refused.
	for range 3 {
		g.all <- struct{}{}
	}
	for _, route := range []string{"/metrics", "/healthz", "/readyz"} {
		if rec := serveRecorded(e, "127.0.0.1:1", route, "", ""); rec.Code != 503 || rec.Body.String() != want {
			t.Errorf("%s with MaxRequests in flight: %d %q", route, rec.Code, rec.Body.String())
		}
	}
	// Once they end, everything is served again.
	for range 3 {
		<-g.all
	}
	<-g.data
	<-g.data
	if rec := serveRecorded(e, "127.0.0.1:1", "/backup", "", ""); rec.Code != 200 {
		t.Errorf("/backup after the others ended: %d", rec.Code)
	}
}

// TestRefusalLog_OncePerMinute: the first refusal of a reason is logged at
// once; later ones within the minute only count, and the next line after
// the minute gives how many; reasons are logged apart; Shutdown logs what
// is left. No line names a client.
func TestRefusalLog_OncePerMinute(t *testing.T) {
	lines := make(chan string, 100)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	e := mustEndpoint(t, mustDB(t), Options{Log: zerolog.New(lineWriter(lines)), Now: func() time.Time { return now }})
	step := func(d time.Duration) { now = now.Add(d) }
	refuse := func(n int) {
		for range n {
			if rec := serveRecorded(e, "192.0.2.77:5555", "/backup", "", ""); rec.Code != 403 {
				t.Fatalf("status %d", rec.Code)
			}
		}
	}
	const unauth = `{"level":"warn","reason":"unauthenticated","refused":%d,"message":"admin endpoint refused /backup or /snapshot to clients not on loopback that gave no credentials (users: basic_auth_users in --web-config-file)"}` + "\n"
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			select {
			case got := <-lines:
				if got != w {
					t.Errorf("log line %q, want %q", got, w)
				}
				if strings.Contains(got, "192.0.2.77") {
					t.Errorf("a log line names the client: %s", got)
				}
			default:
				t.Errorf("no log line, want %q", w)
			}
		}
		select {
		case got := <-lines:
			t.Errorf("unexpected log line %q", got)
		default:
		}
	}
	refuse(1)
	expect(strings.Replace(unauth, "%d", "1", 1))
	step(10 * time.Second)
	refuse(5)
	step(49 * time.Second)
	refuse(2)
	expect()
	step(time.Second) // a minute after the first line
	refuse(1)
	expect(strings.Replace(unauth, "%d", "8", 1))
	// Another reason has its own minute.
	e.refuse(Busy)
	expect(`{"level":"warn","reason":"busy","refused":1,"message":"admin endpoint refused requests: too many in flight"}` + "\n")
	step(30 * time.Second)
	refuse(3)
	e.refuse(Busy)
	expect()
	if err := e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect(strings.Replace(unauth, "%d", "3", 1),
		`{"level":"warn","reason":"busy","refused":1,"message":"admin endpoint refused requests: too many in flight"}`+"\n")
	if e.Refusals().Count(Unauthenticated) != 12 || e.Refusals().Count(Busy) != 2 {
		t.Errorf("counts %d and %d, want 12 and 2", e.Refusals().Count(Unauthenticated), e.Refusals().Count(Busy))
	}
}

// startEndpoint serves e on a listener at addr until the test ends, and
// returns the listener's address.
func startEndpoint(t *testing.T, e *Endpoint, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, e, l)
}

// smallBuffers accepts connections with a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// serveOn serves e on l until the test ends, and returns l's address.
func serveOn(t *testing.T, e *Endpoint, l net.Listener) string {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.Serve(l) }()
	t.Cleanup(func() {
		_ = e.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// TestEndpoint_NonLoopbackTLS runs the endpoint with TLS and users on an
// address of the machine that is not loopback, reached from that address
// (or, on a machine without one, in a network namespace of its own): the
// client of export and backup is refused without credentials and served
// with them, trusting the test's own CA; without the CA the handshake fails
// and is counted; plain HTTP is told to use HTTPS.
func TestEndpoint_NonLoopbackTLS(t *testing.T) {
	ip, ok := remoteaddr.NonLoopback(t)
	if !ok {
		return
	}
	db := mustDB(t)
	dir := t.TempDir()
	pki := mustPKI(t, dir, ip, netip.MustParseAddr("127.0.0.1"))
	web := mustWebConfig(t, dir, map[string]string{"backup": "s3cret"}, &pki)
	lines := make(chan string, 100)
	e := mustEndpoint(t, db, Options{WebConfigFile: web, Log: zerolog.New(lineWriter(lines))})
	if !e.TLS() || !e.Users() {
		t.Fatalf("TLS %v, users %v; want both", e.TLS(), e.Users())
	}
	addr := startEndpoint(t, e, netip.AddrPortFrom(ip, 0).String())

	caPEM, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	trusting := &tls.Config{RootCAs: pool}
	from, to := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)

	// The connection really comes from a non-loopback address.
	conn, err := tls.Dial("tcp", addr, trusting)
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(conn.LocalAddr().String()).Addr()
	conn.Close()
	if local.IsLoopback() {
		t.Fatalf("the client's address %s is loopback", local)
	}

	anonymous := Client{Addr: addr, TLS: trusting}
	_, err = anonymous.Snapshot(db.Path(), from, to, store.Parts{})
	if want := "the agent at " + addr + " serves /snapshot to this host only with credentials: give --admin-user and the password (--admin-password-file or HEADCOUNT_ADMIN_PASSWORD)"; err == nil || err.Error() != want {
		t.Errorf("snapshot without credentials: %v, want %q", err, want)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	err = anonymous.Backup(db.Path(), out)
	if want := "the agent at " + addr + " serves /backup to this host only with credentials: give --admin-user and the password (--admin-password-file or HEADCOUNT_ADMIN_PASSWORD)"; err == nil || err.Error() != want {
		t.Errorf("backup without credentials: %v, want %q", err, want)
	}
	wrong := Client{Addr: addr, TLS: trusting, User: "backup", Password: "nope"}
	err = wrong.Backup(db.Path(), out)
	if want := "the agent at " + addr + " refused the password of --admin-user backup for /backup: check both against its --web-config-file"; err == nil || err.Error() != want {
		t.Errorf("backup with a wrong password: %v, want %q", err, want)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left %s: %v", out, err)
	}

	user := Client{Addr: addr, TLS: trusting, User: "backup", Password: "s3cret"}
	snap, err := user.Snapshot(db.Path(), from, to, store.Parts{})
	if err != nil || len(snap.Days) != 3 || snap.Days[0].Sessions != 11 {
		t.Errorf("snapshot with credentials: %v, %+v", err, snap.Days)
	}
	if err := user.Backup(db.Path(), out); err != nil {
		t.Fatalf("backup with credentials: %v", err)
	}
	copied, err := store.Open(out, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := copied.Snapshot(from, to, store.Parts{})
	copied.Close()
	if err != nil || len(got.Days) != 3 || got.Days[2].Sessions != 33 {
		t.Errorf("the copy: %v, %+v", err, got.Days)
	}

	// No CA: the client does not trust the agent; the agent counts the
	// failed handshake.
	_, err = Client{Addr: addr, TLS: &tls.Config{}, User: "backup", Password: "s3cret"}.Snapshot(db.Path(), from, to, store.Parts{})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v", err)
	}
	line := waitLine(t, lines, `"reason":"tls_handshake"`)
	if want := `{"level":"warn","reason":"tls_handshake","refused":1,"message":"admin endpoint refused connections whose TLS handshake failed"}` + "\n"; line != want {
		t.Errorf("log line %q, want %q", line, want)
	}
	if e.Refusals().Count(TLSHandshake) != 1 {
		t.Errorf("tls_handshake refusals %d, want 1", e.Refusals().Count(TLSHandshake))
	}
	// Plain HTTP to the HTTPS endpoint.
	_, err = Client{Addr: addr, User: "backup", Password: "s3cret"}.Snapshot(db.Path(), from, to, store.Parts{})
	if want := "the agent at " + addr + " serves HTTPS: give --admin-ca FILE (or --admin-tls)"; err == nil || err.Error() != want {
		t.Errorf("plain HTTP: %v, want %q", err, want)
	}
	// /metrics stays open, over TLS.
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: trusting}}).Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics from a remote client: %s", resp.Status)
	}
	if e.Refusals().Count(Unauthenticated) != 2 || e.Refusals().Count(BadCredentials) != 1 {
		t.Errorf("refusals: unauthenticated %d, bad_credentials %d; want 2 and 1", e.Refusals().Count(Unauthenticated), e.Refusals().Count(BadCredentials))
	}
}

// TestEndpoint_SlowClients: a client that does not finish its request
// headers is cut after ReadHeaderTimeout; a /backup whose client stops
// reading is cut after WriteTimeout without a write going through (and
// logged), freeing its slot, while /metrics answers meanwhile.
func TestEndpoint_SlowClients(t *testing.T) {
	db := mustDB(t)
	var days []store.DayCount
	for d := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2020; d = d.AddDate(0, 0, 1) {
		days = append(days, store.DayCount{Day: d, Sessions: 1})
	}
	if err := db.Import(days); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(db.Path()); err != nil || info.Size() < 256<<10 {
		t.Fatalf("the database: %v, %d bytes; want at least 256 KiB to fill the socket buffers", err, info.Size())
	}
	lines := make(chan string, 100)
	e := mustEndpoint(t, db, Options{Log: zerolog.New(lineWriter(lines)),
		Limits: Limits{ReadHeaderTimeout: 200 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxDataRequests: 1}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, e, smallBuffers{l})

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if _, err := slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := slow.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("a request without the end of its headers: read %d, %v; want the connection closed", n, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the slow header was cut after %v", took)
	}

	// A client that asks for the backup and does not read it, with small
	// socket buffers so that the copy cannot sit in them.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if err := stalled.(*net.TCPConn).SetReadBuffer(1024); err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Write([]byte("GET /backup HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "admin endpoint: /backup ended early")
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics: %s", resp.Status)
	}
	// Its slot is free again.
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := (Client{Addr: addr}).Backup(db.Path(), out); err != nil {
		t.Errorf("a backup after the stalled one: %v", err)
	}
}

// TestCheckWebConfig: the exporters' format, with their checks.
func TestCheckWebConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"users", "basic_auth_users:\n  a: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", ""},
		{"empty", "", ""},
		{"not bcrypt", "basic_auth_users:\n  a: plain\n", "crypto/bcrypt: hashedSecret too short to be a bcrypted password"},
		{"unknown key", "basic_auth_user:\n  a: b\n", "yaml: unmarshal errors:\n  line 1: field basic_auth_user not found in type web.Config"},
		{"missing key file", "tls_server_config:\n  cert_file: agent.pem\n", "missing one of key or key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			err := CheckWebConfig(path)
			if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
				t.Errorf("CheckWebConfig: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEndpoint_RateLimitAndHeaders: the web configuration's rate_limit
// answers 429 beyond its burst, on every route, and its headers are set on
// every answer.
func TestEndpoint_RateLimitAndHeaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(path, []byte("rate_limit:\n  interval: 1h\n  burst: 2\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckWebConfig(path); err != nil {
		t.Fatal(err)
	}
	e := mustEndpoint(t, mustDB(t), Options{WebConfigFile: path, Log: zerolog.Nop()})
	for i, route := range []string{"/healthz", "/backup", "/metrics"} {
		rec := serveRecorded(e, "127.0.0.1:1", route, "", "")
		want, body := 200, ""
		if i == 2 {
			want, body = 429, rateLimitedAnswer+"\n"
		}
		if rec.Code != want || (body != "" && rec.Body.String() != body) || rec.Header().Get("X-Frame-Options") != "deny" {
			t.Errorf("%s: %d %q, X-Frame-Options %q; want %d %q, deny", route, rec.Code, rec.Body.String(), rec.Header().Get("X-Frame-Options"), want, body)
		}
	}
	if rateLimitedAnswer != "over the admin endpoint's rate_limit; try again shortly" || e.Refusals().Count(RateLimited) != 1 {
		t.Errorf("answer %q, rate_limited refusals %d", rateLimitedAnswer, e.Refusals().Count(RateLimited))
	}
}
