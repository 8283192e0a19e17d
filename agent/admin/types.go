package admin

import (
	"time"

	"headcount/store"
)

// BackupDBHeader carries, with /backup's body, the identity of the file it
// copies (store.FileID).
const BackupDBHeader = "X-Headcount-Db"

// SnapshotResponse is /snapshot's body: what `headcount export` reads from a
// running agent, which holds the database file's lock. DB identifies the
// file (store.FileID), so that export can check it asked the right agent.
type SnapshotResponse struct {
	DB string `json:"db"`
	// Schema is the schema of the database the snapshot was read from. An
	// agent built before schema 2 sends none (0): its days and windows carry
	// no classes, and every session in them is unclassified.
	Schema   uint64         `json:"schema,omitempty"`
	Snapshot store.Snapshot `json:"snapshot"`
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
	// LicenseProblem says why the licence file last read again did not
	// verify (a configuration error; the licence read before stays in force).
	LicenseProblem string `json:"licence_problem,omitempty"`
}
