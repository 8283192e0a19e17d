package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"headcount/agent/admin"
	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/entitlement"
	"headcount/internal/botclass"
	"headcount/usage"
)

// metricsSources is what the metrics are read from at scrape time, so that
// the request path pays nothing for them. Usage and License are nil when not
// configured.
type metricsSources struct {
	Clock       Clock
	Server      *spop.Server
	Table       *session.Table
	Meter       *Meter
	Handler     *Handler
	Bots        *botclass.Classifier
	Coverage    *Coverage
	License     *LicenseCheck
	Usage       *usage.Sender
	Environment string
	Production  bool
	Version     string

	// AdminRefusals counts the admin endpoint's refusals.
	AdminRefusals *admin.Refusals
}

// newRegistry registers the agent's Prometheus metrics (README: Metrics).
func newRegistry(m metricsSources) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, f func() float64) {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	labelled := func(name, help string, labels prometheus.Labels, f func() float64) {
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f))
	}
	spopStat := func(f func(spop.Stats) float64) func() float64 { return func() float64 { return f(m.Server.Stats()) } }
	counter("headcount_spoe_messages_total", "SPOE messages received from HAProxy.", spopStat(func(s spop.Stats) float64 { return float64(s.Messages) }))
	gauge("headcount_spoe_connections", "Open SPOP connections from HAProxy.", spopStat(func(s spop.Stats) float64 { return float64(s.Connections) }))
	counter("headcount_spoe_connections_accepted_total", "SPOP connections served since start, health checks included; growing with the traffic, it shows HAProxy opening a connection per message instead of reusing them.", spopStat(func(s spop.Stats) float64 { return float64(s.Accepted) }))
	counter("headcount_spoe_refused_connections_total", "SPOP connections refused because the peer is outside --allow.", spopStat(func(s spop.Stats) float64 { return float64(s.Refused) }))
	counter("headcount_spoe_refused_over_limit_total", "SPOP connections refused because --max-connections were open.", spopStat(func(s spop.Stats) float64 { return float64(s.OverLimit) }))
	counter("headcount_spoe_timeouts_total", "SPOP connections closed because a HELLO, a frame or the next frame did not come in time.", spopStat(func(s spop.Stats) float64 { return float64(s.Timeouts) }))
	counter("headcount_spoe_refused_frames_total", "SPOP frames refused (a bad length, type, HELLO or NOTIFY); each closes its connection with AGENT-DISCONNECT.", spopStat(func(s spop.Stats) float64 { return float64(s.BadFrames) }))
	counter("headcount_spoe_panics_total", "Panics recovered on SPOP connections; each closed its connection only.", spopStat(func(s spop.Stats) float64 { return float64(s.Panics) }))
	counter("headcount_xff_ignored_total", "Requests whose X-Forwarded-For was left out of their session key because they did not come from --trusted-proxies.", func() float64 { return float64(m.Handler.XFFIgnored()) })
	gauge("headcount_sessions_active", "Live sessions in memory.", func() float64 { return float64(m.Table.Live()) })
	gauge("headcount_sessions_held", "Places the session table holds: live sessions and those ended within about a minute (kept to recognise late requests). At headcount_sessions_max_live, requests with a new key overflow.", func() float64 { return float64(m.Table.Held()) })
	gauge("headcount_sessions_max_live", "The places the session table may hold (--max-live-sessions).", func() float64 { return float64(m.Table.MaxLive()) })
	counter("headcount_sessions_started_total", "Sessions started since the agent started.", func() float64 { return float64(m.Table.Stats().Started) })
	const completedHelp = "Sessions completed since the agent started, by reason and by class: human or bot as the crawler list classified the session's User-Agent at its start, unclassified when it could not (over the matches per second, or recovered after a crash)."
	for _, reason := range session.Reasons {
		for _, class := range session.Classes {
			labelled("headcount_sessions_completed_total", completedHelp, prometheus.Labels{"reason": reason.String(), "class": class.String()},
				func() float64 { return float64(m.Table.Stats().ByClass[reason][class]) })
		}
	}
	labelled("headcount_sessions_completed_total", completedHelp, prometheus.Labels{"reason": "recovered", "class": session.ClassUnclassified.String()},
		func() float64 { return float64(m.Meter.Recovered()) })
	const classifiedHelp = "Session starts classified by User-Agent, by how: from the cache of recent User-Agents, by a match against the crawler list, or not at all (unknown: the matches of that second were used up, and the session counts as unclassified)."
	botStat := func(f func(botclass.Stats) uint64) func() float64 {
		return func() float64 { return float64(f(m.Bots.Stats())) }
	}
	labelled("headcount_bot_classifications_total", classifiedHelp, prometheus.Labels{"result": "cached"}, botStat(func(s botclass.Stats) uint64 { return s.Cached }))
	labelled("headcount_bot_classifications_total", classifiedHelp, prometheus.Labels{"result": "matched"}, botStat(func(s botclass.Stats) uint64 { return s.Matched }))
	labelled("headcount_bot_classifications_total", classifiedHelp, prometheus.Labels{"result": "unknown"}, botStat(func(s botclass.Stats) uint64 { return s.Unknown }))
	counter("headcount_store_flush_errors_total", "Flushes to the database that failed (their counts are kept and retried).", func() float64 { return float64(m.Meter.FlushErrors()) })
	counter("headcount_store_set_aside_total", "Flush entries the database set aside instead of counting them where they belong: a time outside 1970-9999 (a wall clock set far off) or an impossible value. Listed by headcount check.", func() float64 { return float64(m.Meter.SetAside()) })
	counter("headcount_store_pending_file_errors_total", "Failed writes of the pending file (FILE.pending), which holds the counts of failed flushes until the next start: while this grows, a crash loses everything since the last successful write.", func() float64 { return float64(m.Meter.PendingErrors()) })
	gauge("headcount_store_last_flush_timestamp_seconds", "Unix time of the last successful flush, 0 before the first.", func() float64 { return unixSeconds(m.Meter.LastFlush()) })
	gauge("headcount_coverage_last_contact_timestamp_seconds", "Unix time of HAProxy's latest contact (hello, health check or notify), 0 before the first.", func() float64 { return unixSeconds(m.Coverage.LastContact(m.Clock())) })
	gauge("headcount_entitlement_state", "The last entitlement check: 0 not checked, 1 valid, 2 ended within grace, 3 no valid entitlement (grace over), 4 server unreachable and grace started, 5 unreachable within grace, 6 unreachable and grace over.", func() float64 {
		if m.License == nil {
			return 0
		}
		return float64(m.License.Status().Outcome)
	})
	gauge("headcount_entitlement_grace_days_left", "Days left in the grace period, 0 when valid or over.", func() float64 {
		if m.License == nil || m.License.Status().Outcome == entitlement.Valid {
			return 0
		}
		return float64(m.License.Status().DaysLeft)
	})
	gauge("headcount_entitlement_licence_problem", "1 while the licence file last read again (SIGHUP) does not verify: a configuration error; the licence read before stays in force.", func() float64 {
		if m.License == nil || m.License.Problem() == "" {
			return 0
		}
		return 1
	})
	const transmissionsHelp = "Online usage transmissions attempted, by result (a failed one is resent unchanged)."
	labelled("headcount_usage_transmissions_total", transmissionsHelp, prometheus.Labels{"result": "ok"}, func() float64 {
		if m.Usage == nil {
			return 0
		}
		return float64(m.Usage.Stats().OK)
	})
	labelled("headcount_usage_transmissions_total", transmissionsHelp, prometheus.Labels{"result": "failed"}, func() float64 {
		if m.Usage == nil {
			return 0
		}
		return float64(m.Usage.Stats().Failed)
	})
	const refusedHelp = "Admin endpoint requests refused, by reason: unauthenticated (/backup or /snapshot from a client not on loopback without credentials), bad_credentials, busy (too many in flight), rate_limited, tls_handshake (connections), web_config (the file could not be read again)."
	for _, reason := range admin.Reasons {
		labelled("headcount_admin_refused_total", refusedHelp, prometheus.Labels{"reason": reason.String()}, func() float64 {
			if m.AdminRefusals == nil {
				return 0
			}
			return float64(m.AdminRefusals.Count(reason))
		})
	}
	prod := 0.0
	if m.Production {
		prod = 1
	}
	r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "headcount_info",
		Help:        "The agent's version, environment and whether it counts sessions (production).",
		ConstLabels: prometheus.Labels{"version": m.Version, "environment": m.Environment},
	}, func() float64 { return prod }))
	return r
}

// readiness returns /readyz's body.
func readiness(m metricsSources) admin.Readiness {
	body := admin.Readiness{
		Ready:           true,
		SPOPConnections: m.Server.Connections(),
		LiveSessions:    m.Table.Live(),
		FlushErrors:     m.Meter.FlushErrors(),
	}
	if t := m.Meter.LastFlush(); !t.IsZero() {
		body.LastFlush = &t
	}
	mono, wall := m.Clock()
	if t := m.Coverage.LastContact(mono, wall); !t.IsZero() {
		body.LastContact = &t
		body.HAProxyConnected = m.Coverage.Contacted(mono)
	}
	if m.License != nil {
		st := m.License.Status()
		body.Entitlement = &admin.EntitlementStatus{State: st.Outcome.String(), DaysLeft: st.DaysLeft, Message: st.Message, LicenseProblem: m.License.Problem()}
		if !st.GraceEnd.IsZero() {
			body.Entitlement.GraceEnd = &st.GraceEnd
		}
	}
	return body
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
