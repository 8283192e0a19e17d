package spop

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"

	"github.com/rs/zerolog"
)

// agentFrame decodes a control frame the agent sent (the payload Read
// returns) with the test's independent decoder.
func agentFrame(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	flags, sid, fid, items, err := spoptest.DecodeKV(payload)
	if err != nil {
		t.Fatalf("decoding the agent's frame: %v", err)
	}
	if flags != flagFin || sid != 0 || fid != 0 {
		t.Errorf("control frame flags=%#x stream-id=%d frame-id=%d; want FIN only, 0, 0", flags, sid, fid)
	}
	return items
}

func helloWithFrameSize(size uint32) []byte {
	return spoptest.EncodeHelloKV(
		spoptest.KV{Name: "supported-versions", Value: "2.0"},
		spoptest.KV{Name: "max-frame-size", Value: size},
		spoptest.KV{Name: "capabilities", Value: "pipelining,async,fragmentation"},
		spoptest.KV{Name: "engine-id", Value: "test-engine"},
	)
}

// notifyOfSize is a NOTIFY frame whose length prefix says size.
func notifyOfSize(t *testing.T, size int) []byte {
	t.Helper()
	pad := size - (len(spoptest.NotifyFrame(1, requestMsg(ip4, "", nil))) - 4)
	for n := max(0, pad-3); n <= pad; n++ { // the User-Agent's length takes 1 to 3 varint bytes
		if f := spoptest.NotifyFrame(1, requestMsg(ip4, strings.Repeat("u", n), nil)); len(f)-4 == size {
			return f
		}
	}
	t.Fatalf("no NOTIFY of %d bytes", size)
	return nil
}

// TestServer_HelloNegotiates checks the AGENT-HELLO: version 2.0,
// max-frame-size the smaller of HAProxy's and the agent's, capabilities
// exactly "pipelining" whatever HAProxy offers; and that the negotiated size
// is the limit from then on.
func TestServer_HelloNegotiates(t *testing.T) {
	for _, theirs := range []uint32{256, 1000, 16380, agentMaxFrameSize, 1 << 20} {
		t.Run(fmt.Sprint(theirs), func(t *testing.T) {
			want := min(theirs, agentMaxFrameSize)
			s := startServer(t, Config{}, &countingHandler{})
			c := spoptest.Dial(t, s.addr)
			c.Write(helloWithFrameSize(theirs))
			typ, payload := c.Read()
			if typ != frameAgentHello {
				t.Fatalf("answer has type %#x, want AGENT-HELLO", typ)
			}
			items := agentFrame(t, payload)
			if v := items["version"]; v != "2.0" {
				t.Errorf("version = %v, want 2.0", v)
			}
			if v := items["capabilities"]; v != "pipelining" {
				t.Errorf("capabilities = %q, want exactly pipelining", v)
			}
			if v := items["max-frame-size"]; v != want {
				t.Errorf("max-frame-size = %v, want %d", v, want)
			}
			if len(items) != 3 {
				t.Errorf("AGENT-HELLO items %v, want version, max-frame-size and capabilities", items)
			}

			if want >= 300 { // room for a NOTIFY
				c.Write(notifyOfSize(t, int(want)))
				if typ, _ := c.Read(); typ != frameAck {
					t.Fatalf("a NOTIFY of the negotiated size got %#x, want an ACK", typ)
				}
			}
			c.Write(frameWithLength(want + 1))
			typ, payload = c.Read()
			if typ != frameAgentDisconnect {
				t.Fatalf("a frame over the negotiated size got %#x, want AGENT-DISCONNECT", typ)
			}
			if st := agentFrame(t, payload)["status-code"]; st != uint32(statusFrameTooBig) {
				t.Errorf("status-code %v, want %d (frame too big)", st, statusFrameTooBig)
			}
		})
	}
}

