package spop

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/negasus/haproxy-spoe-go/frame"
)

// SPOP frame types, flags and disconnect status codes (HAProxy's SPOE.txt,
// 3.2 and 3.5).
const (
	frameHaproxyHello      = 0x01
	frameHaproxyDisconnect = 0x02
	frameNotify            = 0x03
	flagFin                = 0x01

	statusNormal          = 0
	statusFrameTooBig     = 3
	statusInvalidFrame    = 4
	statusNoFragmentation = 10

	defaultMaxFrameSize = 16380 // HAProxy's default: tune.bufsize (16384) minus the length prefix
	maxFrameSizeCeiling = 1 << 20
	minFrameSize        = 7 // type, 4 flag bytes, stream-id and frame-id varints of one byte at least
	drainGrace          = 2 * time.Second
	readBufferSize      = 64 << 10
	ackFlushSize        = 16 << 10 // write pending ACKs at the latest when they reach this size
)

// errFrameRefused is returned by guardConn.Read for a frame it will not pass on.
var errFrameRefused = errors.New("frame refused")

// Handler handles the messages of one NOTIFY frame, received at now.
// The messages and their bytes are valid only during the call.
type Handler interface {
	HandleMessages(now time.Time, msgs []Message)
}

// guardConn sits between an SPOP connection and the library's worker.
//
// It checks every frame's length against the negotiated maximum before
// anything allocates for it (the library allocates length-1 bytes blindly:
// a zero length asks for 4 GiB). NOTIFY frames, the hot path, it handles
// itself: decoded in place from the read buffer, metered, and acknowledged
// into a write buffer that is written once per batch, just before the
// connection would wait for more input. HELLO and DISCONNECT frames pass
// through to the library whole. It also reports every frame's type (for
// coverage), learns max-frame-size from HAProxy's HELLO, and ends the stream
// at a frame boundary when the server drains.
type guardConn struct {
	net.Conn
	br       *bufio.Reader
	handler  Handler
	onFrame  func(typ byte, now time.Time)
	onRefuse func(reason string)
	messages *atomic.Uint64 // messages handled, this connection's stripe

	maxFrame  uint32
	hdr       [5]byte
	hdrN      int    // header bytes read of the next frame
	hdrOut    int    // header bytes already passed on
	remaining uint32 // body bytes of the current frame still to pass on
	hello     []byte // the HELLO frame's body, collected to learn max-frame-size
	inHello   bool
	note      notify // the NOTIFY being handled, reused
	big       []byte // a NOTIFY body larger than the read buffer
	now       time.Time
	stale     bool             // input arrived since now was read: frames read together share one clock reading
	clock     func() time.Time // the metering clock (deadlines use the real one)

	timeouts   timeouts
	helloSeen  bool
	frameArmed bool // the current frame's deadline is set: trickling bytes do not extend it
	onTimeout  func()

	draining atomic.Bool
	graceSet bool

	writeMu   sync.Mutex
	acks      []byte // ACKs not yet written
	closeOnce sync.Once
}

func newGuardConn(c net.Conn, handler Handler, messages *atomic.Uint64, onFrame func(byte, time.Time), onRefuse func(string)) *guardConn {
	return &guardConn{
		Conn:     c,
		br:       bufio.NewReaderSize(c, readBufferSize),
		handler:  handler,
		messages: messages,
		onFrame:  onFrame,
		onRefuse: onRefuse,
		maxFrame: defaultMaxFrameSize,
		stale:    true,
		clock:    time.Now,
	}
}

// timeouts bound how long a connection may wait for input (see ServerConfig).
type timeouts struct{ hello, frame, idle time.Duration }

// arm sets the read deadline before a read that waits for the network:
// the HELLO timeout until the HELLO (set once, at accept), then the idle
// timeout between frames, and inside a frame the frame timeout, counted from
// the first wait in that frame so that a peer trickling bytes cannot extend
// it. A draining connection keeps the deadline drain set.
func (g *guardConn) arm(midFrame bool) {
	if g.draining.Load() || !g.helloSeen {
		return
	}
	if !midFrame {
		g.frameArmed = false
		if g.timeouts.idle > 0 {
			_ = g.Conn.SetReadDeadline(time.Now().Add(g.timeouts.idle))
		}
		return
	}
	if !g.frameArmed && g.timeouts.frame > 0 {
		g.frameArmed = true
		_ = g.Conn.SetReadDeadline(time.Now().Add(g.timeouts.frame))
	}
}

