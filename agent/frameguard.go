package agent

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

// SPOP frame types and disconnect status codes (HAProxy's SPOE.txt, 3.2 and 3.5).
const (
	frameHaproxyHello      = 0x01
	frameHaproxyDisconnect = 0x02
	frameNotify            = 0x03

	statusNormal        = 0
	statusFrameTooBig   = 3
	statusInvalidFrame  = 4
	defaultMaxFrameSize = 16380 // HAProxy's default: tune.bufsize (16384) minus the length prefix
	maxFrameSizeCeiling = 1 << 20
	minFrameSize        = 7 // type, 4 flag bytes, stream-id and frame-id varints of one byte at least
	drainGrace          = 2 * time.Second
)

// errFrameRefused is returned by guardConn.Read for a frame it will not pass on.
var errFrameRefused = errors.New("frame refused")

// guardConn sits between an SPOP connection and the library's worker. It
// passes frames through whole and only after checking their length against
// the negotiated maximum, so the library never allocates for a length it did
// not agree to (it allocates length-1 bytes blindly: a zero length asks for
// 4 GiB). It also reports every frame's type (for coverage), learns the
// max-frame-size from HAProxy's HELLO, and ends the stream at a frame
// boundary when the server drains.
type guardConn struct {
	net.Conn
	br       *bufio.Reader
	onFrame  func(typ byte)
	onRefuse func(reason string)

	maxFrame  uint32
	hdr       [5]byte
	hdrN      int    // header bytes read of the next frame
	hdrOut    int    // header bytes already passed on
	remaining uint32 // body bytes of the current frame still to pass on
	hello     []byte // the HELLO frame's body, collected to learn max-frame-size
	inHello   bool

	draining  atomic.Bool
	graceSet  bool
	writeMu   sync.Mutex
	closeOnce sync.Once
}

func newGuardConn(c net.Conn, onFrame func(byte), onRefuse func(string)) *guardConn {
	return &guardConn{
		Conn:     c,
		br:       bufio.NewReaderSize(c, 32<<10),
		onFrame:  onFrame,
		onRefuse: onRefuse,
		maxFrame: defaultMaxFrameSize,
	}
}

// Read passes on the bytes of whole, length-checked frames.
func (g *guardConn) Read(p []byte) (int, error) {
	if g.remaining == 0 && g.hdrOut == 0 {
		if err := g.readHeader(); err != nil {
			return 0, err
		}
	}
	if g.hdrOut < len(g.hdr) {
		n := copy(p, g.hdr[g.hdrOut:])
		g.hdrOut += n
		if g.hdrOut == len(g.hdr) && g.remaining == 0 {
			g.hdrOut = 0
		}
		return n, nil
	}
	if uint32(len(p)) > g.remaining {
		p = p[:g.remaining]
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
	if err != nil && g.draining.Load() && isTimeout(err) && n == 0 {
		if !g.graceSet {
			g.graceSet = true
			_ = g.Conn.SetReadDeadline(time.Now().Add(drainGrace))
			return 0, nil
		}
	}
	return n, err
}

// readHeader reads the next frame's length and type and checks them.
func (g *guardConn) readHeader() error {
	for g.hdrN < len(g.hdr) {
		if g.hdrN == 0 && g.draining.Load() && g.br.Buffered() == 0 {
			return io.EOF
		}
		n, err := g.br.Read(g.hdr[g.hdrN:])
		g.hdrN += n
		if err != nil {
			if g.draining.Load() && isTimeout(err) {
				if g.hdrN == 0 {
					return io.EOF
				}
				if !g.graceSet { // a frame had begun: give it a little longer
					g.graceSet = true
					_ = g.Conn.SetReadDeadline(time.Now().Add(drainGrace))
					continue
				}
			}
			if err == io.EOF && g.hdrN > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	g.hdrN = 0
	length := binary.BigEndian.Uint32(g.hdr[:4])
	typ := g.hdr[4]
	switch {
	case length > g.maxFrame:
		return g.refuse(statusFrameTooBig, fmt.Sprintf("frame of %d bytes is larger than the negotiated %d", length, g.maxFrame))
	case length < minFrameSize:
		return g.refuse(statusInvalidFrame, fmt.Sprintf("frame of %d bytes is too short", length))
	}
	g.remaining = length - 1
	g.inHello = typ == frameHaproxyHello
	g.hello = g.hello[:0]
	if g.onFrame != nil {
		g.onFrame(typ)
	}
	return nil
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

// Write serialises writes: the library's per-frame goroutines write ACKs
// concurrently.
func (g *guardConn) Write(p []byte) (int, error) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	return g.Conn.Write(p)
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
