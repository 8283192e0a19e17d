package main

import (
	"fmt"
	"time"

	"headcount/agent/admin"
	"headcount/entitlement"
	"headcount/internal/plural"
	"headcount/report"
	"headcount/report/export"
	"headcount/store"

	"github.com/urfave/cli/v2"
)

func usageCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:  "usage",
		Usage: "sessions used in the current contract year against the entitlement, with a forecast",
		Description: "Reads the licence (--license, verified with --license-pubkey or the built-in key) for the entitled\n" +
			"sessions and the contract year, and the database (directly, or through the running agent) for the\n" +
			"sessions used; forecasts the day the entitlement runs out at the daily rate of the last 30 days,\n" +
			"averaged over the days of them that were metered (a day not metered is left out, not counted as 0).",
		OnUsageError: onUsage,
		Flags: append([]cli.Flag{
			dbFlag("database `FILE`"), adminAddrFlag(),
			&cli.StringFlag{Name: "license", Required: true, EnvVars: env("LICENSE"), Usage: "the signed licence `FILE`"},
			&cli.StringFlag{Name: "license-pubkey", EnvVars: env("LICENSE_PUBKEY"), Usage: "the vendor's public key `FILE` (default: built in)"},
		}, adminAuthFlags()...),
		Action: func(c *cli.Context) error {
			l, err := loadLicense(c.String("license"), "--license-pubkey", c.String("license-pubkey"))
			if err != nil {
				return err
			}
			client, err := adminClient(c)
			if err != nil {
				return err
			}
			u, err := contractConsumption(l, c.String("db"), client, time.Now())
			if err != nil {
				return err
			}
			start, end := u.YearStart, u.YearEnd
			w := c.App.Writer
			fmt.Fprintf(w, "licence %s for %s: contract year %s to %s\n", l.ID, l.Deployment,
				start.Format("2006-01-02"), end.AddDate(0, 0, -1).Format("2006-01-02"))
			fmt.Fprintf(w, "sessions used %d of %d (%.1f %%)\n", u.Used, u.Entitled, u.Percent)
			if u.RecentMetered > 0 {
				fmt.Fprintf(w, "recent rate %.0f sessions a day (averaged over the %s of the last %d; days not metered are left out)\n",
					u.DailyRate, plural.Count(u.RecentMetered, "metered day"), entitlement.RecentDays)
			} else {
				fmt.Fprintf(w, "recent rate unknown: none of the last %d days was metered\n", entitlement.RecentDays)
			}
			switch {
			case u.Used >= u.Entitled:
				fmt.Fprintln(w, "the entitlement for this contract year is used up")
			case u.RecentMetered == 0:
				fmt.Fprintln(w, "no forecast: it needs a metered day among the last 30")
			case !u.RunsOut.IsZero():
				fmt.Fprintf(w, "at this rate the entitlement runs out on %s\n", u.RunsOut.Format("2006-01-02"))
			default:
				fmt.Fprintln(w, "at this rate the entitlement lasts the contract year")
			}
			return nil
		},
	})
}

// contractConsumption reads the sessions ConsumptionRange asks for, from the
// file or the agent that holds it, and computes l's consumption at now.
func contractConsumption(l entitlement.License, db string, client admin.Client, now time.Time) (entitlement.Consumption, error) {
	from, to := l.ConsumptionRange(now)
	snap, err := admin.ReadSnapshot(db, client, from, to, store.Parts{})
	if err != nil {
		return entitlement.Consumption{}, err
	}
	// The report's days: every session of each day, and whether coverage
	// touches it, as export decides it.
	r := report.Build(export.Input(snap, from, to, report.Day, "", now))
	days := make([]entitlement.DaySessions, len(r.Days))
	for i, d := range r.Days {
		days[i] = entitlement.DaySessions{Day: d.Date, Sessions: d.Classes.All(), Metered: d.Covered}
	}
	return l.Consume(now, days), nil
}
