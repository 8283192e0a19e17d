// Package admin is the agent's admin endpoint: its HTTP routes (/metrics,
// /healthz, /readyz, and /snapshot and /backup for the commands that read a
// database the agent holds), their wire types, and the client those commands
// use on a running agent.
package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"headcount/store"
)

// Options is what the endpoint serves.
type Options struct {
	// DB is the agent's open database, read for /snapshot and /backup.
	DB *store.DB
	// Metrics gathers /metrics.
	Metrics prometheus.Gatherer
	// Ready returns /readyz's body; Ready is true once the agent meters.
	Ready func() Readiness
}

// Handler returns the admin endpoint's routes.
func Handler(o Options) http.Handler {
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
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) { snapshot(o.DB, w, r) })
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, _ *http.Request) { backup(o.DB, w) })
	return mux
}

// backup streams a consistent copy of the database, from one read
// transaction, for `headcount backup` and `headcount check` while the agent
// holds the file.
func backup(db *store.DB, w http.ResponseWriter) {
	id, err := store.FileID(db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(BackupDBHeader, id)
	_, _ = db.Backup(w) // a failure mid-stream shows as a short body, which the client detects
}

// snapshot answers /snapshot?from=YYYY-MM-DD&to=YYYY-MM-DD[&hours=1][&windows=1]
// from one read transaction. It carries numbers and timestamps only.
func snapshot(db *store.DB, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := time.Parse(time.DateOnly, q.Get("from"))
	to, err2 := time.Parse(time.DateOnly, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil || !from.Before(to) {
		http.Error(w, "want from and to as YYYY-MM-DD, from before to", http.StatusBadRequest)
		return
	}
	id, err := store.FileID(db.Path())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	snap, err := db.Snapshot(from, to, store.Parts{Hours: q.Get("hours") == "1", Windows: q.Get("windows") == "1"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(SnapshotResponse{DB: id, Snapshot: snap})
}
