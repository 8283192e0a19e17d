package haproxy

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/negasus/haproxy-spoe-go/agent"
	"github.com/negasus/haproxy-spoe-go/logger"
	"github.com/negasus/haproxy-spoe-go/request"
)

// spoeArg is one argument of a received SPOE message. value is what
// haproxy-spoe-go decoded, copied: nil (SPOP NULL), string, []byte, net.IP,
// or a number or bool.
type spoeArg struct {
	name  string
	value any
}

// spoeMessage is one received SPOE message.
type spoeMessage struct {
	name string
	args []spoeArg
}

// spoeFrame is the list of messages of one NOTIFY frame.
type spoeFrame []spoeMessage

// contains reports whether any string or binary argument of f contains s.
func (f spoeFrame) contains(s string) bool {
	for _, m := range f {
		for _, a := range m.args {
			switch v := a.value.(type) {
			case string:
				if strings.Contains(v, s) {
					return true
				}
			case []byte:
				if bytes.Contains(v, []byte(s)) {
					return true
				}
			}
		}
	}
	return false
}

// String renders f for failure messages, with SPOP types and long values cut.
func (f spoeFrame) String() string {
	var b strings.Builder
	for _, m := range f {
		fmt.Fprintf(&b, "[%s", m.name)
		for _, a := range m.args {
			var v string
			switch x := a.value.(type) {
			case nil:
				v = "NULL"
			case net.IP:
				v = fmt.Sprintf("net.IP(%s)", x)
			case string:
				v = fmt.Sprintf("string(%d bytes: %.60q)", len(x), x)
			case []byte:
				v = fmt.Sprintf("[]byte(%d bytes: %.60q)", len(x), x)
			default:
				v = fmt.Sprintf("%T(%v)", x, x)
			}
			fmt.Fprintf(&b, " %s=%s", a.name, v)
		}
		b.WriteString("]")
	}
	return b.String()
}

// fakeAgent is an SPOE agent built on haproxy-spoe-go, as headcount is: it
// records every NOTIFY frame and answers with an empty ACK after delay.
type fakeAgent struct {
	addr  string        // host:port it listens on, kept across restarts
	delay time.Duration // how long each ACK is held back

	mu      sync.Mutex
	frames  []spoeFrame
	ln      net.Listener
	conns   map[net.Conn]struct{}
	accepts int           // connections accepted since the first start
	served  chan struct{} // closed when Serve has returned
	running bool
}

// startFakeAgent starts a fakeAgent on a free loopback port, answering after
// delay; it stops when the test ends.
func startFakeAgent(t testing.TB, delay time.Duration) *fakeAgent {
	t.Helper()
	fa := &fakeAgent{addr: "127.0.0.1:0", delay: delay}
	fa.start(t)
	t.Cleanup(fa.stop)
	return fa
}

// start listens on fa.addr (again, after stop) and serves SPOP there.
func (fa *fakeAgent) start(t testing.TB) {
	t.Helper()
	l, err := net.Listen("tcp", fa.addr)
	if err != nil {
		t.Fatalf("fake agent: listen %s: %v", fa.addr, err)
	}
	fa.mu.Lock()
	fa.addr = l.Addr().String()
	fa.ln = l
	fa.conns = make(map[net.Conn]struct{})
	fa.served = make(chan struct{})
	fa.running = true
	served := fa.served
	fa.mu.Unlock()

	go func() {
		defer close(served)
		_ = agent.New(fa.handle, logger.NewNop()).Serve(trackingListener{l, fa})
	}()
}

// stop closes the listener and every connection, as a killed agent would.
func (fa *fakeAgent) stop() {
	fa.mu.Lock()
	if !fa.running {
		fa.mu.Unlock()
		return
	}
	fa.running = false
	fa.ln.Close()
	for c := range fa.conns {
		c.Close()
	}
	served := fa.served
	fa.mu.Unlock()
	<-served
}

// trackingListener records accepted connections so that stop can close them.
type trackingListener struct {
	net.Listener
	fa *fakeAgent
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.fa.mu.Lock()
	defer l.fa.mu.Unlock()
	if !l.fa.running {
		c.Close()
	} else {
		l.fa.conns[c] = struct{}{}
		l.fa.accepts++
	}
	return c, nil
}

// accepted returns how many connections the agent accepted so far.
func (fa *fakeAgent) accepted() int {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return fa.accepts
}

// handle records the messages of one NOTIFY frame. The library reuses its
// buffers after handle returns, so every value is copied.
func (fa *fakeAgent) handle(req *request.Request) {
	var f spoeFrame
	for _, m := range *req.Messages {
		msg := spoeMessage{name: m.Name}
		for _, item := range m.KV.Data() {
			v := item.Value
			switch x := v.(type) {
			case []byte:
				v = bytes.Clone(x)
			case net.IP:
				v = net.IP(bytes.Clone(x))
			}
			msg.args = append(msg.args, spoeArg{name: item.Name, value: v})
		}
		f = append(f, msg)
	}
	fa.mu.Lock()
	fa.frames = append(fa.frames, f)
	fa.mu.Unlock()
	time.Sleep(fa.delay)
}

// allFrames returns the frames received so far.
func (fa *fakeAgent) allFrames() []spoeFrame {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return append([]spoeFrame(nil), fa.frames...)
}

// frameWith returns the first received frame containing id.
func (fa *fakeAgent) frameWith(id string) (spoeFrame, bool) {
	for _, f := range fa.allFrames() {
		if f.contains(id) {
			return f, true
		}
	}
	return nil, false
}

// sendUntilReceived sends GET url with ua and xff until a frame containing
// id reaches the agent, and returns that frame. Every response must be 200.
// Sending again is needed because HAProxy drops a message, by design, when
// opening a connection to the agent (on demand, per thread) takes longer than
// "timeout processing".
func (fa *fakeAgent) sendUntilReceived(t testing.TB, url, ua, xff, id string) spoeFrame {
	t.Helper()
	const (
		perAttempt = time.Second
		overall    = 10 * time.Second
	)
	deadline := time.Now().Add(overall)
	for attempt := 1; ; attempt++ {
		if status := get(t, url, ua, xff); status != http.StatusOK {
			t.Errorf("GET %s (ua %.40q, xff %q): status %d, want 200", url, ua, xff, status)
		}
		wait := time.Now().Add(perAttempt)
		for time.Now().Before(wait) {
			if f, ok := fa.frameWith(id); ok {
				if attempt > 1 {
					t.Logf("%s: reached the agent after %d requests", id, attempt)
				}
				return f
			}
			time.Sleep(5 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SPOE message containing %q reached the agent after %d requests in %v; frames so far: %v",
				id, attempt, overall, fa.allFrames())
		}
	}
}
