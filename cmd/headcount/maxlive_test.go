package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_MaxLiveSessions: --max-live-sessions comes from the flag, the
// environment or the --config file; a value below 1 is bad input (status 2,
// one line, no database created); --help states the default and what it
// costs.
func TestServe_MaxLiveSessions(t *testing.T) {
	dir := t.TempDir()
	newDB := filepath.Join(dir, "new.db")
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("max-live-sessions: -3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag", nil, []string{"serve", "--db", newDB, "--max-live-sessions", "0"},
			"headcount: --max-live-sessions 0: want at least 1\n"},
		{"environment", map[string]string{"HEADCOUNT_MAX_LIVE_SESSIONS": "-1"}, []string{"serve", "--db", newDB},
			"headcount: --max-live-sessions -1: want at least 1\n"},
		{"config file", nil, []string{"serve", "--db", newDB, "--config", config},
			"headcount: --max-live-sessions -3: want at least 1\n"},
		{"not a number", nil, []string{"serve", "--db", newDB, "--max-live-sessions", "lots"},
			"headcount: invalid value \"lots\" for --max-live-sessions: a whole number such as 512\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 || out != "" || errOut != tc.want {
				t.Errorf("status %d, stdout %q, stderr %q; want 2, nothing and %q", code, out, errOut, tc.want)
			}
			if _, err := os.Stat(newDB); err == nil {
				t.Error("bad input created the database file")
			}
		})
	}

	// The help's columns depend on the longest flag: the name and the text
	// are checked apart.
	code, out, _ := runCLI(t, "serve", "--help")
	const want = "keep at most N sessions in memory, those ended within the last minute included " +
		"(the default takes 1 GiB when full, about 27 bytes a session). Beyond it a request with a new key is counted at once as " +
		"a completed one-request session (reason overflow) and not kept; headcount_sessions_completed_total{reason=\"overflow\"} " +
		"and a warning (at most one a minute) say how many (default: 40000000) [$HEADCOUNT_MAX_LIVE_SESSIONS]\n"
	if code != 0 || !strings.Contains(out, "   --max-live-sessions N   ") || !strings.Contains(out, want) {
		t.Errorf("serve --help (status %d) has no flag --max-live-sessions N with the text\n%q\nin:\n%s", code, want, out)
	}
}
