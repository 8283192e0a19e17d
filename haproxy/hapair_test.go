package haproxy

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"headcount/store"
)

// The shipped active/standby variant: the second agent, commented out in
// haproxy.cfg, as a backup server.
const shippedBackupServer = "    #server agent2 127.0.0.1:12346 "

// TestActiveStandby runs two real agents behind one real HAProxy with the
// shipped configuration's active/standby variant (agent2 a backup server),
// stops the active one with SIGTERM while clients are browsing, and checks
// that the report of both databases merged (export --db A --db B) counts:
//
//   - each client that browsed only before the failover once (by the active
//     agent) and each that started only after it once (by the standby);
//   - each client browsing across the failover twice: the active agent ends
//     its live session at shutdown and counts it (reason shutdown), and the
//     client's next request reaching the standby starts a new session there,
//     counted when it ends — as a restart of a single agent does.
//
// The standby sees no message while the active agent is up.
func TestActiveStandby(t *testing.T) {
	args := []string{"--idle-timeout", "5s", "--flush-interval", "200ms", "--environment", "ha", "--exclude-ua", "^headcount-warmup$"}
	runnerA := newAgentRunner(t, t.TempDir(), args...)
	runnerB := newAgentRunner(t, t.TempDir(), args...)
	active, standby := runnerA.start(t), runnerB.start(t)
	frontend := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := writeConfig(t, haproxyConfig{FrontendAddr: frontend, AppAddr: startApp(t), AgentAddr: runnerA.spoeAddr})
	text := mustReplaceOnce(t, cfg, readFile(t, cfg), shippedBackupServer, "    server agent2 "+runnerB.spoeAddr+" ")
	writeFile(t, cfg, text)
	startHAProxy(t, cfg)
	active.awaitHAProxy(t)
	standby.awaitHAProxy(t) // a backup server is health-checked too
	ctx := context.Background()
	start := time.Now().UTC()

	warm := client{src: "127.0.0.1", ua: "headcount-warmup"}
	waitFor(t, 10*time.Second, "warm-up requests to reach the active agent", func() bool {
		if status, err := warm.send(ctx, frontend, "/"); err != nil || status != 200 {
			t.Fatalf("warm-up request: %d %v", status, err)
		}
		return metric(t, active.metrics(t), "headcount_spoe_messages_total") >= 5
	})

	// sendUntil sends one request per client, again while the agent has
	// started fewer than want sessions: HAProxy may lose a message (a
	// client does not notice), and a client then comes again, within the
	// idle timeout, so no session is started twice.
	sendUntil := func(a *agentProc, cs []client, want float64) {
		t.Helper()
		for round := 0; ; round++ {
			if f := run(ctx, frontend, cs, 1); len(f) > 0 {
				t.Fatalf("%d requests failed, first: %s", len(f), f[0])
			}
			got := metric(t, a.metrics(t), "headcount_sessions_started_total")
			if got == want {
				return
			}
			if got > want || round == 4 {
				t.Fatalf("the agent started %v sessions, want %v", got, want)
			}
		}
	}

	before := e2eClients("127.81", 60) // browse, then leave before the failover
	across := e2eClients("127.82", 40) // browse across the failover
	after := e2eClients("127.83", 50)  // arrive after the failover
	sendUntil(active, before, float64(len(before)))
	waitFor(t, 20*time.Second, "the first clients' sessions to end idle", func() bool {
		return metric(t, active.metrics(t), `headcount_sessions_completed_total{reason="idle"}`) == float64(len(before))
	})
	sendUntil(active, across, float64(len(before)+len(across)))
	if got := metric(t, standby.metrics(t), "headcount_spoe_messages_total"); got != 0 {
		t.Fatalf("the standby received %v messages while the active agent was up, want 0", got)
	}

	// The clients across the failover keep browsing; the active agent stops.
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; trafficCtx.Err() == nil; i += 4 {
				status, err := across[i%len(across)].send(ctx, frontend, "/busy")
				sent.Add(1)
				if err != nil || status != 200 {
					failed.Add(1)
				}
			}
		}(w)
	}
	if code := active.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("active agent exit status after SIGTERM = %d\n%s", code, readFile(t, runnerA.logs))
	}
	waitFor(t, 20*time.Second, "every client across the failover to reach the standby", func() bool {
		return metric(t, standby.metrics(t), "headcount_sessions_active") == float64(len(across))
	})
	stopTraffic()
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed across the failover: HAProxy must answer every one", failed.Load(), sent.Load())
	}
	sendUntil(standby, after, float64(len(across)+len(after)))
	if code := standby.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("standby exit status after SIGTERM = %d\n%s", code, readFile(t, runnerB.logs))
	}

	// Each database, then both merged, as export reads them.
	counts := func(path string) store.Counters {
		db, err := store.Open(path, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		c, err := db.Counters()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := counts(runnerA.db), counts(runnerB.db)
	if a.Completed != uint64(len(before)+len(across)) || a.CompletedByReason["idle"] != uint64(len(before)) || a.CompletedByReason["shutdown"] != uint64(len(across)) {
		t.Errorf("active agent: %d sessions (%v), want %d idle before the failover and %d ended at its shutdown", a.Completed, a.CompletedByReason, len(before), len(across))
	}
	if b.Completed != uint64(len(across)+len(after)) {
		t.Errorf("standby: %d sessions (%v), want %d across the failover and %d after it", b.Completed, b.CompletedByReason, len(across), len(after))
	}
	from, to := start.Format(time.DateOnly), time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	out, err := exec.Command(agentBin, "export", "--db", runnerA.db, "--db", runnerB.db, from, to).CombinedOutput()
	want := len(before) + 2*len(across) + len(after)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	total := 0
	for _, line := range lines[1:] { // a row per month: one, unless the test ran across a month's end
		cells := strings.Split(line, ",")
		n, _ := strconv.Atoi(cells[1])
		total += n
		if cells[3] != "ha" {
			t.Errorf("row %q: environment %q, want ha", line, cells[3])
		}
	}
	if err != nil || lines[0] != "month,sessions,gaps,environment" || total != want {
		t.Errorf("export --db A --db B: %v\n%s\nwant %d sessions: %d before + 2 × %d across + %d after", err, out, want, len(before), len(across), len(after))
	}
	t.Logf("active/standby: %d clients before the failover, %d across it, %d after; active counted %d (%d at shutdown), standby %d; merged %d; %d requests during the failover, all answered",
		len(before), len(across), len(after), a.Completed, a.CompletedByReason["shutdown"], b.Completed, want, sent.Load())
}
