package spop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

const (
	readBufferSize = 64 << 10 // holds the largest frame the agent negotiates, length prefix included
	ackFlushSize   = 16 << 10 // pending ACKs are written at the latest when they reach this size
	drainGrace     = 2 * time.Second
	writeTimeout   = 10 * time.Second // a peer that does not read its ACKs for this long is dropped
)

// Reasons a connection's loop ends without a network error.
var (
	errRefused     = errors.New("frame refused")
	errDraining    = errors.New("server is shutting down")
	errHealthcheck = errors.New("health check answered")
	errDisconnect  = errors.New("HAProxy disconnected")
)

// conn is one SPOP connection and its loop. Only the loop's goroutine
// touches it, except draining (set by Shutdown) and nc (closed by Shutdown
// when draining takes too long).
type conn struct {
	s        *Server
	nc       net.Conn
	messages *atomic.Uint64 // messages handled: this connection's stripe of the server's counter

	buf  []byte    // frames read; the unread ones are buf[r:w]
	r, w int       //
	out  []byte    // frames to write: ACKs batched until the loop would wait, then control frames
	now  time.Time // the metering clock's reading at the last read: frames read together share it
	note notify    // the NOTIFY being handled, reused

	maxFrame   uint32    // the largest frame accepted: 16380 until the HELLO, then the negotiated size
	renewWrite time.Time // when the write deadline is next pushed back
	helloDone  bool
	frameArmed bool // the current frame's deadline is set: trickling bytes do not extend it
	graced     bool // a frame begun when draining started got its grace

	draining atomic.Bool
}

// serve runs the connection's loop: read a frame header, check its length,
// read the frame, dispatch on its type. It returns why the connection ends;
// whatever the loop had to say to HAProxy has been written then.
func (c *conn) serve() error {
	for {
		if err := c.fill(5); err != nil {
			return err
		}
		length := binary.BigEndian.Uint32(c.buf[c.r:])
		typ := c.buf[c.r+4]
		switch {
		case length > c.maxFrame:
			return c.refuse(statusFrameTooBig, fmt.Sprintf("frame of %d bytes is larger than the negotiated %d", length, c.maxFrame))
		case length < minFrameSize:
			return c.refuse(statusInvalidFrame, fmt.Sprintf("frame of %d bytes is too short", length))
		}
		size := 4 + int(length)
		if err := c.fill(size); err != nil {
			return err
		}
		body := c.buf[c.r+5 : c.r+size] // after the type byte; valid until the next fill
		c.r += size
		c.frameArmed = false
		var err error
		switch typ {
		case frameNotify:
			err = c.notify(body)
		case frameHaproxyHello:
			err = c.hello(body)
		case frameHaproxyDisconnect:
			err = c.disconnect(body)
		default:
			err = c.refuse(statusInvalidFrame, fmt.Sprintf("unexpected frame type %d", typ))
		}
		if err != nil {
			return err
		}
	}
}

// notify hands a NOTIFY frame's messages to the handler and queues its ACK.
func (c *conn) notify(body []byte) error {
	if !c.helloDone {
		return c.refuse(statusInvalidFrame, "NOTIFY frame before the HELLO")
	}
	if err := decodeNotify(body, &c.note); err != nil {
		return c.refuse(statusInvalidFrame, "malformed NOTIFY frame")
	}
	if c.note.flags&flagFin == 0 {
		return c.refuse(statusNoFragmentation, "fragmented NOTIFY frame (fragmentation was not offered)")
	}
	c.contact()
	actions := c.s.handler.HandleMessages(c.now, c.note.messages)
	c.messages.Add(uint64(len(c.note.messages)))
	c.out = appendAck(c.out, c.note.streamID, c.note.frameID, actions)
	if len(c.out) >= ackFlushSize {
		return c.flush(time.Now())
	}
	return nil
}

// hello answers a HAPROXY-HELLO with an AGENT-HELLO. A health check's
// connection ends after the answer.
func (c *conn) hello(body []byte) error {
	if c.helloDone {
		return c.refuse(statusInvalidFrame, "second HELLO on a connection")
	}
	h, status, reason := decodeHello(body)
	if status != 0 {
		return c.refuse(status, reason)
	}
	c.contact()
	c.maxFrame = min(h.maxFrameSize, agentMaxFrameSize)
	c.out = appendAgentHello(c.out, c.maxFrame)
	if err := c.flush(time.Now()); err != nil {
		return err
	}
	if h.healthcheck {
		return errHealthcheck
	}
	c.helloDone = true
	return nil
}

