package main

import (
	"fmt"
	"time"

	"headcount/agent/admin"
	"headcount/entitlement"
	"headcount/store"

	"github.com/urfave/cli/v2"
)

func usageCommand(onUsage cli.OnUsageErrorFunc) *cli.Command {
	return configurable(&cli.Command{
		Name:  "usage",
		Usage: "sessions used in the current contract year against the entitlement, with a forecast",
		Description: "Reads the licence (--license, verified with --license-pubkey or the built-in key) for the entitled\n" +
			"sessions and the contract year, and the database (directly, or through the running agent) for the\n" +
			"sessions used; forecasts the day the entitlement runs out at the rate of the last 30 days.",
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
			fmt.Fprintf(w, "recent rate %.0f sessions a day (last %d days)\n", u.DailyRate, entitlement.RecentDays)
			switch {
			case u.Used >= u.Entitled:
				fmt.Fprintln(w, "the entitlement for this contract year is used up")
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
	days := make([]entitlement.DaySessions, len(snap.Days))
	for i, d := range snap.Days {
		days[i] = entitlement.DaySessions{Day: d.Day, Sessions: d.Sessions}
	}
	return l.Consume(now, days), nil
}
