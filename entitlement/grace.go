package entitlement

import (
	"fmt"
	"headcount/internal/plural"
	"time"
)

// GracePeriod is how long the product keeps its entitlement once it can no
// longer be confirmed: 28 days.
const GracePeriod = 28 * 24 * time.Hour

// MaxExtensionDays is the longest one-time extension of the grace period a
// vendor can grant.
const MaxExtensionDays = 14

// clockTolerance is how far the clock may go back (NTP corrections, a VM
// restored) before it counts as set back.
const clockTolerance = time.Hour

// Outcome is the result of an entitlement check: the six scenarios of seed
// 004.
type Outcome int

const (
	Valid                  Outcome = iota + 1 // the entitlement is valid
	ExpiredInGrace                            // the entitlement ended; within the grace period
	NoEntitlement                             // no valid entitlement; the grace period is over
	UnreachableGraceStarts                    // the entitlement server failed; a grace period starts
	UnreachableInGrace                        // the entitlement server failed; within the grace period
	UnreachableGraceOver                      // the entitlement server failed; the grace period is over
)

// String names the outcome as metrics and /readyz show it.
func (o Outcome) String() string {
	switch o {
	case Valid:
		return "valid"
	case ExpiredInGrace:
		return "expired_in_grace"
	case NoEntitlement:
		return "no_entitlement"
	case UnreachableGraceStarts:
		return "unreachable_grace_started"
	case UnreachableInGrace:
		return "unreachable_in_grace"
	case UnreachableGraceOver:
		return "unreachable_grace_over"
	}
	return "unchecked"
}

// Evidence is what one check found.
type Evidence struct {
	// Kind says where the answer came from and what it was.
	Kind Kind
	// License is the verified licence (Kind LicenseFile), or what the
	// entitlement server said of it.
	License License
	// End is the last day of the entitlement when the server says it
	// expired (Kind ServerExpired).
	End Date
}

// Kind is the kind of evidence.
type Kind int

const (
	LicenseFile       Kind = iota + 1 // an offline, signed licence
	ServerValid                       // the entitlement server confirmed it
	ServerExpired                     // the entitlement server says it ended on End
	ServerNone                        // the entitlement server knows no entitlement
	ServerUnreachable                 // the entitlement server could not be asked
)

// State is what must survive restarts: it is kept in the database.
type State struct {
	// GraceStart is when the current grace period began; zero while the
	// entitlement is valid.
	GraceStart time.Time `json:"grace_start,omitzero"`
	// ExtensionDays is the one-time extension granted, and ExtensionToken
	// the token that granted it (a token works once, and only one does).
	ExtensionDays  int    `json:"extension_days,omitempty"`
	ExtensionToken string `json:"extension_token,omitempty"`
	// ExtendedUntil is when the extension ends (see Extension.Apply): a
	// grace period running then lasts at least until it. Zero in a state
	// written before it existed: ExtensionDays then lengthen the grace
	// period from its end, as they did.
	ExtendedUntil time.Time `json:"extended_until,omitzero"`
	// LatestSeen is the latest time any check saw: a clock set back before
	// it does not shorten or reset the grace period.
	LatestSeen time.Time `json:"latest_seen,omitzero"`
}

// Status is the result of a check, with its facts and the log line that
// says them.
type Status struct {
	Outcome      Outcome
	End          time.Time // the last day of the entitlement, when known
	GraceEnd     time.Time // when the grace period ends, ended or would end
	DaysLeft     int       // of the entitlement when valid, of the grace period otherwise
	ClockSetBack bool      // now was before LatestSeen: LatestSeen was used
	Extension    string    // the token of the one-time extension, once applied
	Message      string
}

