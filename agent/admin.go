package agent

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"headcount/agent/session"
	"headcount/entitlement"
	"headcount/store"
)

// Admin serves the admin endpoint: /metrics, /healthz and /readyz. Its
// metrics are read from the server, table and meter at scrape time, so the
// request path pays nothing for them.
type Admin struct {
	db       *store.DB
	clock    Clock
	ent      *Entitlement // nil when entitlement is not checked
	usage    *usageSender // nil without online usage reporting
	server   *Server
	table    *session.Table
	meter    *Meter
	coverage *Coverage
	registry *prometheus.Registry
	started  time.Time
}

// NewAdmin returns the admin endpoint of a running agent.
func NewAdmin(db *store.DB, clock Clock, server *Server, table *session.Table, meter *Meter, coverage *Coverage, ent *Entitlement, environment string, production bool, version string) *Admin {
	a := &Admin{db: db, clock: clock, ent: ent, server: server, table: table, meter: meter, coverage: coverage, registry: prometheus.NewRegistry(), started: time.Now()}
	r := a.registry
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, f func() float64) {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	c := &server.counters
	counter("headcount_spoe_messages_total", "SPOE messages received from HAProxy.", func() float64 { return float64(c.messages.Load()) })
	gauge("headcount_spoe_connections", "Open SPOP connections from HAProxy.", func() float64 { return float64(c.connections.Load()) })
	counter("headcount_spoe_refused_connections_total", "SPOP connections refused because the peer is outside --allow.", func() float64 { return float64(c.refused.Load()) })
	counter("headcount_spoe_refused_over_limit_total", "SPOP connections refused because --max-connections were open.", func() float64 { return float64(c.overLimit.Load()) })
	counter("headcount_spoe_timeouts_total", "SPOP connections closed because a HELLO, a frame or the next frame did not come in time.", func() float64 { return float64(c.timeouts.Load()) })
	counter("headcount_spoe_refused_frames_total", "SPOP frames refused (zero, too short or over the negotiated size); each closes its connection.", func() float64 { return float64(c.badFrames.Load()) })
	counter("headcount_spoe_panics_total", "Panics recovered on SPOP connections; each closed its connection only.", func() float64 { return float64(c.panics.Load()) })
	gauge("headcount_sessions_active", "Live sessions in memory.", func() float64 { return float64(table.Live()) })
	counter("headcount_sessions_started_total", "Sessions started since the agent started.", func() float64 { return float64(table.Stats().Started) })
	for _, reason := range session.Reasons {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "headcount_sessions_completed_total",
			Help:        "Sessions completed since the agent started, by reason.",
			ConstLabels: prometheus.Labels{"reason": reason.String()},
		}, func() float64 { return float64(table.Stats().Completed[reason]) }))
	}
	r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "headcount_sessions_completed_total",
		Help:        "Sessions completed since the agent started, by reason.",
		ConstLabels: prometheus.Labels{"reason": "recovered"},
	}, func() float64 { return float64(meter.Recovered()) }))
	counter("headcount_store_flush_errors_total", "Flushes to the database that failed (their counts are kept and retried).", func() float64 { return float64(meter.FlushErrors()) })
	gauge("headcount_store_last_flush_timestamp_seconds", "Unix time of the last successful flush, 0 before the first.", func() float64 { return unixSeconds(meter.LastFlush()) })
	gauge("headcount_coverage_last_contact_timestamp_seconds", "Unix time of HAProxy's latest contact (hello, health check or notify), 0 before the first.", func() float64 { return unixSeconds(coverage.LastContact(clock())) })
	gauge("headcount_entitlement_state", "The last entitlement check: 0 not checked, 1 valid, 2 ended within grace, 3 no valid entitlement (grace over), 4 server unreachable and grace started, 5 unreachable within grace, 6 unreachable and grace over.", func() float64 {
		if ent == nil {
			return 0
		}
		return float64(ent.Status().Outcome)
	})
	gauge("headcount_entitlement_grace_days_left", "Days left in the grace period, 0 when valid or over.", func() float64 {
		if ent == nil || ent.Status().Outcome == entitlement.Valid {
			return 0
		}
		return float64(ent.Status().DaysLeft)
	})
	for _, result := range []string{"ok", "failed"} {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "headcount_usage_transmissions_total",
			Help:        "Online usage transmissions attempted, by result (a failed one is resent unchanged).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 {
			u := a.usageSender()
			switch {
			case u == nil:
				return 0
			case result == "ok":
				return float64(u.ok.Load())
			}
			return float64(u.fail.Load())
		}))
	}
	prod := 0.0
	if production {
		prod = 1
	}
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "headcount_info",
		Help:        "The agent's version, environment and whether it counts sessions (production).",
		ConstLabels: prometheus.Labels{"version": version, "environment": environment},
	}, func() float64 { return prod }))
	return a
}

