package entitlement

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"headcount/internal/plural"
	"time"
)

// Extension is a vendor's one-time extension of the grace period.
type Extension struct {
	TokenID    string    `json:"token_id"`
	LicenseID  string    `json:"license_id,omitempty"`
	Deployment string    `json:"deployment_id"`
	Days       int       `json:"extension_days"`
	Issued     time.Time `json:"issued_at"`
}

// Check reports what is wrong with e.
func (e Extension) Check() error {
	switch {
	case e.TokenID == "":
		return errors.New("token_id is empty")
	case e.Deployment == "":
		return errors.New("deployment_id is empty")
	case e.Days < 1 || e.Days > MaxExtensionDays:
		return fmt.Errorf("extension_days %d: an extension is 1 to %d days", e.Days, MaxExtensionDays)
	case e.Issued.IsZero():
		return errors.New("issued_at is required: the extension's days count from it")
	}
	return nil
}

// SignExtension signs an extension document (JSON) with the vendor's key.
func SignExtension(doc []byte, key ed25519.PrivateKey) ([]byte, error) {
	var e Extension
	if err := json.Unmarshal(doc, &e); err != nil {
		return nil, fmt.Errorf("the extension is not valid JSON: %w", err)
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return signDocument("extension", e, key)
}

// VerifyExtension checks a signed extension token with the vendor's public
// key and returns the extension.
func VerifyExtension(file []byte, pub ed25519.PublicKey) (Extension, error) {
	var e Extension
	if err := verifyDocument(file, "extension", "extension token", pub, &e); err != nil {
		return Extension{}, err
	}
	return e, e.Check()
}

// ErrExtensionUsed is returned when a deployment already had its one-time
// extension.
var ErrExtensionUsed = errors.New("the one-time extension was already applied")

// ErrNoGrace is returned for an extension when no grace period is recorded.
var ErrNoGrace = errors.New("no grace period is recorded: the entitlement was valid at the agent's last check, or was never checked; an extension is for a grace period that runs or has ended (the token was not used: keep it)")

// ErrExtensionAddsNothing is returned for an extension whose days are over.
var ErrExtensionAddsNothing = errors.New("the extension adds nothing")

// Grant is what an applied extension gives.
type Grant struct {
	// From is when its days start: the token's issue, or the end of the
	// grace period if that is later (FromGraceEnd).
	From         time.Time
	FromGraceEnd bool
	// Until is when the grace period now ends; DaysLeft counts the days
	// from the moment it was applied, rounded up.
	Until    time.Time
	DaysLeft int
}

// Apply grants e to st for deployment at now: once, and only one extension
// ever. Its days count from the token's issue, or from the end of the grace
// period if that is later: a token issued while the grace period runs adds
// its days to the end, one issued after the end gives its days from its
// issue, whatever the site's clock says when it is applied. A token whose
// days are over by now adds nothing and is refused, unused, as it is when no
// grace period is recorded.
func (e Extension) Apply(st State, deployment string, now time.Time) (State, Grant, error) {
	if e.Deployment != deployment {
		return st, Grant{}, fmt.Errorf("the token is for deployment %q, this one is %q", e.Deployment, deployment)
	}
	if st.ExtensionToken != "" {
		return st, Grant{}, fmt.Errorf("%w (token %s, %s)", ErrExtensionUsed, st.ExtensionToken, plural.Count(st.ExtensionDays, "day"))
	}
	if st.GraceStart.IsZero() {
		return st, Grant{}, ErrNoGrace
	}
	if now.Before(st.LatestSeen) {
		now = st.LatestSeen // a clock set back does not make a spent token count
	}
	g := Grant{From: e.Issued.UTC()}
	if end := st.graceEnd(); end.After(g.From) {
		g.From, g.FromGraceEnd = end, true
	}
	g.Until = g.From.Add(time.Duration(e.Days) * 24 * time.Hour)
	if g.DaysLeft = daysUntil(now, g.Until); g.DaysLeft == 0 {
		return st, Grant{}, fmt.Errorf("%w: token %s's %s ran from %s to %s, which has passed (now %s); it was not used: ask the vendor for a new token",
			ErrExtensionAddsNothing, e.TokenID, plural.Count(e.Days, "day"), g.fromString(), minute(g.Until), minute(now))
	}
	st.ExtensionDays, st.ExtensionToken, st.ExtendedUntil = e.Days, e.TokenID, g.Until
	return st, g, nil
}

// minute writes t as YYYY-MM-DD HH:MM UTC.
func minute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// fromString says where g's days start, for messages.
func (g Grant) fromString() string {
	if g.FromGraceEnd {
		return "the end of the grace period on " + minute(g.From)
	}
	return "its issue on " + minute(g.From)
}

// String says what g gives, for the command that applied it.
func (g Grant) String() string {
	return fmt.Sprintf("the grace period now ends on %s, %s after %s (%s from now)",
		minute(g.Until), plural.Count(int(g.Until.Sub(g.From)/(24*time.Hour)), "day"), g.fromString(), plural.Count(g.DaysLeft, "day"))
}