// TestServer_HelloRefused checks the HELLOs the agent refuses and the status
// it answers with.
func TestServer_HelloRefused(t *testing.T) {
	kv := func(name string, v any) spoptest.KV { return spoptest.KV{Name: name, Value: v} }
	cases := []struct {
		name   string
		items  []spoptest.KV
		status uint32
	}{
		{"no supported-versions", []spoptest.KV{kv("max-frame-size", uint32(16380)), kv("capabilities", "")}, statusNoVersion},
		{"no 2.x version", []spoptest.KV{kv("supported-versions", "1.0, 3.0"), kv("max-frame-size", uint32(16380))}, statusBadVersion},
		{"no max-frame-size", []spoptest.KV{kv("supported-versions", "2.0")}, statusNoFrameSize},
		{"max-frame-size under 256", []spoptest.KV{kv("supported-versions", "2.0"), kv("max-frame-size", uint32(255))}, statusBadFrameSize},
		{"max-frame-size a string", []spoptest.KV{kv("supported-versions", "2.0"), kv("max-frame-size", "16380")}, statusInvalidFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Config{}, &countingHandler{})
			c := spoptest.Dial(t, s.addr)
			c.Write(spoptest.EncodeHelloKV(tc.items...))
			typ, payload := c.Read()
			if typ != frameAgentDisconnect {
				t.Fatalf("answer has type %#x, want AGENT-DISCONNECT", typ)
			}
			if st := agentFrame(t, payload)["status-code"]; st != tc.status {
				t.Errorf("status-code %v, want %d", st, tc.status)
			}
			if _, closed := c.Closed(); !closed {
				t.Errorf("the connection stayed open")
			}
		})
	}
}

// TestServer_HAProxyDisconnect: HAProxy's DISCONNECT is answered with an
// AGENT-DISCONNECT, after the ACKs of the frames before it, then the agent
// closes.
func TestServer_HAProxyDisconnect(t *testing.T) {
	s := startServer(t, Config{}, &countingHandler{})
	c := spoptest.Dial(t, s.addr)
	c.Hello(false)
	disconnect := []byte{0, 0, 0, 0, frameHaproxyDisconnect, 0, 0, 0, flagFin, 0, 0}
	disconnect = append(disconnect, 11)
	disconnect = append(disconnect, "status-code"...)
	disconnect = append(disconnect, TypeUint32, 0)
	disconnect = append(disconnect, 7)
	disconnect = append(disconnect, "message"...)
	disconnect = append(disconnect, TypeString, 2, 'o', 'k')
	binary.BigEndian.PutUint32(disconnect, uint32(len(disconnect)-4))
	c.Write(append(spoptest.NotifyFrame(1, requestMsg(ip4, "ua", nil)), disconnect...))
	if typ, _ := c.Read(); typ != frameAck {
		t.Fatalf("first answer %#x, want the NOTIFY's ACK", typ)
	}
	typ, payload := c.Read()
	if typ != frameAgentDisconnect {
		t.Fatalf("answer to HAPROXY-DISCONNECT has type %#x, want AGENT-DISCONNECT", typ)
	}
	if st := agentFrame(t, payload)["status-code"]; st != uint32(0) {
		t.Errorf("status-code %v, want 0", st)
	}
	if frames, closed := c.Closed(); !closed || len(frames) != 0 {
		t.Errorf("after AGENT-DISCONNECT: frames=%x closed=%v; want closed", frames, closed)
	}
	if got := s.counters.badFrames.Load(); got != 0 {
		t.Errorf("a DISCONNECT counted as a refused frame")
	}
}

type ids struct{ stream, frame uint64 }

// readAcks reads n ACKs and returns their ids, checking that each has FIN
// set and no actions.
func readAcks(t *testing.T, c *spoptest.Client, n int) []ids {
	t.Helper()
	var got []ids
	for range n {
		typ, payload := c.Read()
		if typ != frameAck {
			t.Fatalf("answer has type %#x, want ACK", typ)
		}
		flags, sid, fid, rest, ok := readMetadata(payload)
		if !ok || flags != flagFin || len(rest) != 0 {
			t.Fatalf("ACK %x: flags %#x, actions %x; want FIN and no actions", payload, flags, rest)
		}
		got = append(got, ids{sid, fid})
	}
	return got
}

