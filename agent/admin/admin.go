// Package admin is the agent's admin endpoint: its HTTP routes (/metrics,
// /healthz, /readyz, and /snapshot and /backup for the commands that read a
// database the agent holds, served to loopback clients and to the users of
// a Prometheus-style web configuration file only), their wire types, and the
// client those commands use on a running agent.
package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"headcount/store"
)

// Options is what the endpoint serves, and how.
type Options struct {
	// DB is the agent's open database, read for /snapshot and /backup.
	DB *store.DB
	// Metrics gathers /metrics.
	Metrics prometheus.Gatherer
	// Ready returns /readyz's body; Ready is true once the agent meters.
	Ready func() Readiness
	// WebConfigFile is a web configuration file as the Prometheus exporters
	// take it (TLS, basic_auth_users with bcrypt hashes; README: Admin
	// endpoint). Without one the endpoint serves plain HTTP, and /backup and
	// /snapshot to loopback clients only.
	WebConfigFile string
	// Limits bound requests in flight and their times; zero: defaults.
	Limits Limits
	// Refusals counts refusals by reason; nil: the endpoint's own.
	Refusals *Refusals
	// Log receives the refusal lines (at most one a minute per reason).
	Log zerolog.Logger
	// Now is the refusal log's clock; nil: time.Now.
	Now func() time.Time
}

// routes returns the endpoint's routes: /metrics, /healthz and /readyz for
// everyone, /snapshot and /backup through g's access rule.
func routes(o Options, g *guard) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(o.Ready())
	})
	mux.HandleFunc("GET /snapshot", g.guarded("/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if err := snapshot(o.DB, w, newDeadlineWriter(w, g.lim.WriteTimeout, time.Time{}), r); err != nil {
			o.Log.Warn().Str("error", redact(err.Error())).Msg("admin endpoint: /snapshot ended early; the client gets a short answer")
		}
	}))
	mux.HandleFunc("GET /backup", g.guarded("/backup", func(w http.ResponseWriter, _ *http.Request) {
		// Past its first minute, a backup must average BackupRate: a slow
		// client cannot hold the read transaction for ever.
		end := time.Now().Add(time.Minute)
		if info, err := os.Stat(o.DB.Path()); err == nil {
			end = end.Add(time.Duration(float64(info.Size()) / float64(g.lim.BackupRate) * float64(time.Second)))
		}
		if err := backup(o.DB, w, newDeadlineWriter(w, g.lim.WriteTimeout, end)); err != nil {
			o.Log.Warn().Str("error", redact(err.Error())).Msg("admin endpoint: /backup ended early; the client gets a short copy, which it refuses")
		}
	}))
	return mux
}

// backup streams a consistent copy of the database, from one read
// transaction, for `headcount backup` and `headcount check` while the agent
// holds the file. A failure mid-stream (a client too slow to read it within
// the write deadlines among them) shows as a short body, which the client
// detects; it is returned for the log.
func backup(db *store.DB, w http.ResponseWriter, body io.Writer) error {
	id, err := store.FileID(db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(BackupDBHeader, id)
	_, err = db.Backup(body)
	return err
}

// snapshot answers /snapshot?from=YYYY-MM-DD&to=YYYY-MM-DD[&hours=1][&windows=1]
// from one read transaction. It carries numbers and timestamps only.
func snapshot(db *store.DB, w http.ResponseWriter, body io.Writer, r *http.Request) error {
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("from"))
	to, err2 := time.Parse(time.DateOnly, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil || !from.Before(to) {
		http.Error(w, "want from and to as YYYY-MM-DD, from before to", http.StatusBadRequest)
		return nil
	}
	id, err := store.FileID(db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil
	}
	snap, err := db.Snapshot(from, to, store.Parts{Hours: q.Get("hours") == "1", Windows: q.Get("windows") == "1"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(body).Encode(SnapshotResponse{DB: id, Schema: db.Schema(), Snapshot: snap})
}
