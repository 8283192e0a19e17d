package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"headcount/agent/spop"
	"headcount/agent/spop/spoptest"

	"github.com/rs/zerolog"
)

// loadgen is an in-process SPOP client that plays HAProxy at full speed: it
// pipelines NOTIFY frames for many distinct clients over a few connections,
// keeping at most window frames unacknowledged per connection, and counts
// the ACKs. Frames are made from one template per connection, patched with
// the client's number, so that the generator's own memory stays small and
// the agent's caches see what they would see next to HAProxy.
type loadgen struct {
	clients  int
	template []byte
	ipAt     int   // offset of the 4 IPv4 bytes
	digitsAt []int // offsets of the 6-digit client numbers in User-Agent and X-Forwarded-For
}

const placeholder = "NNNNNN"

// newLoadgen prepares frames for clients distinct clients: each has its own
// address, User-Agent and X-Forwarded-For, as the shipped configuration
// sends them.
func newLoadgen(clients int) *loadgen {
	ip := netip.AddrFrom4([4]byte{10, 0xAA, 0xBB, 0xCC})
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0." + placeholder + ".0 Safari/537.36"
	xff := "198.51.100.7, client-" + placeholder
	lg := &loadgen{clients: clients, template: spoptest.NotifyFrame(1, requestMsg(ip, ua, xff))}
	lg.ipAt = bytes.Index(lg.template, []byte{10, 0xAA, 0xBB, 0xCC})
	for off := 0; ; {
		i := bytes.Index(lg.template[off:], []byte(placeholder))
		if i < 0 {
			break
		}
		lg.digitsAt = append(lg.digitsAt, off+i)
		off += i + len(placeholder)
	}
	return lg
}

// frame returns the template patched for client i. It reuses buf.
func (lg *loadgen) frame(buf []byte, i int) []byte {
	buf = append(buf[:0], lg.template...)
	i %= lg.clients
	buf[lg.ipAt+1], buf[lg.ipAt+2], buf[lg.ipAt+3] = byte(i>>16), byte(i>>8), byte(i)
	for _, at := range lg.digitsAt {
		for d, n := 5, i; d >= 0; d, n = d-1, n/10 {
			buf[at+d] = byte('0' + n%10)
		}
	}
	return buf
}

// run sends n frames over conns connections to addr and returns when every
// one is acknowledged.
func (lg *loadgen) run(tb testing.TB, addr string, conns, n, window int) {
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				tb.Error(err)
				return
			}
			defer conn.Close()
			if _, err := conn.Write(spoptest.HelloFrame()); err != nil {
				tb.Error(err)
				return
			}
			r := bufio.NewReaderSize(conn, 64<<10)
			if err := skipFrame(r); err != nil { // AGENT-HELLO
				tb.Error(err)
				return
			}
			share := n / conns
			if c < n%conns {
				share++
			}
			credits := make(chan struct{}, window)
			for i := 0; i < window; i++ {
				credits <- struct{}{}
			}
			done := make(chan error, 1)
			go func() {
				for i := 0; i < share; i++ {
					if err := skipFrame(r); err != nil {
						done <- err
						return
					}
					credits <- struct{}{}
				}
				done <- nil
			}()
			w := bufio.NewWriterSize(conn, 64<<10)
			next := c * (n / conns) // connections send disjoint runs of clients
			var buf []byte
			for i := 0; i < share; i++ {
				select {
				case <-credits:
				default: // out of credits: push what is buffered, then wait
					if err := w.Flush(); err != nil {
						tb.Error(err)
						return
					}
					<-credits
				}
				buf = lg.frame(buf, next)
				if _, err := w.Write(buf); err != nil {
					tb.Error(err)
					return
				}
				next++
			}
			if err := w.Flush(); err != nil {
				tb.Error(err)
				return
			}
			if err := <-done; err != nil {
				tb.Error(err)
			}
		}(c)
	}
	wg.Wait()
}

func skipFrame(r *bufio.Reader) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	_, err := r.Discard(int(binary.BigEndian.Uint32(hdr[:])))
	return err
}

// BenchmarkSPOP measures the whole SPOP path on loopback TCP: frames in,
// ACKs out, with a do-nothing handler and with the full handler and session
// table, side by side. Run it with -cpu 1 for "one core".
func BenchmarkSPOP(b *testing.B) {
	lg := newLoadgen(100000)
	for _, handler := range []string{"nothing", "key", "full"} {
		b.Run("handler="+handler, func(b *testing.B) {
			addr := startBenchServer(b, handler)
			lg.run(b, addr, 1, lg.clients, 64) // warm-up: every client has a live session, the table has grown
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			lg.run(b, addr, 4, b.N, 64)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// startBenchServer runs a server on loopback with the full handler and a
// session table ("full"), the handler without the table ("key": it hashes,
// then drops the key), or a handler that does nothing ("nothing").
func startBenchServer(b *testing.B, handler string) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := spop.NewServer(spop.Config{OnContact: (&Coverage{}).Contact}, benchHandler(b, handler), zerolog.Nop())
	go func() { _ = s.Serve(l) }()
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return l.Addr().String()
}

// benchHandler is the full handler with a session table ("full"), the
// handler without the table ("key"), or a handler that does nothing
// ("nothing").
func benchHandler(b *testing.B, handler string) spop.Handler {
	switch handler {
	case "key":
		return NewHandler(HandlerConfig{Production: true}, nopSessions{}, zerolog.Nop())
	case "full":
		return NewHandler(HandlerConfig{Production: true}, mustTable(b), zerolog.Nop())
	}
	return nopHandler{}
}

// BenchmarkServeConn measures one connection's loop alone: the loadgen's
// frames come from memory and the ACKs are discarded, so no system call
// and no scheduling is measured, only framing, decoding, handling and
// acknowledging. An op is one NOTIFY frame.
func BenchmarkServeConn(b *testing.B) {
	lg := newLoadgen(100000)
	const perConn = 10000
	stream := spoptest.HelloFrame()
	var buf []byte
	for i := range perConn {
		buf = lg.frame(buf, i)
		stream = append(stream, buf...)
	}
	for _, handler := range []string{"nothing", "full"} {
		b.Run("handler="+handler, func(b *testing.B) {
			s := spop.NewServer(spop.Config{OnContact: (&Coverage{}).Contact}, benchHandler(b, handler), zerolog.Nop())
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += perConn {
				s.ServeConn(&spoptest.StreamConn{Stream: stream, Piece: 64 << 10})
			}
		})
	}
}

type nopSessions struct{}

func (nopSessions) Observe(uint64, time.Time) bool { return false }
func (nopSessions) Logout(uint64, time.Time) bool  { return false }

// nopHandler handles messages by doing nothing.
type nopHandler struct{}

func (nopHandler) HandleMessages(time.Time, []spop.Message) []byte { return nil }