// TestServer_PipelinedNotifies sends NOTIFY frames of interleaved streams in
// one write, as HAProxy 3.1+ does with up to 20 streams on a connection, then
// the same frames cut at every few bytes: every frame gets its ACK with its
// own stream-id and frame-id.
func TestServer_PipelinedNotifies(t *testing.T) {
	h := &countingHandler{}
	s := startServer(t, Config{}, h)
	c := spoptest.Dial(t, s.addr)
	c.Hello(false)
	var want []ids
	var stream []byte
	for i := range 60 {
		id := ids{uint64(1 + i%20), uint64(1 + i/20)}
		if i%7 == 0 {
			id = ids{uint64(300 + i), uint64(70000 + i)} // ids of several varint bytes
		}
		want = append(want, id)
		stream = append(stream, spoptest.NotifyFrameIDs(id.stream, id.frame, requestMsg(ip4, fmt.Sprint("ua", i), nil))...)
	}
	c.Write(stream)
	if got := readAcks(t, c, len(want)); !slices.Equal(got, want) {
		t.Fatalf("ACKs %v, want %v", got, want)
	}

	go func() { // the same frames in pieces that straddle frame boundaries
		for b := stream; len(b) > 0; {
			n := min(len(b), 7)
			if _, err := c.Conn.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
	}()
	if got := readAcks(t, c, len(want)); !slices.Equal(got, want) {
		t.Fatalf("ACKs of the cut frames %v, want %v", got, want)
	}
	if got := h.count(msgRequest); got != 2*len(want) {
		t.Errorf("handled %d messages, want %d", got, 2*len(want))
	}
}

// writeRecorder is a net.Conn that records each Write's bytes.
type writeRecorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, bytes.Clone(p))
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// frameTypes returns the types of the whole frames in b, or an error if b
// does not end at a frame boundary.
func frameTypes(b []byte) ([]byte, error) {
	var types []byte
	for len(b) > 0 {
		if len(b) < 5 || int(binary.BigEndian.Uint32(b))+4 > len(b) {
			return types, fmt.Errorf("a frame is cut: %d bytes left", len(b))
		}
		types = append(types, b[4])
		b = b[4+binary.BigEndian.Uint32(b):]
	}
	return types, nil
}

// TestServeConn_EachFrameOneWrite checks that every frame the agent sends is
// written with a single Write (HAProxy 3.2.22 reset connections whose
// AGENT-HELLO arrived in two pieces: haproxy/haproxy#3478), that control
// frames are never split, and that ACKs are batched.
func TestServeConn_EachFrameOneWrite(t *testing.T) {
	notify := func(id uint64) []byte { return spoptest.NotifyFrame(id, requestMsg(ip4, "ua", nil)) }
	cases := []struct {
		name    string
		stream  [][]byte // written one after another, each after the answers to the one before
		answers []int    // how many frames answer each write
		want    []byte   // frame types the agent sends
	}{
		{"hello, notifies, HAProxy disconnects",
			[][]byte{spoptest.HelloFrame(), append(append(notify(1), notify(2)...), notify(3)...), {0, 0, 0, 7, frameHaproxyDisconnect, 0, 0, 0, 1, 0, 0}},
			[]int{1, 3, 1}, []byte{frameAgentHello, frameAck, frameAck, frameAck, frameAgentDisconnect}},
		{"health check", [][]byte{spoptest.EncodeHello(true)}, []int{1}, []byte{frameAgentHello}},
		{"notifies then a bad frame", [][]byte{spoptest.HelloFrame(), append(append(notify(1), notify(2)...), frameWithLength(0)...)},
			[]int{1, 3}, []byte{frameAgentHello, frameAck, frameAck, frameAgentDisconnect}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(Config{}, &countingHandler{}, zerolog.Nop())
			client, server := net.Pipe()
			rec := &writeRecorder{Conn: server}
			done := make(chan struct{})
			go func() {
				s.ServeConn(rec)
				close(done)
			}()
			c := spoptest.NewClient(t, client)
			var got []byte
			for i, b := range tc.stream {
				c.Write(b)
				for range tc.answers[i] {
					typ, _ := c.Read()
					got = append(got, typ)
				}
			}
			_ = client.Close()
			<-done
			if !bytes.Equal(got, tc.want) {
				t.Errorf("agent sent frame types %x, want %x", got, tc.want)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.writes) == 0 || len(rec.writes[0]) == 0 {
				t.Fatalf("no writes")
			}
			var all []byte
			for i, w := range rec.writes {
				types, err := frameTypes(w)
				if err != nil {
					t.Errorf("write %d (%x): %v", i, w, err)
				}
				if slices.Contains(types, frameAgentHello) && len(types) != 1 {
					t.Errorf("write %d holds an AGENT-HELLO and more: %x", i, types)
				}
				all = append(all, types...)
			}
			if !bytes.Equal(all, tc.want) {
				t.Errorf("writes hold frame types %x, want %x", all, tc.want)
			}
			if tc.name == "hello, notifies, HAProxy disconnects" && len(rec.writes) != 3 {
				t.Errorf("%d writes, want 3: AGENT-HELLO, the three ACKs together, AGENT-DISCONNECT", len(rec.writes))
			}
		})
	}
}

