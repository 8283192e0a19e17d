package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The rule of days after today: they are neither covered nor gaps, and a
// report whose range reaches past today ends at today (partial, included)
// and says so in every form. Today is fixed: Wednesday 2026-11-18, 09:30 UTC.
var fixedToday = d("2026-11-18").Add(9*time.Hour + 30*time.Minute)

// futureDays: sessions on 2026-11-14 and 2026-11-16.
var futureDays = []DaySessions{{Day: d("2026-11-14"), Sessions: 7}, {Day: d("2026-11-16"), Sessions: 5}}

type futureCase struct {
	name, from, to string
	by             Granularity
	cov            []Interval
}

func futureCases() []futureCase {
	// Metered 2026-11-14 to 2026-11-16; today is not (yet): the gap from
	// 2026-11-17 runs up to today.
	gapToToday := coveredDays("2026-11-14", "2026-11-16")
	// The same, and today metered up to now: 2026-11-17 alone is a gap.
	todayMetered := append(coveredDays("2026-11-14", "2026-11-16"), Interval{d("2026-11-18"), fixedToday})
	return []futureCase{
		{"wholly past", "2026-11-14", "2026-11-18", Month, gapToToday},
		{"TO is tomorrow: ends at today, nothing cut", "2026-11-14", "2026-11-19", Week, todayMetered},
		{"last day tomorrow, by day", "2026-11-16", "2026-11-20", Day, todayMetered},
		{"gap up to today, by month", "2026-11-14", "2027-01-01", Month, gapToToday},
		{"partial week, later weeks cut", "2026-11-14", "2026-12-06", Week, todayMetered},
		{"gap up to today, by year", "2026-11-14", "2028-01-01", Year, gapToToday},
		{"range starting after today", "2026-12-01", "2027-01-01", Month, gapToToday},
		{"range starting today", "2026-11-18", "2026-11-21", Day, todayMetered},
	}
}

