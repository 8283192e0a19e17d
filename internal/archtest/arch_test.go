// Package archtest holds the test that keeps the code's layout honest: data
// flows one way (SPOP → handler → session table → meter → store → export →
// report), so each package may import only the packages below it.
package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowed maps each package of the module to the module's packages it may
// import (non-test code). A new package must be added here, with the rooms it
// depends on: the table is the architecture.
var allowed = map[string][]string{
	"headcount/agent/session":       {},
	"headcount/agent/spop":          {},
	"headcount/agent/spop/spoptest": {},
	"headcount/internal/atomicfile": {},
	"headcount/internal/botclass":   {},
	"headcount/internal/logbuf":     {},
	"headcount/internal/plural":     {},
	"headcount/internal/promtext":   {},
	"headcount/internal/remoteaddr": {},
	"headcount/report":              {},
	"headcount/report/accounts":     {},
	"headcount/entitlement":         {"headcount/internal/plural"},
	"headcount/usage":               {},
	"headcount/deploy":              {},
	"headcount/deploy/oci":          {},
	"headcount/store":               {"headcount/internal/atomicfile", "headcount/internal/plural"},
	"headcount/report/metricsfile":  {"headcount/store"},
	"headcount/report/export":       {"headcount/report", "headcount/report/accounts", "headcount/report/metricsfile", "headcount/store", "headcount/internal/atomicfile"},
	"headcount/agent/admin":         {"headcount/store", "headcount/internal/atomicfile"},
	"headcount/haproxy":             {},
	"headcount/internal/archtest":   {},
	"headcount/scripts/notices":     {},
	"headcount/agent/keying":        {"headcount/agent/session", "headcount/internal/botclass"},
	"headcount/replay":              {"headcount/agent/keying", "headcount/agent/session", "headcount/store"},
	"headcount/replay/replaytest":   {},
	"headcount/agent": {"headcount/agent/admin", "headcount/agent/keying", "headcount/agent/session", "headcount/agent/spop",
		"headcount/entitlement", "headcount/internal/botclass", "headcount/report/export", "headcount/store", "headcount/usage"},
	"headcount/cmd/headcount": {"headcount/agent", "headcount/agent/admin", "headcount/agent/keying", "headcount/agent/session",
		"headcount/entitlement", "headcount/internal/atomicfile", "headcount/internal/botclass", "headcount/internal/plural",
		"headcount/replay", "headcount/report", "headcount/report/accounts", "headcount/report/export", "headcount/report/metricsfile", "headcount/store"},
}

// TestLayout_ImportsPointDown lists every package of the module with go list
// and checks its imports against allowed: none imports a package above it in
// the flow (agent/spop and agent/session never import agent, store never
// imports report, nothing imports the command).
func TestLayout_ImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "headcount/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		grant, ok := allowed[p.ImportPath]
		if !ok {
			t.Errorf("%s is not in the layout table: add it with the packages it may import", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if imp != "headcount" && !strings.HasPrefix(imp, "headcount/") {
				continue
			}
			if !slices.Contains(grant, imp) {
				t.Errorf("%s imports %s, which the layout does not allow", p.ImportPath, imp)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("go list found %d packages, the table names %d: remove the ones that are gone", seen, len(allowed))
	}
}