// contact tells OnContact that HAProxy reached the agent: a valid HELLO or NOTIFY.
func (c *conn) contact() {
	if c.s.cfg.OnContact != nil {
		c.s.cfg.OnContact(c.now)
	}
}

// disconnect answers a HAPROXY-DISCONNECT with an AGENT-DISCONNECT.
func (c *conn) disconnect(body []byte) error {
	if status, ok := disconnectStatus(body); ok && status != statusNormal {
		c.s.log.Debug().Uint64("status", status).Msg("HAProxy closed an SPOP connection with an error status")
	}
	c.out = appendAgentDisconnect(c.out, statusNormal, "connection closed by HAProxy")
	_ = c.flush(time.Now())
	return errDisconnect
}

// refuse counts and logs a refused frame, tells HAProxy why the connection
// ends, and returns errRefused.
func (c *conn) refuse(status uint32, reason string) error {
	c.s.counters.badFrames.Add(1)
	c.s.log.Warn().Str("reason", reason).Msg("refused an SPOP frame and closed the connection")
	c.out = appendAgentDisconnect(c.out, status, reason)
	_ = c.flush(time.Now())
	return fmt.Errorf("%w: %s", errRefused, reason)
}

// fill reads until need unread bytes are buffered. Before a read that may
// wait it writes the pending ACKs and sets the read deadline: the HELLO
// deadline (set at accept) until the HELLO, then the idle timeout between
// frames, and inside a frame the frame timeout, counted from the first wait
// in that frame. When the server drains, a connection waiting between frames
// ends with errDraining; one inside a frame gets drainGrace to finish it.
func (c *conn) fill(need int) error {
	for c.w-c.r < need {
		wall := time.Now()
		if err := c.flush(wall); err != nil {
			return err
		}
		begun := c.w > c.r // bytes of the frame being read have arrived
		if c.draining.Load() {
			if !begun {
				return errDraining
			}
			if !c.graced {
				c.graced = true
				_ = c.nc.SetReadDeadline(wall.Add(drainGrace))
			}
		} else if c.helloDone {
			c.arm(begun, wall)
			if c.draining.Load() {
				continue // Shutdown came in between: its deadline must not be lost
			}
		}
		if c.r == c.w {
			c.r, c.w = 0, 0
		} else if c.r+need > len(c.buf) {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		}
		n, err := c.nc.Read(c.buf[c.w:])
		if n > 0 {
			c.w += n
			c.now = c.s.cfg.Clock()
		}
		if err == nil {
			continue
		}
		if isTimeout(err) {
			if c.draining.Load() {
				if c.w == c.r || c.graced {
					return errDraining
				}
				continue // the frame begun gets its grace
			}
			c.s.counters.timeouts.Add(1)
		}
		if c.w-c.r >= need {
			return nil // the last bytes came with the error; it shows again on the next read
		}
		if err == io.EOF && c.w > c.r {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// arm sets the read deadline before a wait at wall: the idle timeout
// between frames, the frame timeout inside one (once per frame).
func (c *conn) arm(begun bool, wall time.Time) {
	cfg := &c.s.cfg
	switch {
	case !begun:
		c.frameArmed = false
		_ = c.nc.SetReadDeadline(wall.Add(cfg.IdleTimeout))
	case !c.frameArmed:
		c.frameArmed = true
		_ = c.nc.SetReadDeadline(wall.Add(cfg.FrameTimeout))
	}
}

// flush writes the pending frames with one Write, at wall. A write blocked
// for writeTimeout/2 to writeTimeout fails: the deadline is pushed back only
// when half of it has passed, which spares a deadline update per flush.
func (c *conn) flush(wall time.Time) error {
	if len(c.out) == 0 {
		return nil
	}
	if wall.After(c.renewWrite) {
		_ = c.nc.SetWriteDeadline(wall.Add(writeTimeout))
		c.renewWrite = wall.Add(writeTimeout / 2)
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// drain makes the loop end at the next frame boundary: a connection waiting
// for a frame ends now, one in the middle of a frame gets drainGrace to
// finish it. Safe to call from any goroutine.
func (c *conn) drain() {
	c.draining.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
