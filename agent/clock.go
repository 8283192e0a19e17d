package agent

import "time"

// Clock reads the two clocks metering needs: a monotonic one for durations
// (sessions' idle and maximum times, the coverage contact window) and the
// wall clock for days, hours and coverage intervals. mono is meaningful only
// as a distance from other mono readings; it never jumps. wall is what the
// system clock says, and may be stepped (NTP, an operator, a VM resumed).
type Clock func() (mono, wall time.Time)

// SystemClock returns the clock of the machine: mono from Go's monotonic
// clock, wall from the system's wall clock, both read by one time.Now.
func SystemClock() Clock {
	start := time.Now()
	origin := start.Round(0) // mono readings are origin plus the monotonic time since start
	return func() (time.Time, time.Time) {
		now := time.Now()
		return origin.Add(now.Sub(start)), now.Round(0)
	}
}