// futureWant is each case's exact CSV, pretty and JSON output.
var futureWant = map[string]map[Format]string{
	"wholly past": {
		CSV: `month,sessions,gaps,environment
2026-11,12,2026-11-16_2026-11-18,PROD
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for 2026-11: 12
Gap between 2026-11-16 and 2026-11-18: 1 day(s)
############################################################
Total session usage: 12
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-14",
  "to": "2026-11-18",
  "granularity": "month",
  "bots": "include",
  "total_sessions": 12,
  "total_human_sessions": 12,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11","start":"2026-11-01","end":"2026-12-01","sessions":12,"human_sessions":12,"bot_sessions":0,"unclassified_sessions":0,"covered_days":3,"gaps":[{"start":"2026-11-16","end":"2026-11-18"}]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-18","first_uncovered":"2026-11-17","last_uncovered":"2026-11-17","days":1}
  ],
  "coverage": [
    {"start":"2026-11-14T00:00:00Z","end":"2026-11-15T00:00:00Z"},
    {"start":"2026-11-15T00:00:00Z","end":"2026-11-16T00:00:00Z"},
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"}
  ],
  "days": [
    {"date":"2026-11-14","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-15","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]}
  ]
}
`,
	},
	"TO is tomorrow: ends at today, nothing cut": {
		CSV: `week,sessions,gaps,environment
2026-11-08,7,,PROD
2026-11-15,5,2026-11-16_2026-11-18,PROD
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for the week of 2026-11-08: 7
Session usage for the week of 2026-11-15: 5
Gap between 2026-11-16 and 2026-11-18: 1 day(s)
############################################################
Total session usage: 12
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-14",
  "to": "2026-11-19",
  "granularity": "week",
  "bots": "include",
  "total_sessions": 12,
  "total_human_sessions": 12,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11-08","start":"2026-11-08","end":"2026-11-15","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered_days":1,"gaps":[]},
    {"period":"2026-11-15","start":"2026-11-15","end":"2026-11-22","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered_days":3,"gaps":[{"start":"2026-11-16","end":"2026-11-18"}]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-18","first_uncovered":"2026-11-17","last_uncovered":"2026-11-17","days":1}
  ],
  "coverage": [
    {"start":"2026-11-14T00:00:00Z","end":"2026-11-15T00:00:00Z"},
    {"start":"2026-11-15T00:00:00Z","end":"2026-11-16T00:00:00Z"},
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"},
    {"start":"2026-11-18T00:00:00Z","end":"2026-11-18T09:30:00Z"}
  ],
  "days": [
    {"date":"2026-11-14","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-15","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]},
    {"date":"2026-11-18","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":10,"peak_live":0,"average_live":0,"hours":[]}
  ]
}
`,
	},
	"last day tomorrow, by day": {
		CSV: `day,sessions,gaps,environment,covered_hours,peak_live,average_live
2026-11-16,5,,PROD,24,0,0.00
2026-11-17,,2026-11-17_2026-11-17,PROD,0,0,0.00
2026-11-18,0,,PROD,10,0,0.00
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for the day 2026-11-16: 5
Session usage for the day 2026-11-18: 0
Gap between 2026-11-16 and 2026-11-18: 1 day(s)
Report ends at today, 2026-11-18
############################################################
Total session usage: 5
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-16",
  "to": "2026-11-20",
  "ends_at_today": "2026-11-18",
  "granularity": "day",
  "bots": "include",
  "total_sessions": 5,
  "total_human_sessions": 5,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11-16","start":"2026-11-16","end":"2026-11-17","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered_days":1,"gaps":[]},
    {"period":"2026-11-17","start":"2026-11-17","end":"2026-11-18","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered_days":0,"gaps":[{"start":"2026-11-17","end":"2026-11-17"}]},
    {"period":"2026-11-18","start":"2026-11-18","end":"2026-11-19","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered_days":1,"gaps":[]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-18","first_uncovered":"2026-11-17","last_uncovered":"2026-11-17","days":1}
  ],
  "coverage": [
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"},
    {"start":"2026-11-18T00:00:00Z","end":"2026-11-18T09:30:00Z"}
  ],
  "days": [
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]},
    {"date":"2026-11-18","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":10,"peak_live":0,"average_live":0,"hours":[]}
  ]
}
`,
	},
	"gap up to today, by month": {
		CSV: `month,sessions,gaps,environment
2026-11,12,2026-11-16_2026-11-19,PROD
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for 2026-11: 12
Gap between 2026-11-16 and 2026-11-19: 2 day(s)
Report ends at today, 2026-11-18
############################################################
Total session usage: 12
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-14",
  "to": "2027-01-01",
  "ends_at_today": "2026-11-18",
  "granularity": "month",
  "bots": "include",
  "total_sessions": 12,
  "total_human_sessions": 12,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11","start":"2026-11-01","end":"2026-12-01","sessions":12,"human_sessions":12,"bot_sessions":0,"unclassified_sessions":0,"covered_days":3,"gaps":[{"start":"2026-11-16","end":"2026-11-19"}]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-19","first_uncovered":"2026-11-17","last_uncovered":"2026-11-18","days":2}
  ],
  "coverage": [
    {"start":"2026-11-14T00:00:00Z","end":"2026-11-15T00:00:00Z"},
    {"start":"2026-11-15T00:00:00Z","end":"2026-11-16T00:00:00Z"},
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"}
  ],
  "days": [
    {"date":"2026-11-14","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-15","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]},
    {"date":"2026-11-18","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]}
  ]
}
`,
	},
	"partial week, later weeks cut": {
		CSV: `week,sessions,gaps,environment
2026-11-08,7,,PROD
2026-11-15,5,2026-11-16_2026-11-18,PROD
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for the week of 2026-11-08: 7
Session usage for the week of 2026-11-15: 5
Gap between 2026-11-16 and 2026-11-18: 1 day(s)
Report ends at today, 2026-11-18
############################################################
Total session usage: 12
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-14",
  "to": "2026-12-06",
  "ends_at_today": "2026-11-18",
  "granularity": "week",
  "bots": "include",
  "total_sessions": 12,
  "total_human_sessions": 12,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11-08","start":"2026-11-08","end":"2026-11-15","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered_days":1,"gaps":[]},
    {"period":"2026-11-15","start":"2026-11-15","end":"2026-11-22","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered_days":3,"gaps":[{"start":"2026-11-16","end":"2026-11-18"}]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-18","first_uncovered":"2026-11-17","last_uncovered":"2026-11-17","days":1}
  ],
  "coverage": [
    {"start":"2026-11-14T00:00:00Z","end":"2026-11-15T00:00:00Z"},
    {"start":"2026-11-15T00:00:00Z","end":"2026-11-16T00:00:00Z"},
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"},
    {"start":"2026-11-18T00:00:00Z","end":"2026-11-18T09:30:00Z"}
  ],
  "days": [
    {"date":"2026-11-14","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-15","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]},
    {"date":"2026-11-18","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":10,"peak_live":0,"average_live":0,"hours":[]}
  ]
}
`,
	},
	"gap up to today, by year": {
		CSV: `year,sessions,gaps,environment
2026,12,2026-11-16_2026-11-19,PROD
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for the year 2026: 12
Gap between 2026-11-16 and 2026-11-19: 2 day(s)
Report ends at today, 2026-11-18
############################################################
Total session usage: 12
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-14",
  "to": "2028-01-01",
  "ends_at_today": "2026-11-18",
  "granularity": "year",
  "bots": "include",
  "total_sessions": 12,
  "total_human_sessions": 12,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026","start":"2026-01-01","end":"2027-01-01","sessions":12,"human_sessions":12,"bot_sessions":0,"unclassified_sessions":0,"covered_days":3,"gaps":[{"start":"2026-11-16","end":"2026-11-19"}]}
  ],
  "gaps": [
    {"previous":"2026-11-16","next":"2026-11-19","first_uncovered":"2026-11-17","last_uncovered":"2026-11-18","days":2}
  ],
  "coverage": [
    {"start":"2026-11-14T00:00:00Z","end":"2026-11-15T00:00:00Z"},
    {"start":"2026-11-15T00:00:00Z","end":"2026-11-16T00:00:00Z"},
    {"start":"2026-11-16T00:00:00Z","end":"2026-11-17T00:00:00Z"}
  ],
  "days": [
    {"date":"2026-11-14","sessions":7,"human_sessions":7,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-15","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-16","sessions":5,"human_sessions":5,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":24,"peak_live":0,"average_live":0,"hours":[]},
    {"date":"2026-11-17","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]},
    {"date":"2026-11-18","sessions":null,"human_sessions":null,"bot_sessions":null,"unclassified_sessions":null,"covered":false,"imported":false,"covered_hours":0,"peak_live":null,"average_live":null,"hours":[]}
  ]
}
`,
	},
	"range starting after today": {
		CSV: `month,sessions,gaps,environment
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Report ends at today, 2026-11-18
############################################################
Total session usage: 0
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-12-01",
  "to": "2027-01-01",
  "ends_at_today": "2026-11-18",
  "granularity": "month",
  "bots": "include",
  "total_sessions": 0,
  "total_human_sessions": 0,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [],
  "gaps": [],
  "coverage": [],
  "days": []
}
`,
	},
	"range starting today": {
		CSV: `day,sessions,gaps,environment,covered_hours,peak_live,average_live
2026-11-18,0,,PROD,10,0,0.00
`,
		Pretty: `############################################################
Generating Session Usage Report from the Environment: PROD
This can take a few minutes...
All dates are in the format YYYY-MM-DD
############################################################
Session usage for the day 2026-11-18: 0
Report ends at today, 2026-11-18
############################################################
Total session usage: 0
############################################################
`,
		JSON: `{
  "environment": "PROD",
  "from": "2026-11-18",
  "to": "2026-11-21",
  "ends_at_today": "2026-11-18",
  "granularity": "day",
  "bots": "include",
  "total_sessions": 0,
  "total_human_sessions": 0,
  "total_bot_sessions": 0,
  "total_unclassified_sessions": 0,
  "periods": [
    {"period":"2026-11-18","start":"2026-11-18","end":"2026-11-19","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered_days":1,"gaps":[]}
  ],
  "gaps": [],
  "coverage": [
    {"start":"2026-11-18T00:00:00Z","end":"2026-11-18T09:30:00Z"}
  ],
  "days": [
    {"date":"2026-11-18","sessions":0,"human_sessions":0,"bot_sessions":0,"unclassified_sessions":0,"covered":true,"imported":false,"covered_hours":10,"peak_live":0,"average_live":0,"hours":[]}
  ]
}
`,
	},
}

