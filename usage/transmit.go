// Package usage reports usage to the vendor online: each transmission is
// delivered at least once and counted by the receiver never more than once.
package usage

import (
	"bytes"
	"context"
	"encoding/json"
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
}

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
	var st State
	raw, err := t.Store.UsageState()
	if err != nil {
		return Transmission{}, err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &st); err != nil {
			return Transmission{}, fmt.Errorf("the stored usage state does not read: %w", err)
		}
	}
	if st.Pending == nil {
		completed, err := t.Store.CompletedTotal()
		if err != nil {
			return Transmission{}, err
		}
		start := st.WatermarkTime
		if start.IsZero() {
			start = now
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
