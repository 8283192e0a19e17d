// Package usage reports usage to the vendor online: each transmission is
// delivered at least once and counted by the receiver never more than once.
package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Transmission is what one online report carries: the deployment, the
// period, and the number of sessions completed in it — nothing about users.
// Its Sequence is the idempotency key: the receiver counts a sequence once.
type Transmission struct {
	Deployment  string    `json:"deployment_id"`
	Environment string    `json:"environment"`
	Sequence    uint64    `json:"sequence"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Sessions    uint64    `json:"sessions"`
	SentAt      time.Time `json:"sent_at"` // when first sent; a resend is the same document
}

// State is what survives restarts, in the database: the watermark (what the
// receiver acknowledged) and the transmission in flight, if any.
//
// The first state (Begin) puts the watermark at 0 sessions and the first
// covered moment of the database: sessions the agent completed before
// online reporting was turned on go out in the first transmission, whose
// period starts at that moment, so the periods the receiver gets cover the
// database's whole metered time, one after the other, and their sessions
// add up to the agent's completed total.
type State struct {
	NextSequence       uint64        `json:"next_sequence"`
	WatermarkCompleted uint64        `json:"watermark_completed"` // completed_total when the last acknowledged period ended
	WatermarkTime      time.Time     `json:"watermark_time,omitzero"`
	Pending            *Transmission `json:"pending,omitempty"`
	PendingCompleted   uint64        `json:"pending_completed,omitempty"` // completed_total at the pending period's end
}

// Store is what the transmitter needs of the database.
type Store interface {
	UsageState() ([]byte, error)
	SetUsageState([]byte) error
	// CompletedTotal is the number of sessions the agent completed, ever.
	CompletedTotal() (uint64, error)
	// FirstCovered is the start of the earliest coverage, false without any.
	FirstCovered() (time.Time, bool, error)
}

// ErrClockBehind is returned by Step when the clock is not after the end of
// the last period reported (a clock set back): nothing is made or sent, and
// the sessions go out in the first period once the clock has passed it.
var ErrClockBehind = errors.New("the clock is not after the end of the last reported period")

// Transmitter sends the sessions completed since the last acknowledged
// transmission.
type Transmitter struct {
	URL         string
	Deployment  string
	Environment string
	Store       Store
	HTTP        *http.Client
}

// Step makes one attempt: it resends the pending transmission unchanged,
// or, with none pending, persists a new one covering the sessions completed
// since the watermark and sends it. The watermark advances, in the
// database, only after a 2xx answer. It returns the transmission tried.
func (t *Transmitter) Step(ctx context.Context, now time.Time) (Transmission, error) {
	st, err := t.begin(now)
	if err != nil {
		return Transmission{}, err
	}
	if st.Pending == nil {
		completed, err := t.Store.CompletedTotal()
		if err != nil {
			return Transmission{}, err
		}
		start := st.WatermarkTime
		if !now.After(start) {
			return Transmission{}, fmt.Errorf("%w (%s): nothing is sent until it is", ErrClockBehind, start.UTC().Format(time.RFC3339))
		}
		st.NextSequence = max(st.NextSequence, 1)
		st.Pending = &Transmission{Deployment: t.Deployment, Environment: t.Environment, Sequence: st.NextSequence,
			PeriodStart: start.UTC(), PeriodEnd: now.UTC(), Sessions: completed - st.WatermarkCompleted, SentAt: now.UTC()}
		st.PendingCompleted = completed
		if err := t.save(st); err != nil { // before sending: a restart resends exactly this
			return Transmission{}, err
		}
	}
	tr := *st.Pending
	if err := t.send(ctx, tr); err != nil {
		return tr, err
	}
	st.WatermarkCompleted, st.WatermarkTime = st.PendingCompleted, tr.PeriodEnd
	st.NextSequence = tr.Sequence + 1
	st.Pending, st.PendingCompleted = nil, 0
	return tr, t.save(st)
}

// Begin stores the first state, if none is stored yet: the watermark at the
// database's first covered moment (see State), or at now when nothing was
// ever covered. Sender.Run calls it when it starts; Step calls it too.
func (t *Transmitter) Begin(now time.Time) error {
	_, err := t.begin(now)
	return err
}

// begin returns the stored state, storing the first one if none is stored.
func (t *Transmitter) begin(now time.Time) (State, error) {
	var st State
	raw, err := t.Store.UsageState()
	if err != nil {
		return State{}, err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return State{}, fmt.Errorf("the stored usage state does not read: %w", err)
		}
		return st, nil
	}
	first, ok, err := t.Store.FirstCovered()
	if err != nil {
		return State{}, err
	}
	st = State{NextSequence: 1, WatermarkTime: now.UTC()}
	if ok && first.Before(now) {
		st.WatermarkTime = first.UTC()
	}
	return st, t.save(st)
}

func (t *Transmitter) save(st State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return t.Store.SetUsageState(raw)
}

func (t *Transmitter) send(ctx context.Context, tr Transmission) error {
	body, _ := json.Marshal(tr)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", strconv.FormatUint(tr.Sequence, 10))
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the usage receiver answered %s", resp.Status)
	}
	return nil
}