func (a *Admin) usageSender() *usageSender { return a.usage }

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Handler returns the admin endpoint's routes.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", a.ready)
	mux.HandleFunc("GET /snapshot", a.snapshot)
	mux.HandleFunc("GET /backup", a.backup)
	return mux
}

// BackupDBHeader carries, with /backup's body, the identity of the file it
// copies (store.FileID).
const BackupDBHeader = "X-Headcount-Db"

// backup streams a consistent copy of the database, from one read
// transaction, for `headcount backup` and `headcount check` while the agent
// holds the file.
func (a *Admin) backup(w http.ResponseWriter, _ *http.Request) {
	id, err := store.FileID(a.db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(BackupDBHeader, id)
	_, _ = a.db.Backup(w) // a failure mid-stream shows as a short body, which the client detects
}

// SnapshotResponse is /snapshot's body: what `headcount export` reads from a
// running agent, which holds the database file's lock. DB identifies the
// file (store.FileID), so that export can check it asked the right agent.
type SnapshotResponse struct {
	DB       string         `json:"db"`
	Snapshot store.Snapshot `json:"snapshot"`
}

// snapshot answers /snapshot?from=YYYY-MM-DD&to=YYYY-MM-DD[&hours=1][&windows=1] from one
// read transaction. It carries numbers and timestamps only.
func (a *Admin) snapshot(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("from"))
	to, err2 := time.Parse(time.DateOnly, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil || !from.Before(to) {
		http.Error(w, "want from and to as YYYY-MM-DD, from before to", http.StatusBadRequest)
		return
	}
	id, err := store.FileID(a.db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	snap, err := a.db.Snapshot(from, to, store.Parts{Hours: q.Get("hours") == "1", Windows: q.Get("windows") == "1"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(SnapshotResponse{DB: id, Snapshot: snap})
}

// Readiness is /readyz's body. The agent is ready once it accepts SPOP
// connections with its database open, which is before the endpoint listens.
type Readiness struct {
	Ready            bool       `json:"ready"`
	SPOPConnections  int64      `json:"spop_connections"`
	LiveSessions     int64      `json:"live_sessions"`
	LastFlush        *time.Time `json:"last_flush,omitempty"`
	LastContact      *time.Time `json:"last_haproxy_contact,omitempty"`
	HAProxyConnected bool       `json:"haproxy_connected"`
	FlushErrors      uint64     `json:"flush_errors"`
	// Entitlement is the last licence check; readiness never fails for it.
	Entitlement *EntitlementStatus `json:"entitlement,omitempty"`
}

// EntitlementStatus is /readyz's view of the last entitlement check.
type EntitlementStatus struct {
	State    string     `json:"state"`
	DaysLeft int        `json:"days_left"`
	GraceEnd *time.Time `json:"grace_end,omitempty"`
	Message  string     `json:"message"`
}

func (a *Admin) ready(w http.ResponseWriter, _ *http.Request) {
	body := Readiness{
		Ready:           true,
		SPOPConnections: a.server.Connections(),
		LiveSessions:    a.table.Live(),
		FlushErrors:     a.meter.FlushErrors(),
	}
	if t := a.meter.LastFlush(); !t.IsZero() {
		body.LastFlush = &t
	}
	mono, wall := a.clock()
	if t := a.coverage.LastContact(mono, wall); !t.IsZero() {
		body.LastContact = &t
		body.HAProxyConnected = a.coverage.Contacted(mono)
	}
	if a.ent != nil {
		st := a.ent.Status()
		body.Entitlement = &EntitlementStatus{State: st.Outcome.String(), DaysLeft: st.DaysLeft, Message: st.Message}
		if !st.GraceEnd.IsZero() {
			body.Entitlement.GraceEnd = &st.GraceEnd
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}