// timedOut reports err as a timeout of this connection's own (not a drain).
func (g *guardConn) timedOut(err error) error {
	if isTimeout(err) && !g.draining.Load() && g.onTimeout != nil {
		g.onTimeout()
	}
	return err
}

// Read handles NOTIFY frames and passes on the bytes of the other frames,
// whole and length-checked.
func (g *guardConn) Read(p []byte) (int, error) {
	for g.remaining == 0 && g.hdrOut == 0 {
		typ, length, err := g.readHeader()
		if err != nil {
			_ = g.flushAcks()
			return 0, err
		}
		if typ != frameNotify {
			g.remaining = length - 1
			break
		}
		if !g.helloSeen {
			return 0, g.refuse(statusInvalidFrame, "NOTIFY frame before the HELLO")
		}
		if err := g.handleNotify(int(length - 1)); err != nil {
			_ = g.flushAcks()
			return 0, err
		}
	}
	if g.hdrOut < len(g.hdr) {
		n := copy(p, g.hdr[g.hdrOut:])
		g.hdrOut += n
		return n, nil
	}
	if uint32(len(p)) > g.remaining {
		p = p[:g.remaining]
	}
	if g.br.Buffered() == 0 {
		g.arm(true)
	}
	n, err := g.br.Read(p)
	if n > 0 && g.inHello {
		g.hello = append(g.hello, p[:n]...)
	}
	g.remaining -= uint32(n)
	if g.remaining == 0 {
		g.hdrOut = 0
		if g.inHello {
			g.learnMaxFrame()
		}
	}
	if err != nil && n == 0 && g.extendForDrain(err) {
		return 0, nil
	}
	if err != nil {
		err = g.timedOut(err)
	}
	return n, err
}

// readHeader reads the next frame's length and type and checks them. Before
// it would wait for input, it writes the ACKs of the frames handled so far.
func (g *guardConn) readHeader() (typ byte, length uint32, err error) {
	if g.hdrN == 0 {
		g.frameArmed = false // a new frame: its own deadline when it has to wait
	}
	for g.hdrN < len(g.hdr) {
		if g.br.Buffered() < len(g.hdr)-g.hdrN {
			if err := g.flushAcks(); err != nil {
				return 0, 0, err
			}
		}
		if g.hdrN == 0 && g.draining.Load() && g.br.Buffered() == 0 {
			return 0, 0, io.EOF
		}
		if g.br.Buffered() == 0 {
			g.stale = true // this read waits for the network
			g.arm(g.hdrN > 0)
		}
		n, err := g.br.Read(g.hdr[g.hdrN:])
		g.hdrN += n
		if err != nil {
			if g.draining.Load() && isTimeout(err) && g.hdrN == 0 {
				return 0, 0, io.EOF
			}
			if g.extendForDrain(err) {
				continue
			}
			if err == io.EOF && g.hdrN > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, g.timedOut(err)
		}
	}
	g.hdrN = 0
	length = binary.BigEndian.Uint32(g.hdr[:4])
	typ = g.hdr[4]
	switch {
	case length > g.maxFrame:
		return 0, 0, g.refuse(statusFrameTooBig, fmt.Sprintf("frame of %d bytes is larger than the negotiated %d", length, g.maxFrame))
	case length < minFrameSize:
		return 0, 0, g.refuse(statusInvalidFrame, fmt.Sprintf("frame of %d bytes is too short", length))
	}
	g.inHello = typ == frameHaproxyHello
	g.helloSeen = g.helloSeen || g.inHello
	g.hello = g.hello[:0]
	if g.stale {
		g.now, g.stale = g.clock(), false
	}
	if g.onFrame != nil {
		g.onFrame(typ, g.now)
	}
	return typ, length, nil
}

// extendForDrain gives a frame that had begun when the server started
// draining drainGrace to arrive whole, once. It reports whether the read
// that failed with err should be retried.
func (g *guardConn) extendForDrain(err error) bool {
	if !g.draining.Load() || !isTimeout(err) || g.graceSet {
		return false
	}
	g.graceSet = true
	_ = g.Conn.SetReadDeadline(time.Now().Add(drainGrace))
	return true
}

