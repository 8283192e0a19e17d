package spop

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
	"headcount/internal/logbuf"

	"github.com/rs/zerolog"
)

type testServer struct {
	*Server
	addr     string
	contacts *atomic.Int64 // frames seen by OnContact
	logs     *logbuf.Buffer
	ended    chan struct{} // a connection ended
}

// startServer runs a Server on a free loopback port until the test ends.
func startServer(t *testing.T, cfg Config, handler Handler) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	contacts := &atomic.Int64{}
	cfg.OnContact = func(time.Time) { contacts.Add(1) }
	s := NewServer(cfg, handler, zerolog.New(logs))
	ended := make(chan struct{}, 1)
	s.hooks.connEnd = func() {
		select {
		case ended <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{Server: s, addr: l.Addr().String(), contacts: contacts, logs: logs, ended: ended}
}

// waitConnections waits until n connections are open, woken by each
// connection's end.
func (s *testServer) waitConnections(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for s.Connections() != n {
		select {
		case <-s.ended:
		case <-timeout:
			t.Fatalf("%d connections open, want %d", s.Connections(), n)
		}
	}
}

// countingHandler counts the messages it sees by name.
type countingHandler struct {
	mu    sync.Mutex
	names map[string]int
}

func (h *countingHandler) HandleMessages(_ time.Time, msgs []Message) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.names == nil {
		h.names = map[string]int{}
	}
	for _, m := range msgs {
		h.names[string(m.Name)]++
	}
	return nil
}

// handlerFunc adapts a function to Handler.
type handlerFunc func([]Message)

func (f handlerFunc) HandleMessages(_ time.Time, msgs []Message) []byte { f(msgs); return nil }

func (h *countingHandler) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}

var ip4 = netip.MustParseAddr("203.0.113.9")

func TestServer_HealthCheckHello(t *testing.T) {
	s := startServer(t, Config{}, &countingHandler{})
	c := spoptest.Dial(t, s.addr)
	payload := c.Hello(true)
	if !bytes.Contains(payload, []byte("max-frame-size")) || !bytes.Contains(payload, []byte("version")) {
		t.Errorf("AGENT-HELLO payload %q lacks version or max-frame-size", payload)
	}
	if _, closed := c.Closed(); !closed {
		t.Errorf("the agent kept a health-check connection open")
	}
	if s.contacts.Load() == 0 {
		t.Errorf("a health check did not count as a contact for coverage")
	}
}

func TestServer_Notify(t *testing.T) {
	h := &countingHandler{}
	s := startServer(t, Config{}, h)
	c := spoptest.Dial(t, s.addr)
	c.Hello(false)
	for i := 0; i < 3; i++ {
		c.Notify(requestMsg(ip4, "Mozilla/5.0", nil))
	}
	c.Notify(logoutMsg(ip4, "Mozilla/5.0", nil))
	if got := h.count(msgRequest); got != 3 {
		t.Errorf("handler saw %d request messages, want 3", got)
	}
	if got := s.counters.messages.Load(); got != 4 {
		t.Errorf("messages counter = %d, want 4", got)
	}
	if got := s.Connections(); got != 1 {
		t.Errorf("connections = %d, want 1", got)
	}
}

func TestServer_RefusesPeerOutsideAllow(t *testing.T) {
	h := &countingHandler{}
	s := startServer(t, Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, h)
	c := spoptest.Dial(t, s.addr)
	c.Write(spoptest.NotifyFrame(1, requestMsg(ip4, "x", "y"))) // may fail silently: the agent closes first
	frames, closed := c.Closed()
	if !closed || len(frames) != 0 {
		t.Fatalf("peer outside --allow: closed=%v, frames=%x; want closed without an answer", closed, frames)
	}
	if got := s.counters.refused.Load(); got != 1 {
		t.Errorf("refused counter = %d, want 1", got)
	}
	if !strings.Contains(s.logs.String(), "refused an SPOP connection from a peer outside --allow") {
		t.Errorf("no log line for the refused peer; logs: %s", s.logs.String())
	}
	if h.count(msgRequest) != 0 {
		t.Errorf("a refused peer's message reached the handler")
	}
}

// frameWithLength is a frame header claiming length n, followed by a few bytes.
func frameWithLength(n uint32) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), 0x03, 0, 0, 0, 1, 1, 1)
}