// Evaluate decides the outcome of a check made at now with evidence ev, given
// the persisted state, and returns the status and the state to persist. It
// is pure: the clock is a parameter.
func Evaluate(now time.Time, ev Evidence, st State) (Status, State) {
	var s Status
	if now.Before(st.LatestSeen.Add(-clockTolerance)) {
		s.ClockSetBack = true
		now = st.LatestSeen
	}
	if now.After(st.LatestSeen) {
		st.LatestSeen = now
	}
	s.Extension = st.ExtensionToken
	// startGrace starts the grace period at from unless one is running.
	startGrace := func(from time.Time) {
		if st.GraceStart.IsZero() || from.Before(st.GraceStart) {
			st.GraceStart = from
		}
		s.GraceEnd = st.graceEnd()
	}

	switch ev.Kind {
	case LicenseFile, ServerValid:
		end := ev.License.End
		s.End = end.Time
		if ev.Kind == ServerValid || end.IsZero() || now.Before(end.AddDate(0, 0, 1)) {
			s.Outcome = Valid
			st.GraceStart = time.Time{}
			if !end.IsZero() {
				s.DaysLeft = daysUntil(now, end.AddDate(0, 0, 1))
			}
			break
		}
		startGrace(end.AddDate(0, 0, 1))
		s.Outcome = ExpiredInGrace
	case ServerExpired:
		s.End = ev.End.Time
		startGrace(ev.End.AddDate(0, 0, 1))
		s.Outcome = ExpiredInGrace
	case ServerNone:
		// No entitlement at all: no grace to give. A grace period already
		// running (from an expiry or a failed connection) is reported as over.
		s.Outcome = NoEntitlement
		s.GraceEnd = now
		if end := st.graceEnd(); !st.GraceStart.IsZero() && end.Before(now) {
			s.GraceEnd = end
		}
	case ServerUnreachable:
		if st.GraceStart.IsZero() {
			startGrace(now)
			s.Outcome = UnreachableGraceStarts
			break
		}
		startGrace(st.GraceStart)
		s.Outcome = UnreachableInGrace
	}
	if s.Outcome != Valid {
		s.DaysLeft = daysUntil(now, s.GraceEnd)
		if s.DaysLeft == 0 {
			switch s.Outcome {
			case ExpiredInGrace:
				s.Outcome = NoEntitlement
			case UnreachableInGrace:
				s.Outcome = UnreachableGraceOver
			}
		}
	}
	s.Message = s.message(ev)
	return s, st
}

// graceEnd returns when the grace period that started at st.GraceStart
// ends: GracePeriod later, or when the extension ends if that is later.
func (st State) graceEnd() time.Time {
	end := st.GraceStart.Add(GracePeriod)
	if st.ExtendedUntil.IsZero() {
		return end.Add(time.Duration(st.ExtensionDays) * 24 * time.Hour)
	}
	if st.ExtendedUntil.After(end) {
		return st.ExtendedUntil
	}
	return end
}

// daysUntil counts the days from now to t, rounded up; 0 once t is past.
func daysUntil(now, t time.Time) int {
	if !now.Before(t) {
		return 0
	}
	return int((t.Sub(now) + 24*time.Hour - 1) / (24 * time.Hour))
}

func date(t time.Time) string { return t.UTC().Format(dateLayout) }

// message says the status in headcount's words, with the facts of seed
// 004's six log messages.
func (s Status) message(ev Evidence) string {
	switch s.Outcome {
	case Valid:
		if ev.Kind == ServerValid {
			if s.End.IsZero() {
				return "entitlement valid, confirmed by the entitlement server"
			}
			return fmt.Sprintf("entitlement valid, confirmed by the entitlement server: contract ends on %s (%s left)", date(s.End), plural.Count(s.DaysLeft, "day"))
		}
		l := ev.License
		return fmt.Sprintf("entitlement valid: licence %s for %s, %d sessions a year, contract ends on %s (%s left)",
			l.ID, l.Deployment, l.Sessions, date(s.End), plural.Count(s.DaysLeft, "day"))
	case ExpiredInGrace:
		return fmt.Sprintf("entitlement ended on %s; the grace period ends on %s (%s left): renew the contract to keep the entitlement",
			date(s.End), date(s.GraceEnd), plural.Count(s.DaysLeft, "day"))
	case NoEntitlement:
		if s.Extension != "" {
			return fmt.Sprintf("no valid entitlement: the grace period ended on %s; the one-time extension (token %s) is used: renew the contract",
				date(s.GraceEnd), s.Extension)
		}
		return fmt.Sprintf("no valid entitlement: the grace period ended on %s; renew the contract, or ask the vendor for the one-time extension of up to %d days",
			date(s.GraceEnd), MaxExtensionDays)
	case UnreachableGraceStarts:
		return fmt.Sprintf("the entitlement server could not be reached: a grace period of %d days starts and ends on %s; check the connection to the entitlement server",
			int(GracePeriod/(24*time.Hour)), date(s.GraceEnd))
	case UnreachableInGrace:
		return fmt.Sprintf("the entitlement server could not be reached: within the grace period, which ends on %s (%s left); check the connection to the entitlement server",
			date(s.GraceEnd), plural.Count(s.DaysLeft, "day"))
	case UnreachableGraceOver:
		if s.Extension != "" {
			return fmt.Sprintf("the entitlement server could not be reached and the grace period ended on %s; the one-time extension (token %s) is used: check the connection to the entitlement server",
				date(s.GraceEnd), s.Extension)
		}
		return fmt.Sprintf("the entitlement server could not be reached and the grace period ended on %s; ask the vendor for the one-time extension of up to %d days",
			date(s.GraceEnd), MaxExtensionDays)
	}
	return "entitlement not checked"
}
