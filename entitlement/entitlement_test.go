package entitlement

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func day(s string) Date {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(err)
	}
	return Date{t}
}

var lic = License{ID: "L-2026-0042", Licensee: "Example Bank", Deployment: "dx-prod", Product: "headcount", Sessions: 4_000_000,
	Start: day("2026-01-01"), End: day("2026-12-31"), Issued: time.Date(2025, 12, 1, 9, 0, 0, 0, time.UTC)}

func MustKeys(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestSignVerify(t *testing.T) {
	priv, pub := MustKeys(t)
	doc := []byte(`{"license_id":"L-2026-0042","licensee":"Example Bank","deployment_id":"dx-prod","product":"headcount",
		"entitled_sessions_per_year":4000000,"contract_start":"2026-01-01","contract_end":"2026-12-31","issued_at":"2025-12-01T09:00:00Z"}`)
	file, err := Sign(doc, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(file, pub)
	if err != nil || got.ID != lic.ID || got.Sessions != lic.Sessions || !got.End.Equal(lic.End.Time) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	_, otherPub := MustKeys(t)
	edited := bytes.Replace(file, []byte("2026-12-31"), []byte("2027-12-31"), 1)
	if bytes.Equal(edited, file) {
		t.Fatal("the test did not edit the licence")
	}
	cases := []struct {
		name string
		file []byte
		pub  ed25519.PublicKey
		want error
	}{
		{"edited contract end", edited, pub, ErrSignature},
		{"another vendor's key", file, otherPub, ErrSignature},
	}
	for _, tc := range cases {
		if _, err := Verify(tc.file, tc.pub); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify error = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Verify([]byte(`{"hello":1}`), pub); err == nil || err.Error() != "not a signed headcount licence" {
		t.Errorf("a foreign file: %v", err)
	}
	if _, err := Sign([]byte(`{"license_id":"x","deployment_id":"d","contract_start":"2026-05-01","contract_end":"2026-04-01"}`), priv); err == nil ||
		err.Error() != "contract_end 2026-04-01 is before contract_start 2026-05-01" {
		t.Errorf("an inconsistent licence was signed: %v", err)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestEvaluate walks the six outcomes of the grace state machine (valid,
// ended within grace, no entitlement, and the three unreachable cases) with
// exact log lines.
func TestEvaluate(t *testing.T) {
	cases := []struct {
		name    string
		now     string
		ev      Evidence
		state   State
		outcome Outcome
		message string
	}{
		{"licence valid", "2026-06-01T12:00:00Z", Evidence{Kind: LicenseFile, License: lic}, State{}, Valid,
			"entitlement valid: licence L-2026-0042 for dx-prod, 4000000 sessions a year, contract ends on 2026-12-31 (214 days left)"},
		{"licence valid, last day", "2026-12-31T12:00:00Z", Evidence{Kind: LicenseFile, License: lic}, State{}, Valid,
			"entitlement valid: licence L-2026-0042 for dx-prod, 4000000 sessions a year, contract ends on 2026-12-31 (1 day left)"},
		{"licence ended, last day of grace", "2027-01-28T00:00:00Z", Evidence{Kind: LicenseFile, License: lic}, State{}, ExpiredInGrace,
			"entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (1 day left): renew the contract to keep the entitlement"},
		{"licence ended, within grace", "2027-01-10T00:00:00Z", Evidence{Kind: LicenseFile, License: lic}, State{}, ExpiredInGrace,
			"entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (19 days left): renew the contract to keep the entitlement"},
		{"licence ended, grace over", "2027-02-10T00:00:00Z", Evidence{Kind: LicenseFile, License: lic}, State{}, NoEntitlement,
			"no valid entitlement: the grace period ended on 2027-01-29; renew the contract, or ask the vendor for the one-time extension of up to 14 days"},
		{"server: expired, within grace", "2027-01-05T00:00:00Z", Evidence{Kind: ServerExpired, End: day("2026-12-31")}, State{}, ExpiredInGrace,
			"entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (24 days left): renew the contract to keep the entitlement"},
		{"server: no entitlement", "2026-06-01T00:00:00Z", Evidence{Kind: ServerNone}, State{}, NoEntitlement,
			"no valid entitlement: the grace period ended on 2026-06-01; renew the contract, or ask the vendor for the one-time extension of up to 14 days"},
		{"unreachable: grace starts", "2026-06-01T08:00:00Z", Evidence{Kind: ServerUnreachable}, State{}, UnreachableGraceStarts,
			"the entitlement server could not be reached: a grace period of 28 days starts and ends on 2026-06-29; check the connection to the entitlement server"},
		{"unreachable: within grace", "2026-06-10T08:00:00Z", Evidence{Kind: ServerUnreachable}, State{GraceStart: at("2026-06-01T08:00:00Z")}, UnreachableInGrace,
			"the entitlement server could not be reached: within the grace period, which ends on 2026-06-29 (19 days left); check the connection to the entitlement server"},
		{"unreachable: grace over", "2026-07-01T08:00:00Z", Evidence{Kind: ServerUnreachable}, State{GraceStart: at("2026-06-01T08:00:00Z")}, UnreachableGraceOver,
			"the entitlement server could not be reached and the grace period ended on 2026-06-29; ask the vendor for the one-time extension of up to 14 days"},
		{"unreachable: grace over, extended 14 days", "2026-07-01T08:00:00Z", Evidence{Kind: ServerUnreachable}, State{GraceStart: at("2026-06-01T08:00:00Z"), ExtensionDays: 14}, UnreachableInGrace,
			"the entitlement server could not be reached: within the grace period, which ends on 2026-07-13 (12 days left); check the connection to the entitlement server"},
		{"server valid again ends the grace", "2026-06-10T08:00:00Z", Evidence{Kind: ServerValid}, State{GraceStart: at("2026-06-01T08:00:00Z")}, Valid,
			"entitlement valid, confirmed by the entitlement server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, st := Evaluate(at(tc.now), tc.ev, tc.state)
			if s.Outcome != tc.outcome || s.Message != tc.message {
				t.Errorf("outcome %v, message:\n%s\nwant %v:\n%s", s.Outcome, s.Message, tc.outcome, tc.message)
			}
			if tc.outcome == Valid && !st.GraceStart.IsZero() {
				t.Errorf("a valid entitlement left a grace period running")
			}
		})
	}
}

// TestEvaluate_RestartKeepsGrace: the grace period's start is state, so a
// restart (a new Evaluate with the persisted state) keeps the original end.
func TestEvaluate_RestartKeepsGrace(t *testing.T) {
	_, st := Evaluate(at("2026-06-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, State{})
	s, _ := Evaluate(at("2026-06-20T08:00:00Z"), Evidence{Kind: ServerUnreachable}, st)
	if s.Outcome != UnreachableInGrace || date(s.GraceEnd) != "2026-06-29" {
		t.Errorf("after a restart: %v, grace ends %s; want within grace, ending 2026-06-29", s.Outcome, date(s.GraceEnd))
	}
}

// TestEvaluate_ClockSetBack: a clock set back does not restart or lengthen
// the grace period; the latest time seen is used.
func TestEvaluate_ClockSetBack(t *testing.T) {
	_, st := Evaluate(at("2026-06-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, State{})
	_, st = Evaluate(at("2026-07-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, st)
	s, _ := Evaluate(at("2026-06-05T08:00:00Z"), Evidence{Kind: ServerUnreachable}, st) // clock set back 26 days
	if !s.ClockSetBack || s.Outcome != UnreachableGraceOver {
		t.Errorf("clock set back: ClockSetBack=%v outcome %v; want true and the grace still over", s.ClockSetBack, s.Outcome)
	}
}

func TestExtension(t *testing.T) {
	priv, pub := MustKeys(t)
	doc := []byte(`{"token_id":"X-1","license_id":"L-1","deployment_id":"dx-prod","extension_days":14,"issued_at":"2026-07-01T09:00:00Z"}`)
	file, err := SignExtension(doc, priv)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := VerifyExtension(file, pub)
	if err != nil || ext.Days != 14 {
		t.Fatalf("VerifyExtension = %+v, %v", ext, err)
	}
	if _, err := VerifyExtension(bytes.Replace(file, []byte(`"extension_days":14`), []byte(`"extension_days":13`), 1), pub); !errors.Is(err, ErrSignature) {
		t.Errorf("an edited token: %v", err)
	}
	if _, err := SignExtension([]byte(`{"token_id":"X-2","deployment_id":"dx-prod","extension_days":15}`), priv); err == nil ||
		err.Error() != "extension_days 15: an extension is 1 to 14 days" {
		t.Errorf("a 15-day extension was signed: %v", err)
	}

	if _, err := SignExtension([]byte(`{"token_id":"X-2","deployment_id":"dx-prod","extension_days":14}`), priv); err == nil ||
		err.Error() != "issued_at is required: the extension's days count from it" {
		t.Errorf("an extension without issued_at was signed: %v", err)
	}

	_, st := Evaluate(at("2026-06-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, State{})
	st, _, err = ext.Apply(st, "dx-prod", at("2026-07-01T10:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	s, st := Evaluate(at("2026-07-01T10:00:00Z"), Evidence{Kind: ServerUnreachable}, st)
	if s.Outcome != UnreachableInGrace || date(s.GraceEnd) != "2026-07-15" {
		t.Errorf("extended: %v until %s, want within grace until 2026-07-15", s.Outcome, date(s.GraceEnd))
	}
	if _, _, err := ext.Apply(st, "dx-prod", at("2026-07-01T10:00:00Z")); !errors.Is(err, ErrExtensionUsed) || err.Error() != "the one-time extension was already applied (token X-1, 14 days)" {
		t.Errorf("a second use: %v", err)
	}
	other := Extension{TokenID: "X-9", Deployment: "dx-prod", Days: 3, Issued: at("2026-07-01T10:00:00Z")}
	if _, _, err := other.Apply(st, "dx-prod", at("2026-07-01T10:00:00Z")); !errors.Is(err, ErrExtensionUsed) {
		t.Errorf("a second token after the first: %v", err)
	}
	if _, _, err := (Extension{TokenID: "X-3", Deployment: "dx-uat", Days: 3}).Apply(State{}, "dx-prod", at("2026-07-01T10:00:00Z")); err == nil ||
		err.Error() != `the token is for deployment "dx-uat", this one is "dx-prod"` {
		t.Errorf("another deployment's token: %v", err)
	}
}

// TestExtension_Apply: the one-time extension's days count from the token's
// issue, or from the end of the grace period if that is later, so a token
// gives its days however long after the end it is issued; a token whose
// days are over adds nothing and is refused unused, as is one with no grace
// period recorded; once used, the log no longer offers it. The grace period
// here started 2026-06-01 08:00 and ended 2026-06-29 08:00.
func TestExtension_Apply(t *testing.T) {
	_, grace := Evaluate(at("2026-06-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, State{})
	cases := []struct {
		name         string
		issued, now  string
		state        State
		until, grant string // a granted extension: its end and Grant.String
		refused      string // or the whole refusal
	}{
		{"applied while the grace period runs: its days add to the end", "2026-06-20T09:00:00Z", "2026-06-20T10:00:00Z", grace, "2026-07-13T08:00:00Z",
			"the grace period now ends on 2026-07-13 08:00 UTC, 14 days after the end of the grace period on 2026-06-29 08:00 UTC (23 days from now)", ""},
		{"issued and applied right at the grace period's end", "2026-06-29T08:00:00Z", "2026-06-29T08:00:00Z", grace, "2026-07-13T08:00:00Z",
			"the grace period now ends on 2026-07-13 08:00 UTC, 14 days after its issue on 2026-06-29 08:00 UTC (14 days from now)", ""},
		{"11 days after the end: 14 days, not 3", "2026-07-10T08:00:00Z", "2026-07-10T09:00:00Z", grace, "2026-07-24T08:00:00Z",
			"the grace period now ends on 2026-07-24 08:00 UTC, 14 days after its issue on 2026-07-10 08:00 UTC (14 days from now)", ""},
		{"20 days after the end: 14 days, not none", "2026-07-19T08:00:00Z", "2026-07-19T10:00:00Z", grace, "2026-08-02T08:00:00Z",
			"the grace period now ends on 2026-08-02 08:00 UTC, 14 days after its issue on 2026-07-19 08:00 UTC (14 days from now)", ""},
		{"applied 9 days after its issue: the 5 days left of it", "2026-07-10T08:00:00Z", "2026-07-19T08:00:00Z", grace, "2026-07-24T08:00:00Z",
			"the grace period now ends on 2026-07-24 08:00 UTC, 14 days after its issue on 2026-07-10 08:00 UTC (5 days from now)", ""},
		{"its days are over", "2026-07-10T08:00:00Z", "2026-07-24T08:00:00Z", grace, "", "",
			"the extension adds nothing: token X-1's 14 days ran from its issue on 2026-07-10 08:00 UTC to 2026-07-24 08:00 UTC, which has passed (now 2026-07-24 08:00 UTC); it was not used: ask the vendor for a new token"},
		{"issued before the end, applied after its days from the end", "2026-06-10T08:00:00Z", "2026-07-20T08:00:00Z", grace, "", "",
			"the extension adds nothing: token X-1's 14 days ran from the end of the grace period on 2026-06-29 08:00 UTC to 2026-07-13 08:00 UTC, which has passed (now 2026-07-20 08:00 UTC); it was not used: ask the vendor for a new token"},
		{"a clock set back does not make a spent token count", "2026-07-10T08:00:00Z", "2026-07-11T08:00:00Z",
			State{GraceStart: grace.GraceStart, LatestSeen: at("2026-07-30T08:00:00Z")}, "", "",
			"the extension adds nothing: token X-1's 14 days ran from its issue on 2026-07-10 08:00 UTC to 2026-07-24 08:00 UTC, which has passed (now 2026-07-30 08:00 UTC); it was not used: ask the vendor for a new token"},
		{"no grace period recorded", "2026-07-10T08:00:00Z", "2026-07-10T09:00:00Z", State{}, "", "",
			"no grace period is recorded: the entitlement was valid at the agent's last check, or was never checked; an extension is for a grace period that runs or has ended (the token was not used: keep it)"},
		{"a second token", "2026-07-10T08:00:00Z", "2026-07-10T09:00:00Z",
			State{GraceStart: grace.GraceStart, ExtensionDays: 7, ExtensionToken: "X-0", ExtendedUntil: at("2026-07-06T08:00:00Z")}, "", "",
			"the one-time extension was already applied (token X-0, 7 days)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ext := Extension{TokenID: "X-1", Deployment: "dx-prod", Days: 14, Issued: at(tc.issued)}
			st, g, err := ext.Apply(tc.state, "dx-prod", at(tc.now))
			if tc.refused != "" {
				if err == nil || err.Error() != tc.refused {
					t.Errorf("error:\n%v\nwant:\n%s", err, tc.refused)
				}
				if st != tc.state {
					t.Errorf("a refused token changed the state: %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !st.ExtendedUntil.Equal(at(tc.until)) || st.ExtensionToken != "X-1" || st.ExtensionDays != 14 || g.String() != tc.grant {
				t.Errorf("state %+v, grant %q; want extended until %s, %q", st, g, tc.until, tc.grant)
			}
			// The agent's check sees the same end, whatever its evidence.
			for _, ev := range []Evidence{{Kind: ServerUnreachable}, {Kind: LicenseFile, License: License{ID: "L-1", End: day("2026-05-31")}}} {
				s, _ := Evaluate(at(tc.now), ev, st)
				if !s.GraceEnd.Equal(at(tc.until)) || s.Outcome == NoEntitlement || s.Outcome == UnreachableGraceOver {
					t.Errorf("%v: checked at once: %v until %s, want within grace until %s", ev.Kind, s.Outcome, s.GraceEnd, tc.until)
				}
			}
		})
	}

	// After the extension: the log says when it ends, then that it was used,
	// never to ask for it again.
	st, _, err := Extension{TokenID: "X-1", Deployment: "dx-prod", Days: 14, Issued: at("2026-07-10T08:00:00Z")}.Apply(grace, "dx-prod", at("2026-07-10T09:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	ended := License{ID: "L-1", Deployment: "dx-prod", End: day("2026-05-31")}
	for _, tc := range []struct {
		now     string
		ev      Evidence
		outcome Outcome
		message string
	}{
		{"2026-07-20T08:00:00Z", Evidence{Kind: ServerUnreachable}, UnreachableInGrace,
			"the entitlement server could not be reached: within the grace period, which ends on 2026-07-24 (4 days left); check the connection to the entitlement server"},
		{"2026-07-25T08:00:00Z", Evidence{Kind: ServerUnreachable}, UnreachableGraceOver,
			"the entitlement server could not be reached and the grace period ended on 2026-07-24; the one-time extension (token X-1) is used: check the connection to the entitlement server"},
		{"2026-07-25T08:00:00Z", Evidence{Kind: LicenseFile, License: ended}, NoEntitlement,
			"no valid entitlement: the grace period ended on 2026-07-24; the one-time extension (token X-1) is used: renew the contract"},
	} {
		s, _ := Evaluate(at(tc.now), tc.ev, st)
		if s.Outcome != tc.outcome || s.Message != tc.message {
			t.Errorf("at %s: %v %q\nwant %v %q", tc.now, s.Outcome, s.Message, tc.outcome, tc.message)
		}
	}
	// A later lapse, long after the extension ended, gets the plain 28 days.
	_, renewed := Evaluate(at("2026-08-01T08:00:00Z"), Evidence{Kind: ServerValid}, st)
	s, _ := Evaluate(at("2027-03-01T08:00:00Z"), Evidence{Kind: ServerUnreachable}, renewed)
	if date(s.GraceEnd) != "2027-03-29" {
		t.Errorf("a later grace period ends on %s, want 2027-03-29 (28 days, the extension long over)", date(s.GraceEnd))
	}
}

func TestForecast(t *testing.T) {
	l := License{Sessions: 1_000_000, Start: day("2025-03-01"), End: day("2027-02-28")}
	cases := []struct {
		name                  string
		day                   string
		used, recent          uint64
		wantStart, wantOut    string
		wantPercent, wantRate float64
	}{
		{"runs out within the year", "2026-06-01", 600_000, 150_000, "2026-03-01", "2026-08-20", 60, 5000}, // 400,000 left at 5,000 a day: 80 days
		{"lasts the year", "2026-06-01", 100_000, 30_000, "2026-03-01", "", 10, 1000},
		{"already used up", "2026-12-01", 1_200_000, 90_000, "2026-03-01", "2026-12-01", 120, 3000},
		{"first year, quiet", "2025-03-15", 0, 0, "2025-03-01", "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := l.Forecast(day(tc.day).Time, tc.used, tc.recent, 30)
			out := ""
			if !u.RunsOut.IsZero() {
				out = date(u.RunsOut)
			}
			if date(u.YearStart) != tc.wantStart || out != tc.wantOut || u.Percent != tc.wantPercent || u.DailyRate != tc.wantRate {
				t.Errorf("year %s, runs out %q, %.1f%%, %.0f/day; want %s, %q, %.1f%%, %.0f/day",
					date(u.YearStart), out, u.Percent, u.DailyRate, tc.wantStart, tc.wantOut, tc.wantPercent, tc.wantRate)
			}
		})
	}
}

// TestLicense_Consume_UnmeteredDays: the daily rate averages the metered
// days of the last 30 only; a day not metered is left out, not averaged in
// as 0, even when a session is stored on it; with no metered day there is
// no rate and no forecast.
func TestLicense_Consume_UnmeteredDays(t *testing.T) {
	l := License{Sessions: 100_000, Start: day("2025-03-01"), End: day("2027-02-28")}
	now := day("2026-06-30").Time.Add(15 * time.Hour)
	var days []DaySessions
	// The last 30 days are 2026-06-01..30: 18 metered with 500 each, 12 not
	// metered, one of them with a stored session.
	for i := 0; i < 30; i++ {
		d := day("2026-06-01").Time.AddDate(0, 0, i)
		switch {
		case i < 18:
			days = append(days, DaySessions{Day: d, Sessions: 500, Metered: true})
		case i == 20:
			days = append(days, DaySessions{Day: d, Sessions: 7})
		}
	}
	u := l.Consume(now, days)
	if u.RecentMetered != 18 || u.DailyRate != 500 || u.Used != 18*500+7 {
		t.Errorf("metered %d, rate %.2f, used %d; want 18 metered days, 500 a day (not 9,007 / 30), 9007 used", u.RecentMetered, u.DailyRate, u.Used)
	}
	// 90,993 left at 500 a day: 182 days (at 9,007 / 30 it lasted the year).
	if got := date(u.RunsOut); got != "2026-12-29" {
		t.Errorf("runs out %q, want 2026-12-29", got)
	}
	// Only days before the last 30 were metered: no rate, no forecast.
	u = l.Consume(now, []DaySessions{{Day: day("2026-05-31").Time, Sessions: 90_000, Metered: true}})
	if u.RecentMetered != 0 || u.DailyRate != 0 || !u.RunsOut.IsZero() || u.Used != 90_000 {
		t.Errorf("metered %d, rate %.2f, runs out %v, used %d; want 0, 0, none, 90000", u.RecentMetered, u.DailyRate, u.RunsOut, u.Used)
	}
}
