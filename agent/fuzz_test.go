package agent

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/agent/spop/spoptest"
)

// serveOverPipe serves stream (after a valid HELLO when hello is set) on one
// connection of a real server, handler and table, and returns the table once
// the connection has ended.
func serveOverPipe(t *testing.T, stream []byte, hello bool) *session.Table {
	table, err := session.New(session.Config{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(HandlerConfig{Production: true}, table, zerolog.Nop())
	s := spop.NewServer(spop.Config{}, h, zerolog.Nop())
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		s.ServeConn(server)
		close(done)
	}()
	go func() { _, _ = io.Copy(io.Discard, client) }()
	_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if hello {
		if _, err := client.Write(spoptest.HelloFrame()); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = client.Write(stream) // the agent may close before reading it all
	_ = client.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end after its peer closed")
	}
	return table
}

// FuzzServeConn feeds arbitrary bytes after a valid HELLO to a connection of
// a real server, handler and session table. Whatever arrives, the agent must
// not crash (an unrecovered panic in any goroutine fails the fuzzer), must
// end the connection, and must keep its table consistent.
func FuzzServeConn(f *testing.F) {
	f.Add(spoptest.NotifyFrame(1, requestMsg(ip4, "Mozilla/5.0", "203.0.113.1")))
	f.Add(append(spoptest.NotifyFrame(1, requestMsg(ip4, nil, nil)), spoptest.NotifyFrame(2, logoutMsg(ip4, nil, nil))...))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x03})
	f.Add(func() []byte { b := spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil)); b[11] = 200; return b }())
	f.Add(func() []byte { b := spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil)); return b[:len(b)-3] }())
	f.Add([]byte{0, 0, 0, 9, 0x02, 0, 0, 0, 1, 0, 0, 0, 0}) // HAPROXY-DISCONNECT, empty KV
	f.Fuzz(func(t *testing.T, stream []byte) {
		table := serveOverPipe(t, stream, true)
		st := table.Stats()
		if st.Live < 0 || uint64(st.Live) > st.Started {
			t.Fatalf("table inconsistent: live %d, started %d", st.Live, st.Started)
		}
	})
}

// FuzzServeConnRaw is FuzzServeConn without the HELLO first: frames in any
// order from the first byte (NOTIFY or DISCONNECT before the HELLO, two
// HELLOs, a HELLO after a NOTIFY).
func FuzzServeConnRaw(f *testing.F) {
	f.Add(spoptest.NotifyFrame(1, requestMsg(ip4, "Mozilla/5.0", nil)))
	f.Add(append(spoptest.HelloFrame(), spoptest.HelloFrame()...))
	f.Add([]byte{0, 0, 0, 9, 0x02, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add(append(spoptest.NotifyFrame(1, requestMsg(ip4, "x", nil)), spoptest.HelloFrame()...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		table := serveOverPipe(t, stream, false)
		if st := table.Stats(); st.Started != 0 && !bytes.HasPrefix(stream, spoptest.HelloFrame()[:5]) && !containsHello(stream) {
			t.Fatalf("%d sessions started without a HELLO", st.Started)
		}
	})
}

// containsHello reports whether a HELLO frame header could be in stream.
func containsHello(stream []byte) bool {
	return bytes.Contains(stream, []byte{0x01}) // HAPROXY-HELLO's type
}
