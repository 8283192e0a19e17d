package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"headcount/store"
)

// An agent built before schema 2 answers /snapshot with days and windows
// that carry no classes: export from a newer build reads them as
// unclassified (nothing was classified then), not as sessions of people.
// An agent of this build says its schema, and its classes are kept.
func TestClient_SnapshotOfAnOlderAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headcount.db")
	if err := os.WriteFile(path, []byte("a database file"), 0o600); err != nil { // its identity is all the client reads
		t.Fatal(err)
	}
	id, err := store.FileID(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		want       store.DayCount
		wantWindow store.WindowCount
	}{
		{"schema-1 agent", fmt.Sprintf(`{"db":%q,"snapshot":{"environment":"e","days":[{"day":"2024-03-10T00:00:00Z","sessions":5}],`+
			`"hours":null,"windows":[{"start":"2024-03-10T09:00:00Z","sessions":5}],"coverage":[]}}`, id),
			store.DayCount{Day: time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), Sessions: 5, Unclassified: 5},
			store.WindowCount{Start: time.Date(2024, 3, 10, 9, 0, 0, 0, time.UTC), Sessions: 5, Unclassified: 5}},
		{"schema-2 agent", fmt.Sprintf(`{"db":%q,"schema":2,"snapshot":{"environment":"e","days":[{"day":"2024-03-10T00:00:00Z","sessions":5,"bots":2,"unclassified":0}],`+
			`"hours":null,"hour_sessions":null,"windows":[{"start":"2024-03-10T09:00:00Z","sessions":5,"bots":2,"unclassified":0}],"coverage":[]}}`, id),
			store.DayCount{Day: time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC), Sessions: 5, Bots: 2},
			store.WindowCount{Start: time.Date(2024, 3, 10, 9, 0, 0, 0, time.UTC), Sessions: 5, Bots: 2}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tc.body))
		}))
		snap, err := Client{Addr: srv.Listener.Addr().String()}.Snapshot(path, time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 3, 11, 0, 0, 0, 0, time.UTC), store.Parts{Windows: true})
		srv.Close()
		if err != nil || len(snap.Days) != 1 || snap.Days[0] != tc.want || len(snap.Windows) != 1 || snap.Windows[0] != tc.wantWindow {
			t.Errorf("%s: days %+v, windows %+v, %v; want [%+v], [%+v]", tc.name, snap.Days, snap.Windows, err, tc.want, tc.wantWindow)
		}
	}
}

// The agent says its database's schema with the snapshot.
func TestEndpoint_SnapshotSaysItsSchema(t *testing.T) {
	db := mustDB(t)
	e := mustEndpoint(t, db, Options{})
	rec := serveRecorded(e, "127.0.0.1:1234", "/snapshot?from=2024-03-10&to=2024-03-11", "", "")
	var answer SnapshotResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Schema != store.SchemaVersion {
		t.Errorf("snapshot schema %d, %v; want %d (body %s)", answer.Schema, err, store.SchemaVersion, rec.Body)
	}
}