// TestServer_ShutdownDisconnectsIdleConnections: a connection waiting for
// its next frame gets AGENT-DISCONNECT status 0 at once when the server
// shuts down.
func TestServer_ShutdownDisconnectsIdleConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{}, &countingHandler{}, zerolog.Nop())
	go func() { _ = s.Serve(l) }()
	c := spoptest.Dial(t, l.Addr().String())
	c.Hello(false)
	c.Notify(requestMsg(ip4, "ua", nil))
	start := time.Now()
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	typ, payload := c.Read()
	if typ != frameAgentDisconnect {
		t.Fatalf("got %#x, want AGENT-DISCONNECT", typ)
	}
	items := agentFrame(t, payload)
	if items["status-code"] != uint32(0) || items["message"] != "agent is shutting down" {
		t.Errorf("AGENT-DISCONNECT %v, want status 0, agent is shutting down", items)
	}
	if d := time.Since(start); d > drainGrace {
		t.Errorf("Shutdown took %v with an idle connection", d)
	}
}

// TestServeConn_NoAllocationsPerFrame: once a connection is set up, handling
// NOTIFY frames allocates nothing, however many there are.
func TestServeConn_NoAllocationsPerFrame(t *testing.T) {
	s := NewServer(Config{}, &nopHandler{}, zerolog.Nop())
	notify := spoptest.NotifyFrame(7, requestMsg(ip4, "Mozilla/5.0", "203.0.113.1"))
	allocs := func(frames int) float64 {
		stream := spoptest.HelloFrame()
		for range frames {
			stream = append(stream, notify...)
		}
		return testing.AllocsPerRun(5, func() { s.ServeConn(&spoptest.StreamConn{Stream: stream, Piece: 1500}) })
	}
	few, many := allocs(1000), allocs(10000)
	t.Logf("allocations per connection: %v with 1000 frames, %v with 10000", few, many)
	// 9,000 more frames: one allocation per frame would add 9,000. A few
	// more come and go with the runtime's own work (a GC cycle, a timer).
	if many-few >= 90 {
		t.Errorf("a connection of 1000 frames allocates %v times, one of 10000 frames %v times", few, many)
	}
}

type nopHandler struct{}

func (*nopHandler) HandleMessages(time.Time, []Message) []byte { return nil }

// TestServer_PanicAcksHandledFrames: a panic in the handler on the third of
// three pipelined NOTIFYs still acknowledges the two already metered, then
// says AGENT-DISCONNECT, so HAProxy does not hold those requests until its
// processing timeout.
func TestServer_PanicAcksHandledFrames(t *testing.T) {
	var handled atomic.Int32
	handle := handlerFunc(func(msgs []Message) {
		for _, m := range msgs {
			if v, _ := m.Arg("ua"); string(v.Bytes) == "boom" {
				panic("handler failed")
			}
		}
		handled.Add(1)
	})
	s := startServer(t, Config{}, handle)
	c := spoptest.Dial(t, s.addr)
	c.Hello(false)
	var b []byte
	b = append(b, spoptest.NotifyFrame(1, requestMsg(ip4, "a", nil))...)
	b = append(b, spoptest.NotifyFrame(2, requestMsg(ip4, "b", nil))...)
	b = append(b, spoptest.NotifyFrame(3, requestMsg(ip4, "boom", nil))...)
	c.Write(b)
	frames, closed := c.Closed()
	if handled.Load() != 2 || !closed || string(frames) != string([]byte{frameAck, frameAck, frameAgentDisconnect}) {
		t.Errorf("handled %d, closed %v, frames %x; want 2 handled, ACK ACK AGENT-DISCONNECT, closed", handled.Load(), closed, frames)
	}
}