// handleNotify meters a NOTIFY frame of size bytes after its type byte and
// queues its ACK.
func (g *guardConn) handleNotify(size int) error {
	body, err := g.body(size)
	if err != nil {
		return err
	}
	if err := decodeNotify(body, &g.note); err != nil {
		return g.refuse(statusInvalidFrame, "malformed NOTIFY frame")
	}
	if g.note.flags&flagFin == 0 {
		return g.refuse(statusNoFragmentation, "fragmented NOTIFY frame (fragmentation was not offered)")
	}
	g.handler.HandleMessages(g.now, g.note.messages)
	g.messages.Add(uint64(len(g.note.messages)))
	if size <= g.br.Size() {
		_, _ = g.br.Discard(size)
	}
	g.writeMu.Lock()
	g.acks = appendAck(g.acks, g.note.streamID, g.note.frameID)
	full := len(g.acks) >= ackFlushSize
	g.writeMu.Unlock()
	if full {
		return g.flushAcks()
	}
	return nil
}

// body returns the next size bytes: in place in the read buffer when they
// fit (the caller discards them after use), else copied.
func (g *guardConn) body(size int) ([]byte, error) {
	if g.br.Buffered() < size {
		if err := g.flushAcks(); err != nil { // about to wait for input
			return nil, err
		}
		g.arm(true)
	}
	if size <= g.br.Size() {
		for {
			b, err := g.br.Peek(size)
			if err == nil {
				return b, nil
			}
			if !g.extendForDrain(err) {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, g.timedOut(err)
			}
		}
	}
	if cap(g.big) < size {
		g.big = make([]byte, size)
	}
	b := g.big[:size]
	for n := 0; n < size; {
		m, err := g.br.Read(b[n:])
		n += m
		if err != nil && !g.extendForDrain(err) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, g.timedOut(err)
		}
	}
	return b, nil
}

// learnMaxFrame reads max-frame-size from HAProxy's HELLO; the library
// answers with the same value, so it is the negotiated maximum.
func (g *guardConn) learnMaxFrame() {
	g.inHello = false
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	buf := make([]byte, 0, 5+len(g.hello))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(g.hello)+1))
	buf = append(buf, frameHaproxyHello)
	buf = append(buf, g.hello...)
	func() {
		defer func() { _ = recover() }() // a malformed HELLO is the library's to refuse
		if f.Read(bytes.NewReader(buf)) == nil && f.MaxFrameSize > 0 {
			g.maxFrame = min(f.MaxFrameSize, maxFrameSizeCeiling)
		}
	}()
}

// refuse tells HAProxy why the connection ends and fails the read.
func (g *guardConn) refuse(status uint32, message string) error {
	if g.onRefuse != nil {
		g.onRefuse(message)
	}
	g.writeDisconnect(status, message)
	return fmt.Errorf("%w: %s", errFrameRefused, message)
}

// Write writes the library's frames (HELLO, DISCONNECT) after the ACKs
// queued before them.
func (g *guardConn) Write(p []byte) (int, error) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if err := g.flushLocked(); err != nil {
		return 0, err
	}
	return g.Conn.Write(p)
}

// flushAcks writes the queued ACKs.
func (g *guardConn) flushAcks() error {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	return g.flushLocked()
}

func (g *guardConn) flushLocked() error {
	if len(g.acks) == 0 {
		return nil
	}
	_, err := g.Conn.Write(g.acks)
	g.acks = g.acks[:0]
	return err
}

func (g *guardConn) writeDisconnect(status uint32, message string) {
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	f.Type = frame.TypeAgentDisconnect
	f.KV.Add("status-code", status)
	f.KV.Add("message", message)
	var buf bytes.Buffer
	if _, err := f.Encode(&buf); err != nil {
		return
	}
	_ = g.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = g.Write(buf.Bytes())
}

// drain makes the stream end at the next frame boundary: a connection
// waiting for a frame ends now, one in the middle of a frame gets drainGrace
// to finish it.
func (g *guardConn) drain() {
	g.draining.Store(true)
	_ = g.Conn.SetReadDeadline(time.Now())
}

// Close says goodbye to HAProxy when the server drains, then closes.
func (g *guardConn) Close() error {
	var err error
	g.closeOnce.Do(func() {
		if g.draining.Load() {
			g.writeDisconnect(statusNormal, "agent is shutting down")
		}
		err = g.Conn.Close()
	})
	return err
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
