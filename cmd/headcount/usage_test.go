package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsage_UnmeteredDays: the 30-day rate of headcount usage averages the
// metered days only and says how many it averaged; the JSON and HTML
// reports' consumption say the same. With 18 of the last 30 days metered at
// 500 sessions, the rate is 500 (not 9,000 / 30 = 300), and the forecast
// follows it; with none of them metered there is no rate and no forecast.
func TestUsage_UnmeteredDays(t *testing.T) {
	dir := t.TempDir()
	today, start, vendor, lic := usageLicence(t, dir)
	usage := func(db string) string {
		t.Helper()
		code, out, errOut := runCLI(t, "usage", "--db", db, "--license", lic, "--license-pubkey", vendor+".pub")
		if code != 0 || errOut != "" {
			t.Fatalf("usage: status %d, stderr %q", code, errOut)
		}
		return out
	}
	year := fmt.Sprintf("licence L-9 for dx-prod: contract year %s to %s\n", start.Format("2006-01-02"), start.AddDate(1, 0, -1).Format("2006-01-02"))

	// Of the last 30 days (today-29..today), the 12 from today-29 to today-18
	// were not metered; the other 18 were, 500 sessions each.
	history := "date,sessions\n"
	for d := today.AddDate(0, 0, -17); !d.After(today); d = d.AddDate(0, 0, 1) {
		history += d.Format("2006-01-02") + ",500\n"
	}
	db := filepath.Join(dir, "gaps.db")
	writeTestFile(t, filepath.Join(dir, "gaps.csv"), history)
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, filepath.Join(dir, "gaps.csv")); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	// 9,000 used; 91,000 left at 500 a day: 182 days.
	want := year + "sessions used 9000 of 100000 (9.0 %)\n" +
		"recent rate 500 sessions a day (averaged over the 18 metered days of the last 30; days not metered are left out)\n" +
		"at this rate the entitlement runs out on " + today.AddDate(0, 0, 182).Format("2006-01-02") + "\n"
	if out := usage(db); out != want {
		t.Errorf("usage with 12 unmetered days:\n%s\nwant:\n%s", out, want)
	}
	from, to := today.AddDate(0, 0, -7).Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02")
	_, js, _ := runCLI(t, "export", "--db", db, "--format", "json", "--license", lic, "--license-pubkey", vendor+".pub", from, to)
	if want := `"daily_rate_30_days":500,"daily_rate_metered_days":18,`; !strings.Contains(js, want) {
		t.Errorf("JSON report lacks %s", want)
	}
	_, page, _ := runCLI(t, "export", "--db", db, "--format", "html", "--license", lic, "--license-pubkey", vendor+".pub", from, to)
	if want := "Last 30 days: 500 sessions a day, averaged over the 18 metered days (days not metered are left out). At this rate it runs out on " +
		today.AddDate(0, 0, 182).Format("2006-01-02") + ".</p>"; !strings.Contains(page, want) {
		t.Errorf("HTML report lacks %q", want)
	}

	// Metered only before the last 30 days: no rate, no forecast.
	db = filepath.Join(dir, "old.db")
	writeTestFile(t, filepath.Join(dir, "old.csv"), "date,sessions\n"+today.AddDate(0, 0, -30).Format("2006-01-02")+",700\n")
	if code, _, errOut := runCLI(t, "import", "--create", "--db", db, filepath.Join(dir, "old.csv")); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	want = year + "sessions used 700 of 100000 (0.7 %)\n" +
		"recent rate unknown: none of the last 30 days was metered\n" +
		"no forecast: it needs a metered day among the last 30\n"
	if out := usage(db); out != want {
		t.Errorf("usage with no metered day in the last 30:\n%s\nwant:\n%s", out, want)
	}
	_, page, _ = runCLI(t, "export", "--db", db, "--format", "html", "--license", lic, "--license-pubkey", vendor+".pub", from, to)
	if want := "Last 30 days: none was metered, so there is no daily rate. No forecast without a metered day among the last 30.</p>"; !strings.Contains(page, want) {
		t.Errorf("HTML report lacks %q", want)
	}
}