func buildFuture(c futureCase, today time.Time) Report {
	return Build(Input{From: d(c.from), To: d(c.to), By: c.by, Environment: "PROD", Days: futureDays, Coverage: c.cov, Today: today})
}

func TestFutureDays_CSVPrettyJSON(t *testing.T) {
	for _, c := range futureCases() {
		t.Run(c.name, func(t *testing.T) {
			r := buildFuture(c, fixedToday)
			for _, f := range []Format{CSV, Pretty, JSON} {
				if got, want := render(t, r, f), futureWant[c.name][f]; got != want {
					t.Errorf("form %d:\n%s\nwant:\n%s", f, got, want)
				}
			}
		})
	}
}

// TestFutureDays_HTML checks the HTML form: its rows are the CSV's, its range
// line ends at today, and the note is there exactly when the range reaches
// past today.
func TestFutureDays_HTML(t *testing.T) {
	rowRE := regexp.MustCompile(`<tr data-period="([^"]+)"`)
	rangeRE := regexp.MustCompile(`<p class="range"><strong>([^<]+)</strong>`)
	want := map[string]struct{ rows, rng, note string }{
		"wholly past": {"2026-11", "2026-11-14 to 2026-11-17", ""},
		"TO is tomorrow: ends at today, nothing cut": {"2026-11-08 2026-11-15", "2026-11-14 to 2026-11-18", ""},
		"last day tomorrow, by day":                  {"2026-11-16 2026-11-17 2026-11-18", "2026-11-16 to 2026-11-18", "2026-11-20"},
		"gap up to today, by month":                  {"2026-11", "2026-11-14 to 2026-11-18", "2027-01-01"},
		"partial week, later weeks cut":              {"2026-11-08 2026-11-15", "2026-11-14 to 2026-11-18", "2026-12-06"},
		"gap up to today, by year":                   {"2026", "2026-11-14 to 2026-11-18", "2028-01-01"},
		"range starting after today":                 {"", "2026-12-01 to 2026-11-30", "2027-01-01"},
		"range starting today":                       {"2026-11-18", "2026-11-18 to 2026-11-18", "2026-11-21"},
	}
	for _, c := range futureCases() {
		t.Run(c.name, func(t *testing.T) {
			w := want[c.name]
			page := MustWriteHTML(t, buildFuture(c, fixedToday))
			var rows []string
			for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
				rows = append(rows, m[1])
			}
			if got := strings.Join(rows, " "); got != w.rows {
				t.Errorf("rows %q, want %q", got, w.rows)
			}
			if m := rangeRE.FindStringSubmatch(page); m == nil || m[1] != w.rng {
				t.Errorf("range line %q, want %q", m, w.rng)
			}
			note := ""
			if w.note != "" {
				note = `<p class="ends-at-today" id="ends-at-today">Report ends at today, 2026-11-18: the days after it, to ` + w.note +
					` (excluded), have not happened yet and are neither metered nor gaps.</p>` + "\n"
			}
			if got := strings.Count(page, `class="ends-at-today"`); note == "" && got != 0 || note != "" && (got != 1 || !strings.Contains(page, note+`<p class="total-line">`)) {
				t.Errorf("note before the total: want %q; page has %d notes", note, got)
			}
			if !strings.Contains(page, "(export "+c.from+" "+c.to+")") {
				t.Errorf("the footer does not name the range asked for, export %s %s", c.from, c.to)
			}
		})
	}
}

