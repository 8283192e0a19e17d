package replay

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"headcount/agent/session"
	"headcount/replay/replaytest"
)

// Replay's table finds the sessions due with its due wheel; sweeping every
// slot instead gives the very same results: one run over four days of two
// nodes and daily runs resumed from each other, with times in whole seconds
// and in milliseconds, for a
// population active throughout and one with quiet hours (holes in the
// coverage), under the default rules and under rules shorter than the
// reorder window (20 s idle, 50 s at most).
func TestRun_WheelSameAsEverySlot(t *testing.T) {
	start := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
	var quiet []replaytest.Span
	for d := 1; d <= 4; d++ {
		at := start.Truncate(24*time.Hour).AddDate(0, 0, d).Add(3 * time.Hour)
		quiet = append(quiet, replaytest.Span{Start: at, End: at.Add(5 * time.Hour)})
	}
	pops := map[string]*replaytest.Population{
		"continuous": replaytest.Generate(5, 300, start, 4),
		"quiet":      replaytest.GenerateQuiet(6, 300, start, 4, quiet),
	}
	for name, pop := range pops {
		for _, rules := range []session.Config{{}, {IdleTimeout: 20 * time.Second, MaxSession: 50 * time.Second}} {
			// Whole seconds (NCSA, like DX_UST) and milliseconds (HAProxy).
			for _, format := range []Format{FormatNCSA, FormatHAProxy} {
				t.Run(fmt.Sprintf("%s/idle=%s/%v", name, rules.IdleTimeout, format), func(t *testing.T) {
					nodes := pop.Lines(format.String(), 2)
					cuts := dailyCuts(pop)
					wheel := incrementalConfig(format)
					wheel.Session = rules
					every := wheel
					every.everySlot = true
					a, err := Run(every, wholeInputs(nodes, cuts))
					if err != nil {
						t.Fatal(err)
					}
					b, err := Run(wheel, wholeInputs(nodes, cuts))
					if err != nil {
						t.Fatal(err)
					}
					if a.Sessions() == 0 || len(a.Flush.Hours) == 0 {
						t.Fatalf("one run counted %d sessions in %d hours: the comparison is empty", a.Sessions(), len(a.Flush.Hours))
					}
					if !reflect.DeepEqual(a, b) {
						t.Errorf("one run: sweeping every slot gave\n%+v\nthe wheel\n%+v", a, b)
					}
					as, bs := stepRuns(t, every, nodes, cuts), stepRuns(t, wheel, nodes, cuts)
					for i := range as {
						if !reflect.DeepEqual(as[i], bs[i]) {
							t.Errorf("daily run %d: sweeping every slot gave\n%+v\nthe wheel\n%+v", i+1, as[i], bs[i])
						}
					}
				})
			}
		}
	}
}
