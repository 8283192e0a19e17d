package entitlement

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// testServer is a local entitlement server that answers as told.
func testServer(t *testing.T, answer func(w http.ResponseWriter, req Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.Deployment != "dx-prod" || req.License != "L-1" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		answer(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClient_Check(t *testing.T) {
	hang := make(chan struct{}) // closed before the servers close: they wait for their handlers
	refused := func() string {  // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	cases := []struct {
		name    string
		url     string
		now     string
		outcome Outcome
		message string
	}{
		{"valid", testServer(t, func(w http.ResponseWriter, _ Request) {
			_, _ = w.Write([]byte(`{"status":"valid","contract_end":"2026-12-31"}`))
		}), "2026-06-01T12:00:00Z", Valid, "entitlement valid, confirmed by the entitlement server: contract ends on 2026-12-31 (214 days left)"},
		{"expired", testServer(t, func(w http.ResponseWriter, _ Request) {
			_, _ = w.Write([]byte(`{"status":"expired","contract_end":"2026-12-31"}`))
		}), "2027-01-10T00:00:00Z", ExpiredInGrace, "entitlement ended on 2026-12-31; the grace period ends on 2027-01-29 (19 days left): renew the contract to keep the entitlement"},
		{"none", testServer(t, func(w http.ResponseWriter, _ Request) {
			_, _ = w.Write([]byte(`{"status":"none"}`))
		}), "2026-06-01T00:00:00Z", NoEntitlement, "no valid entitlement: the grace period ended on 2026-06-01; renew the contract, or ask the vendor for the one-time extension of up to 14 days"},
		{"server error", testServer(t, func(w http.ResponseWriter, _ Request) {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}), "2026-06-01T08:00:00Z", UnreachableGraceStarts, "the entitlement server could not be reached: a grace period of 28 days starts and ends on 2026-06-29; check the connection to the entitlement server"},
		{"garbage", testServer(t, func(w http.ResponseWriter, _ Request) {
			_, _ = w.Write([]byte(`<html>`))
		}), "2026-06-01T08:00:00Z", UnreachableGraceStarts, "the entitlement server could not be reached: a grace period of 28 days starts and ends on 2026-06-29; check the connection to the entitlement server"},
		{"hangs", testServer(t, func(w http.ResponseWriter, _ Request) { <-hang }), "2026-06-01T08:00:00Z", UnreachableGraceStarts,
			"the entitlement server could not be reached: a grace period of 28 days starts and ends on 2026-06-29; check the connection to the entitlement server"},
		{"refuses", refused, "2026-06-01T08:00:00Z", UnreachableGraceStarts,
			"the entitlement server could not be reached: a grace period of 28 days starts and ends on 2026-06-29; check the connection to the entitlement server"},
	}
	t.Cleanup(func() { close(hang) }) // registered last, so it runs first
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.HTTP.Timeout = 300 * time.Millisecond // the hanging server: a short test
			start := time.Now()
			ev, _ := c.Check(context.Background(), Request{Deployment: "dx-prod", License: "L-1", Product: "headcount"})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the check took %v: it must give up quickly", d)
			}
			s, _ := Evaluate(at(tc.now), ev, State{})
			if s.Outcome != tc.outcome || s.Message != tc.message {
				t.Errorf("outcome %v, message:\n%s\nwant %v:\n%s", s.Outcome, s.Message, tc.outcome, tc.message)
			}
		})
	}
}

// TestClient_CustomCA: with the site's CA the server's certificate is
// trusted; without it the server counts as unreachable.
func TestClient_CustomCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"valid"}`))
	}))
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := NewClient(srv.URL, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := c.Check(context.Background(), Request{Deployment: "dx-prod"}); ev.Kind != ServerValid {
		t.Errorf("with the CA: %v, %v; want valid", ev.Kind, err)
	}
	plain, err := NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := plain.Check(context.Background(), Request{Deployment: "dx-prod"}); ev.Kind != ServerUnreachable || err == nil {
		t.Errorf("without the CA: %v, %v; want unreachable with a certificate error", ev.Kind, err)
	}
	if _, err := NewClient(srv.URL, []byte("not a certificate")); err == nil || err.Error() != "no PEM certificate in the CA file" {
		t.Errorf("a CA file without a certificate: %v", err)
	}
}