// TestServer_RefusedFramesAreNoContact: only a valid HELLO or NOTIFY tells
// coverage that HAProxy reached the agent. Frames the agent refuses (an
// unknown type, a NOTIFY before the HELLO, a HELLO without a version) would
// otherwise make days in which nothing could be metered look covered.
func TestServer_RefusedFramesAreNoContact(t *testing.T) {
	s := startServer(t, Config{}, &countingHandler{})
	for _, f := range [][]byte{
		{0, 0, 0, 7, 0x42, 0, 0, 0, 1, 0, 0},                                              // unknown type
		{0, 0, 0, 7, frameNotify, 0, 0, 0, 1, 0, 0},                                       // NOTIFY before the HELLO
		spoptest.EncodeHelloKV(spoptest.KV{Name: "max-frame-size", Value: uint32(16380)}), // no version
	} {
		c := spoptest.Dial(t, s.addr)
		c.Write(f)
		if _, closed := c.Closed(); !closed {
			t.Fatalf("frame %x: the connection stayed open", f)
		}
	}
	if n := s.contacts.Load(); n != 0 {
		t.Errorf("%d refused frames counted as HAProxy's contact", n)
	}
	c := spoptest.Dial(t, s.addr)
	c.Hello(true)
	if n := s.contacts.Load(); n != 1 {
		t.Errorf("a health check counted %d contacts, want 1", n)
	}
}

// TestServer_ServeAfterShutdown: Serve called after Shutdown (the agent was
// stopped before its accept loop started) closes the listener instead of
// leaving the port bound.
func TestServer_ServeAfterShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{}, &countingHandler{}, zerolog.Nop())
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the listener accepts connections after Serve returned")
	}
}

// TestAppendSetVarUint pins the set-var action's bytes to SPOE.txt's layout:
// SET-VAR (1), NB-ARGS (3), VAR-SCOPE, VAR-NAME (string), VAR-VALUE (typed
// data: UINT32 and a varint).
func TestAppendSetVarUint(t *testing.T) {
	got := AppendSetVarUint([]byte{0xAA}, ScopeTxn, "ok", 1)
	if want := []byte{0xAA, 1, 3, 2, 2, 'o', 'k', TypeUint32, 1}; !bytes.Equal(got, want) {
		t.Errorf("ok=1: % x, want % x", got, want)
	}
	got = AppendSetVarUint(nil, ScopeSess, "max_in", 14402)
	if want := []byte{1, 3, 1, 6, 'm', 'a', 'x', '_', 'i', 'n', TypeUint32, 0xF2, 0xF5, 0x05}; !bytes.Equal(got, want) {
		t.Errorf("max_in=14402: % x, want % x", got, want)
	}
}

// actionsHandler answers every frame with the same ACK actions.
type actionsHandler []byte

func (h actionsHandler) HandleMessages(time.Time, []Message) []byte { return h }

// TestServer_AckCarriesActions: the actions a handler returns follow the
// ACK's ids, whole, in the ACK of their own frame only.
func TestServer_AckCarriesActions(t *testing.T) {
	actions := AppendSetVarUint(AppendSetVarUint(nil, ScopeTxn, "ok", 1), ScopeTxn, "max_in", 14402)
	s := startServer(t, Config{}, actionsHandler(actions))
	c := spoptest.Dial(t, s.addr)
	c.Hello(false)
	c.Write(append(spoptest.NotifyFrameIDs(7, 1, requestMsg(ip4, "ua", nil)), spoptest.NotifyFrameIDs(300, 70000, requestMsg(ip4, "ua", nil))...))
	for _, want := range []ids{{7, 1}, {300, 70000}} {
		typ, payload := c.Read()
		if typ != frameAck {
			t.Fatalf("answer has type %#x, want ACK", typ)
		}
		flags, sid, fid, rest, ok := readMetadata(payload)
		if !ok || flags != flagFin || (ids{sid, fid}) != want || !bytes.Equal(rest, actions) {
			t.Fatalf("ACK % x: flags %#x, ids %d/%d, actions % x; want FIN, %v, actions % x", payload, flags, sid, fid, rest, want, actions)
		}
	}
}
