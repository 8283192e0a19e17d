package usage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// memStore is a Store in memory.
type memStore struct {
	mu        sync.Mutex
	state     []byte
	completed uint64
	first     time.Time // the first covered moment; zero: none
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

func (m *memStore) FirstCovered() (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.first, !m.first.IsZero(), nil
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
	wall := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	st := &memStore{completed: 42, first: wall.Add(-time.Hour)}
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
	if first.Sequence != 1 || first.Sessions != 42 || !first.PeriodStart.Equal(st.first) || !first.PeriodEnd.Equal(st.first.Add(time.Hour)) {
		t.Errorf("first transmission %+v, want sequence 1 with 42 sessions from the first covered moment %s", first, st.first)
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

// TestTransmitter_EarlierSessions: online reporting turned on for a
// database that already holds sessions sends them in the first
// transmission, whose period starts at the database's first covered moment
// (never a zero-length period); the next period starts where it ended; a
// clock set back makes and sends nothing; with nothing ever covered the
// first period starts when reporting began. The receiver gets the real
// payloads.
func TestTransmitter_EarlierSessions(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
	covered := time.Date(2026, 3, 2, 8, 15, 0, 0, time.UTC) // metered since, without online reporting
	st := &memStore{completed: 1234, first: covered}
	tr := &Transmitter{URL: srv.URL, Deployment: "dx-prod", Environment: "prod", Store: st, HTTP: srv.Client()}
	turnedOn := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	if err := tr.Begin(turnedOn); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Step(context.Background(), turnedOn.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.completed = 1300
	st.mu.Unlock()
	if _, err := tr.Step(context.Background(), turnedOn.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"deployment_id":"dx-prod","environment":"prod","sequence":1,"period_start":"2026-03-02T08:15:00Z","period_end":"2026-04-01T10:00:00Z","sessions":1234,"sent_at":"2026-04-01T10:00:00Z"}`,
		`{"deployment_id":"dx-prod","environment":"prod","sequence":2,"period_start":"2026-04-01T10:00:00Z","period_end":"2026-04-01T11:00:00Z","sessions":66,"sent_at":"2026-04-01T11:00:00Z"}`,
	}
	if got := received(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("the receiver got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The clock set back before the end of the last period: nothing made,
	// nothing sent; the sessions go out once the clock has passed it.
	stored := string(st.state)
	_, err := tr.Step(context.Background(), turnedOn.Add(90*time.Minute))
	if !errors.Is(err, ErrClockBehind) || err.Error() != "the clock is not after the end of the last reported period (2026-04-01T11:00:00Z): nothing is sent until it is" {
		t.Errorf("a clock set back: %v", err)
	}
	if len(received()) != 2 || string(st.state) != stored {
		t.Errorf("a clock set back sent %d transmissions or changed the state", len(received())-2)
	}

	// Nothing ever covered: the first period starts when reporting began.
	empty := &Transmitter{URL: srv.URL, Deployment: "dx-prod", Environment: "prod", Store: &memStore{}, HTTP: srv.Client()}
	if err := empty.Begin(turnedOn); err != nil {
		t.Fatal(err)
	}
	got, err := empty.Step(context.Background(), turnedOn.Add(time.Hour))
	if err != nil || !got.PeriodStart.Equal(turnedOn) || got.Sessions != 0 {
		t.Errorf("with nothing covered: %+v, %v; want the period from %s with 0 sessions", got, err, turnedOn)
	}
}

// TestSender_ClockBehind: with the clock behind the last period's end the
// sender sends nothing, counts no attempt and waits the interval, not a
// retry's backoff; once the clock has passed it, the period goes out.
func TestSender_ClockBehind(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	start := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	clock := make(chan time.Time, 1)
	clock <- start // Begin: nothing covered, the first period starts here
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	type attempt struct {
		tr  Transmission
		err error
	}
	attempts := make(chan attempt, 1)
	s := NewSender(SenderOptions{
		Transmitter: &Transmitter{URL: srv.URL, Deployment: "dx-prod", Environment: "prod", Store: &memStore{completed: 3}, HTTP: srv.Client()},
		Every:       time.Minute,
		Now:         func() time.Time { return <-clock },
		After:       func(d time.Duration) <-chan time.Time { waits <- d; return fire },
		OnAttempt:   func(tr Transmission, err error) { attempts <- attempt{tr, err} },
		Log:         zerolog.Nop(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	if w := <-waits; w != time.Minute {
		t.Errorf("first wait %v, want the interval", w)
	}
	clock <- start.Add(-5 * time.Minute) // set back
	fire <- time.Time{}
	if a := <-attempts; !errors.Is(a.err, ErrClockBehind) {
		t.Errorf("with the clock set back: %+v, want ErrClockBehind", a)
	}
	if w := <-waits; w != time.Minute {
		t.Errorf("after the clock set back: wait %v, want the interval", w)
	}
	clock <- start.Add(time.Minute)
	fire <- time.Time{}
	if a := <-attempts; a.err != nil || a.tr.Sequence != 1 || a.tr.Sessions != 3 || !a.tr.PeriodStart.Equal(start) || !a.tr.PeriodEnd.Equal(start.Add(time.Minute)) {
		t.Errorf("once the clock passed: %+v, want sequence 1, 3 sessions over the minute from %s", a, start)
	}
	<-waits
	cancel()
	<-done
	if got, n := s.Stats(), received.Load(); got.OK != 1 || got.Failed != 0 || n != 1 {
		t.Errorf("stats %+v, received %d; want 1 ok, 0 failed, 1 received", got, n)
	}
}
