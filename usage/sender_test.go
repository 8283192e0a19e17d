package usage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// memStore is a Store in memory.
type memStore struct {
	mu        sync.Mutex
	state     []byte
	completed uint64
}

func (m *memStore) UsageState() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, nil
}

func (m *memStore) SetUsageState(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = b
	return nil
}

func (m *memStore) CompletedTotal() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.completed, nil
}

// TestSender_Run drives the sender's timer: it waits the interval, backs
// off 100ms, 200ms, … up to the interval after failures, resending the same
// transmission, and waits the interval again once it is acknowledged, with
// the backoff starting over at the next failure.
func TestSender_Run(t *testing.T) {
	answers := []int{503, 503, 503, 503, 503, 503, 202, 503} // one per attempt
	var mu sync.Mutex
	var bodies []Transmission
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr Transmission
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			t.Errorf("receiver: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, tr)
		code := answers[len(bodies)-1]
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer srv.Close()
	st := &memStore{completed: 42}
	wall := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	type attempt struct {
		tr  Transmission
		err error
	}
	attempts := make(chan attempt, 1)
	s := NewSender(SenderOptions{
		Transmitter: &Transmitter{URL: srv.URL, Deployment: "dx-prod", Environment: "prod", Store: st, HTTP: srv.Client()},
		Every:       time.Second,
		Now:         func() time.Time { return wall },
		After:       func(d time.Duration) <-chan time.Time { waits <- d; return fire },
		OnAttempt:   func(tr Transmission, err error) { attempts <- attempt{tr, err} },
		Log:         zerolog.Nop(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	want := []time.Duration{time.Second, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		time.Second, time.Second, time.Second, 100 * time.Millisecond}
	var tried []Transmission
	for i, w := range want {
		if got := <-waits; got != w {
			t.Errorf("wait %d: %v, want %v", i, got, w)
		}
		if i == len(want)-1 {
			break
		}
		if i == 6 {
			st.mu.Lock()
			st.completed = 50 // sessions completed after the first transmission's period
			st.mu.Unlock()
			wall = wall.Add(time.Hour)
		}
		fire <- wall
		a := <-attempts
		if (a.err == nil) != (answers[i] == 202) {
			t.Errorf("attempt %d: error %v with the answer %d", i, a.err, answers[i])
		}
		tried = append(tried, a.tr)
	}
	cancel()
	<-done

	first := tried[0]
	if first.Sequence != 1 || first.Sessions != 42 {
		t.Errorf("first transmission %+v, want sequence 1 with 42 sessions", first)
	}
	for i := 1; i < 7; i++ {
		if tried[i] != first {
			t.Errorf("attempt %d sent %+v, want the first transmission unchanged %+v", i, tried[i], first)
		}
	}
	if next := tried[7]; next.Sequence != 2 || next.Sessions != 8 || !next.PeriodStart.Equal(first.PeriodEnd) {
		t.Errorf("after the acknowledgement: %+v, want sequence 2 with 8 sessions from %s", next, first.PeriodEnd)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range bodies {
		if b != tried[i] {
			t.Errorf("the receiver got %+v at attempt %d, the sender reports %+v", b, i, tried[i])
		}
	}
	if got := s.Stats(); got.OK != 1 || got.Failed != 7 {
		t.Errorf("stats %+v, want 1 ok and 7 failed", got)
	}
}