func TestServer_RefusesBadFrameLengths(t *testing.T) {
	cases := []struct {
		name       string
		afterHello bool
		frame      []byte
		wantLog    string
	}{
		{"zero length before hello", false, frameWithLength(0), "frame of 0 bytes is too short"},
		{"NOTIFY before the HELLO", false, spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil)), "NOTIFY frame before the HELLO"},
		{"zero length", true, frameWithLength(0), "frame of 0 bytes is too short"},
		{"too short for a header", true, frameWithLength(3), "frame of 3 bytes is too short"},
		{"over the negotiated maximum", true, frameWithLength(16381), "frame of 16381 bytes is larger than the negotiated 16380"},
		{"4 GiB", true, frameWithLength(0xFFFFFFFF), "frame of 4294967295 bytes is larger than the negotiated 16380"},
		{"message name longer than the frame", true, func() []byte {
			f := spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil))
			f[11] = 200 // the message name's length (after length, type, flags, stream-id, frame-id)
			return f
		}(), "malformed NOTIFY frame"},
		{"argument cut short", true, func() []byte {
			f := spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil))
			f = f[:len(f)-1] // the last argument (NULL) is missing
			binary.BigEndian.PutUint32(f, uint32(len(f)-4))
			return f
		}(), "malformed NOTIFY frame"},
		{"fragmented NOTIFY", true, func() []byte {
			f := spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil))
			f[8] = 0 // FIN cleared
			return f
		}(), "fragmented NOTIFY frame (fragmentation was not offered)"},
		{"second HELLO", true, spoptest.HelloFrame(), "second HELLO on a connection"},
		{"unknown frame type", true, append(binary.BigEndian.AppendUint32(nil, 7), 0x65, 0, 0, 0, 1, 0, 0), "unexpected frame type 101"},
		{"HELLO whose max-frame-size is a string", false, spoptest.EncodeHelloKV(
			spoptest.KV{Name: "supported-versions", Value: "2.0"}, spoptest.KV{Name: "max-frame-size", Value: "16380"},
			spoptest.KV{Name: "capabilities", Value: "pipelining"},
		), "HELLO's max-frame-size is not an integer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &countingHandler{}
			s := startServer(t, Config{}, h)
			bad := spoptest.Dial(t, s.addr)
			if tc.afterHello {
				bad.Hello(false)
			}
			good := spoptest.Dial(t, s.addr)
			good.Hello(false)

			bad.Write(tc.frame)
			frames, closed := bad.Closed()
			if !closed || len(frames) != 1 || frames[0] != 0x66 {
				t.Fatalf("closed=%v frames=%x; want one AGENT-DISCONNECT (0x66) then close", closed, frames)
			}
			if got := s.counters.badFrames.Load(); got != 1 {
				t.Errorf("refused frames counter = %d, want 1", got)
			}
			if !strings.Contains(s.logs.String(), tc.wantLog) {
				t.Errorf("logs lack %q: %s", tc.wantLog, s.logs.String())
			}
			good.Notify(requestMsg(ip4, "ua", "xff"))
			if h.count(msgRequest) != 1 {
				t.Errorf("the other connection's message was not handled")
			}
		})
	}
}

func TestServer_PanicClosesOnlyItsConnection(t *testing.T) {
	h := &countingHandler{}
	handle := handlerFunc(func(msgs []Message) {
		for _, m := range msgs {
			if v, _ := m.Arg("ua"); string(v.Bytes) == "boom" {
				panic("handler failure for " + string(v.Bytes))
			}
		}
		h.HandleMessages(time.Now(), msgs)
	})
	s := startServer(t, Config{}, handle)
	bad, good := spoptest.Dial(t, s.addr), spoptest.Dial(t, s.addr)
	bad.Hello(false)
	good.Hello(false)
	bad.Write(spoptest.NotifyFrame(1, requestMsg(ip4, "boom", nil)))
	if _, closed := bad.Closed(); !closed {
		t.Fatalf("the connection that panicked is still open")
	}
	// The panic is counted before the connection closes.
	if got := s.counters.panics.Load(); got != 1 {
		t.Errorf("panics counter = %d, want 1", got)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "recovered a panic") {
		t.Errorf("no log line for the panic: %s", logs)
	}
	if strings.Contains(logs, "boom") {
		t.Errorf("the panic's log line holds a request value: %s", logs)
	}
	good.Notify(requestMsg(ip4, "fine", nil))
	if h.count(msgRequest) != 1 {
		t.Errorf("the other connection stopped counting after a panic")
	}
}

func TestServer_ShutdownLetsInFlightFramesFinish(t *testing.T) {
	var handled atomic.Int32
	entered, release := make(chan struct{}, 1), make(chan struct{})
	handle := handlerFunc(func([]Message) {
		entered <- struct{}{}
		<-release // the frame is in flight until Shutdown has begun
		handled.Add(1)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{}, handle, zerolog.Nop())
	s.hooks.draining = func() { close(release) }
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c := spoptest.Dial(t, l.Addr().String())
	c.Hello(false)
	c.Write(spoptest.NotifyFrame(7, requestMsg(ip4, "ua", nil)))
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after Shutdown, want nil", err)
	}
	if handled.Load() != 1 {
		t.Fatalf("Shutdown returned before the in-flight frame was handled")
	}
	typ, _ := c.Read()
	if typ != 0x67 {
		t.Fatalf("first frame after shutdown has type %#x, want the in-flight frame's ACK", typ)
	}
	frames, closed := c.Closed()
	if !closed || len(frames) != 1 || frames[0] != 0x66 {
		t.Fatalf("after the ACK: frames=%x closed=%v; want one AGENT-DISCONNECT then close", frames, closed)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Errorf("the listener still accepts after Shutdown")
	}
}

// The message names of the shipped configuration; the server passes any name
// on.
const (
	msgRequest = "headcount-request"
	msgLogout  = "headcount-logout"
)

func requestMsg(ip, ua, xff any) spoptest.Message { return spoptest.Msg(msgRequest, ip, ua, xff) }
func logoutMsg(ip, ua, xff any) spoptest.Message  { return spoptest.Msg(msgLogout, ip, ua, xff) }
