// Package spoptest plays HAProxy's side of SPOP in tests: it encodes
// HAPROXY-HELLO and NOTIFY frames and reads the agent's answers.
package spoptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/negasus/haproxy-spoe-go/frame"
	"github.com/negasus/haproxy-spoe-go/payload/kv"
	"github.com/negasus/haproxy-spoe-go/varint"
)

// Client plays HAProxy's side of SPOP in tests.
type Client struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
	id   uint64
}

// Dial connects to an agent at addr; the connection closes when the test
// ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return NewClient(t, c)
}

// NewClient plays HAProxy's side on c (one end of a net.Pipe, say).
func NewClient(t testing.TB, c net.Conn) *Client {
	return &Client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// Hello sends HAPROXY-HELLO and returns the AGENT-HELLO's payload.
func (c *Client) Hello(healthcheck bool) []byte {
	c.t.Helper()
	c.Write(EncodeHello(healthcheck))
	typ, payload := c.Read()
	if typ != 0x65 {
		c.t.Fatalf("answer to HELLO has type %#x, want AGENT-HELLO (0x65)", typ)
	}
	return payload
}

// HelloFrame is an ordinary HAPROXY-HELLO.
func HelloFrame() []byte { return EncodeHello(false) }

// EncodeHello encodes a HAPROXY-HELLO as HAProxy sends it by default
// (max-frame-size 16380, capabilities "pipelining").
func EncodeHello(healthcheck bool) []byte {
	items := []KV{{"supported-versions", "2.0"}, {"max-frame-size", uint32(16380)}, {"capabilities", "pipelining"}, {"engine-id", "test-engine"}}
	if healthcheck {
		items = append(items, KV{"healthcheck", true})
	}
	return EncodeHelloKV(items...)
}

// KV is an item of a HELLO's KV list.
type KV struct {
	Name  string
	Value any // string, uint32, bool, ...: what the library's typed-data encoder takes
}

// EncodeHelloKV encodes a HAPROXY-HELLO with exactly the items given, with
// an independent encoder (the negasus library's).
func EncodeHelloKV(items ...KV) []byte {
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	f.Type = frame.TypeHaproxyHello
	for _, it := range items {
		f.KV.Add(it.Name, it.Value)
	}
	var buf bytes.Buffer
	if _, err := f.Encode(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// DecodeKV decodes the KV list of an AGENT-HELLO or AGENT-DISCONNECT, given
// the frame after its type byte as Read returns it, with an independent
// decoder (the negasus library's). It also returns the frame's flags,
// stream-id and frame-id.
func DecodeKV(payload []byte) (flags uint32, streamID, frameID uint64, items map[string]any, err error) {
	if len(payload) < 6 {
		return 0, 0, 0, nil, fmt.Errorf("frame of %d bytes is too short", len(payload))
	}
	flags = binary.BigEndian.Uint32(payload)
	p := payload[4:]
	var n int
	if streamID, n = varint.Uvarint(p); n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("bad stream-id")
	}
	p = p[n:]
	if frameID, n = varint.Uvarint(p); n <= 0 {
		return 0, 0, 0, nil, fmt.Errorf("bad frame-id")
	}
	l := kv.NewKV()
	if err := l.Unmarshal(p[n:]); err != nil {
		return 0, 0, 0, nil, err
	}
	items = map[string]any{}
	for _, it := range l.Data() {
		items[it.Name] = it.Value
	}
	return flags, streamID, frameID, items, nil
}

// Message is one SPOE message to send.
type Message struct {
	Name string
	Args []Arg
}

// Arg is a message argument.
type Arg struct {
	Name  string
	Value any // string, []byte, nil, netip.Addr
}

// NotifyFrame encodes a NOTIFY frame (with its length prefix) whose
// stream-id and frame-id are both id.
func NotifyFrame(id uint64, msgs ...Message) []byte { return NotifyFrameIDs(id, id, msgs...) }

// NotifyFrameIDs encodes a NOTIFY frame (with its length prefix) of stream
// streamID, frame frameID.
func NotifyFrameIDs(streamID, frameID uint64, msgs ...Message) []byte {
	var p []byte
	vb := make([]byte, 10)
	putVarint := func(n uint64) { p = append(p, vb[:varint.PutUvarint(vb, n)]...) }
	putString := func(s string) { putVarint(uint64(len(s))); p = append(p, s...) }
	p = append(p, 0x03, 0, 0, 0, 1) // NOTIFY, FIN
	putVarint(streamID)
	putVarint(frameID)
	for _, m := range msgs {
		putString(m.Name)
		p = append(p, byte(len(m.Args)))
		for _, a := range m.Args {
			putString(a.Name)
			switch v := a.Value.(type) {
			case nil:
				p = append(p, 0x00)
			case string:
				p = append(p, 0x08)
				putString(v)
			case []byte:
				p = append(p, 0x09)
				putString(string(v))
			case netip.Addr:
				if v.Is4() {
					b := v.As4()
					p = append(p, 0x06)
					p = append(p, b[:]...)
				} else {
					b := v.As16()
					p = append(p, 0x07)
					p = append(p, b[:]...)
				}
			default:
				panic(fmt.Sprintf("unsupported arg type %T", v))
			}
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

// Notify sends one NOTIFY and waits for its ACK.
func (c *Client) Notify(msgs ...Message) {
	c.t.Helper()
	c.id++
	c.Write(NotifyFrame(c.id, msgs...))
	typ, payload := c.Read()
	if typ != 0x67 {
		c.t.Fatalf("answer to NOTIFY has type %#x, want ACK (0x67)", typ)
	}
	_, n := varint.Uvarint(payload[4:])
	if fid, _ := varint.Uvarint(payload[4+n:]); fid != c.id {
		c.t.Fatalf("ACK for frame %d, want %d", fid, c.id)
	}
}

// Write writes b in one Write, failing the test on error.
func (c *Client) Write(b []byte) {
	c.t.Helper()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read returns the next frame's type and the rest of it.
func (c *Client) Read() (byte, []byte) {
	c.t.Helper()
	typ, payload, err := c.TryRead(2 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return typ, payload
}

// TryRead returns the next frame's type and the rest of it, or an error if
// none arrives within timeout.
func (c *Client) TryRead(timeout time.Duration) (byte, []byte, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	if len(body) == 0 {
		return 0, nil, fmt.Errorf("empty frame")
	}
	return body[0], body[1:], nil
}

// Closed reports whether the agent closed the connection (after reading any
// frames it sent first, which are returned).
func (c *Client) Closed() (frames []byte, closed bool) {
	for {
		typ, _, err := c.TryRead(2 * time.Second)
		if err != nil {
			return frames, !errors.Is(err, os.ErrDeadlineExceeded) // EOF or reset
		}
		frames = append(frames, typ)
	}
}

// Msg is a message carrying the three values the agent keys on.
func Msg(name string, ip, ua, xff any) Message {
	return Message{name, []Arg{{"ip", ip}, {"ua", ua}, {"xff", xff}}}
}

// StreamConn is a net.Conn that reads Stream in pieces of at most Piece
// bytes (a network packet, say), then EOF, and discards what is written:
// for serving a connection from memory, without system calls.
type StreamConn struct {
	net.Conn // nil: only the methods below are called
	Stream   []byte
	Piece    int
}

// Read returns the next piece of the stream.
func (c *StreamConn) Read(p []byte) (int, error) {
	if len(c.Stream) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.Stream[:min(len(c.Stream), c.Piece)])
	c.Stream = c.Stream[n:]
	return n, nil
}

// Write discards p.
func (c *StreamConn) Write(p []byte) (int, error) { return len(p), nil }

// Close does nothing.
func (c *StreamConn) Close() error { return nil }

// SetReadDeadline does nothing.
func (c *StreamConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing.
func (c *StreamConn) SetWriteDeadline(time.Time) error { return nil }