// TestFutureDays_PastRangeUnchanged: for a range wholly in the past (or
// ending at today), today changes nothing in any form.
func TestFutureDays_PastRangeUnchanged(t *testing.T) {
	for _, c := range futureCases()[:2] {
		for _, f := range []Format{CSV, Pretty, JSON, HTML} {
			if with, without := render(t, buildFuture(c, fixedToday), f), render(t, buildFuture(c, time.Time{}), f); with != without {
				t.Errorf("%s, form %d: today changed the report:\n%s\nwithout today:\n%s", c.name, f, with, without)
			}
		}
	}
}

// TestFutureDays_SeedUnchanged: the seed's example, built with today set,
// still matches its expected files byte for byte.
func TestFutureDays_SeedUnchanged(t *testing.T) {
	days, cov := readHistory(t, "testdata/seed/history.csv")
	r := Build(Input{From: d("2023-01-01"), To: d("2024-04-02"), By: Month, Environment: "UAT-ENV", Days: days, Coverage: cov, Today: fixedToday})
	for f, name := range map[Format]string{CSV: "expected.csv", Pretty: "expected.txt"} {
		want, err := os.ReadFile(filepath.Join("testdata", "seed", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := render(t, r, f); got != string(want) {
			t.Errorf("%s changed:\n%s", name, got)
		}
	}
}

// TestFutureDays_TodayIsAnyTimeOfTheDay: the day of Today counts, not its
// hour, and a Today in another zone is read in UTC (18:59 at UTC−5 is
// 23:59 UTC, still the 18th).
func TestFutureDays_TodayIsAnyTimeOfTheDay(t *testing.T) {
	c := futureCases()[3]
	want := render(t, buildFuture(c, fixedToday), Pretty)
	for _, today := range []time.Time{d("2026-11-18"), d("2026-11-18").Add(day - time.Nanosecond),
		time.Date(2026, 11, 18, 18, 59, 0, 0, time.FixedZone("UTC-5", -5*3600))} {
		if got := render(t, buildFuture(c, today), Pretty); got != want {
			t.Errorf("today %s:\n%s\nwant:\n%s", today, got, want)
		}
	}
}
