package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in-process and returns its exit status,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"headcount"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_Version(t *testing.T) {
	code, out, errOut := runCLI(t, "version")
	if code != 0 || out != "headcount dev\n" || errOut != "" {
		t.Errorf("version: status %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestRun_BadInput checks that bad input gets one clear line on stderr,
// exit status 2, and that no database file is created.
func TestRun_BadInput(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.WriteFile(foreign, []byte("these are not the pages you are looking for\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("idle-timout: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badValue, []byte("idle-timeout: 100h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newDB := filepath.Join(dir, "new.db")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string // the whole stderr
	}{
		{"unknown command", nil, []string{"frobnicate"},
			"headcount: unknown command \"frobnicate\"; see headcount --help\n"},
		{"unknown flag", nil, []string{"serve", "--db", newDB, "--no-such-flag"},
			"headcount: flag provided but not defined: -no-such-flag\n"},
		{"malformed duration", nil, []string{"serve", "--db", newDB, "--idle-timeout", "ten minutes"},
			"headcount: invalid value \"ten minutes\" for flag -idle-timeout: parse error\n"},
		{"idle timeout out of range", nil, []string{"serve", "--db", newDB, "--idle-timeout", "0s"},
			"headcount: --idle-timeout 0s must be between 1s and 24h0m0s\n"},
		{"flush interval too long for coverage", nil, []string{"serve", "--db", newDB, "--flush-interval", "2m"},
			"headcount: --flush-interval 2m0s must be at least 100ms and less than 1m0s (coverage is sampled at each flush)\n"},
		{"malformed CIDR", nil, []string{"serve", "--db", newDB, "--allow", "10.0.0/8"},
			"headcount: --allow \"10.0.0/8\" is not a CIDR (e.g. 10.0.0.0/8) or an address\n"},
		{"malformed excluded network", nil, []string{"serve", "--db", newDB, "--exclude-ip", "not-a-network"},
			"headcount: --exclude-ip \"not-a-network\" is not a CIDR (e.g. 10.0.0.0/8) or an address\n"},
		{"invalid regular expression", nil, []string{"serve", "--db", newDB, "--exclude-ua", "kube-probe/("},
			"headcount: --exclude-ua \"kube-probe/(\": error parsing regexp: missing closing ): `kube-probe/(`\n"},
		{"unknown log level", nil, []string{"serve", "--db", newDB, "--log-level", "chatty"},
			"headcount: --log-level \"chatty\": want debug, info, warn or error\n"},
		{"unknown log format", nil, []string{"serve", "--db", newDB, "--log-format", "xml"},
			"headcount: --log-format \"xml\": want json or console\n"},
		{"arguments to serve", nil, []string{"serve", "--db", newDB, "extra"},
			"headcount: serve takes no arguments, got \"extra\"\n"},
		{"environment variable read", map[string]string{"HEADCOUNT_MAX_SESSION": "0s"}, []string{"serve", "--db", newDB},
			"headcount: --max-session 0s must be between 1s and 24h0m0s\n"},
		{"config file read", nil, []string{"serve", "--db", newDB, "--config", badValue},
			"headcount: --idle-timeout 100h0m0s must be between 1s and 24h0m0s\n"},
		{"flag wins over config file", nil, []string{"serve", "--db", newDB, "--config", badValue, "--idle-timeout", "0s"},
			"headcount: --idle-timeout 0s must be between 1s and 24h0m0s\n"},
		{"unknown key in config file", nil, []string{"serve", "--db", newDB, "--config", unknownKey},
			"headcount: --config " + unknownKey + ": unknown key \"idle-timout\"\n"},
		{"missing config file", nil, []string{"serve", "--db", newDB, "--config", filepath.Join(dir, "none.yaml")},
			"headcount: --config: open " + filepath.Join(dir, "none.yaml") + ": no such file or directory\n"},
		{"foreign database", nil, []string{"serve", "--db", foreign},
			"headcount: " + foreign + ": not a headcount database: bbolt: invalid database\n"},
		{"empty database file", nil, []string{"serve", "--db", empty},
			"headcount: " + empty + ": not a headcount database: file is empty\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, tc.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if errOut != tc.want {
				t.Errorf("stderr:\n%q\nwant:\n%q", errOut, tc.want)
			}
			if strings.Count(errOut, "\n") != 1 || out != "" {
				t.Errorf("want one line on stderr and nothing on stdout, got stdout %q", out)
			}
			if _, err := os.Stat(newDB); err == nil {
				t.Errorf("bad input created the database file")
			}
		})
	}
}

func TestEnvironment_Default(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		flag string
		want string
	}{
		{"flag wins", map[string]string{"HEADCOUNT_RELEASE": "dx", "HEADCOUNT_NAMESPACE": "prod"}, "UAT-ENV", "UAT-ENV"},
		{"release and namespace", map[string]string{"HEADCOUNT_RELEASE": "dx", "HEADCOUNT_NAMESPACE": "prod"}, "", "dx-prod"},
		{"Kubernetes namespace", map[string]string{"HEADCOUNT_RELEASE": "dx", "POD_NAMESPACE": "uat"}, "", "dx-uat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HEADCOUNT_RELEASE", "HEADCOUNT_NAMESPACE", "POD_NAMESPACE"} {
				t.Setenv(k, tc.env[k])
			}
			if got := environment(tc.flag); got != tc.want {
				t.Errorf("environment(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
	t.Setenv("HEADCOUNT_RELEASE", "")
	host, _ := os.Hostname()
	if got := environment(""); got != host {
		t.Errorf("without release and namespace: %q, want the host name %q", got, host)
	}
}
