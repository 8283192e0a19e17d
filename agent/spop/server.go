package spop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/negasus/haproxy-spoe-go/request"
	"github.com/negasus/haproxy-spoe-go/worker"
	"github.com/rs/zerolog"
)

// Server accepts SPOP connections from HAProxy and hands each one to the
// library's per-connection worker behind a guardConn.
type Server struct {
	cfg     Config
	handler Handler
	log     zerolog.Logger

	mu           sync.Mutex
	conns        map[*guardConn]struct{}
	listener     net.Listener
	draining     bool
	lastLimitLog time.Time
	wg           sync.WaitGroup

	counters serverCounters
}

// serverCounters are the server's running totals, read by the metrics.
type serverCounters struct {
	messages    stripedCounter
	connections atomic.Int64
	refused     atomic.Uint64 // connections refused by --allow
	overLimit   atomic.Uint64 // connections refused by --max-connections
	timeouts    atomic.Uint64 // connections closed for a HELLO, frame or idle timeout
	badFrames   atomic.Uint64 // frames refused by the guard
	panics      atomic.Uint64
}

// Config sets the SPOP server up.
type Config struct {
	// Allow lists the networks HAProxy may connect from; other peers are
	// refused. Default: loopback only.
	Allow []netip.Prefix
	// MaxConnections bounds the open SPOP connections; more are refused at
	// once. HAProxy multiplexes its messages over a few connections per
	// process, so the default, 512, leaves room for many HAProxy processes
	// while bounding what a misbehaving peer can hold.
	MaxConnections int
	// HelloTimeout closes a connection that has not completed its HELLO in
	// this time. Default 5s.
	HelloTimeout time.Duration
	// FrameTimeout closes a connection that started a frame and has not sent
	// the rest of it in this time (a stalled or slow peer). Default 10s.
	FrameTimeout time.Duration
	// IdleTimeout closes a connection that sent no frame for this long.
	// Longer than HAProxy's own SPOE idle timeout (30s in the shipped
	// configuration, which closes idle connections first). Default 5m.
	IdleTimeout time.Duration
	// Clock reads the time at which frames arrive, for metering and
	// coverage. Default time.Now.
	Clock func() time.Time
	// OnContact, when set, is called with the arrival time of every frame
	// (HELLO, health check, NOTIFY): HAProxy reached the agent then. It
	// must be cheap and safe for concurrent use.
	OnContact func(now time.Time)
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if len(c.Allow) == 0 {
		c.Allow = LoopbackOnly()
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 512
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = 5 * time.Second
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
}

// NewServer returns a server that passes the messages of NOTIFY frames to
// handler.
func NewServer(cfg Config, handler Handler, log zerolog.Logger) *Server {
	cfg.setDefaults()
	return &Server{cfg: cfg, handler: handler, log: log, conns: make(map[*guardConn]struct{})}
}

// LoopbackOnly is the default --allow: 127.0.0.0/8 and ::1.
func LoopbackOnly() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Serve accepts connections on l until Shutdown. It returns nil after
// Shutdown and the accept error otherwise.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil
	}
	s.listener = l
	s.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors, or another passing failure: wait and
			// go on, as net/http does; the connections already open go on.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error().Err(err).Stringer("retry_in", backoff).Msg("accepting an SPOP connection failed")
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.allowed(c.RemoteAddr()) {
			s.counters.refused.Add(1)
			s.log.Warn().Str("peer", c.RemoteAddr().String()).Msg("refused an SPOP connection from a peer outside --allow")
			_ = c.Close()
			continue
		}
		g := s.newConn(c)
		s.mu.Lock()
		if s.draining {
			s.mu.Unlock()
			_ = c.Close()
			continue
		}
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.counters.overLimit.Add(1)
			if now := time.Now(); now.Sub(s.lastLimitLog) >= time.Second { // a flood gets one line a second
				s.lastLimitLog = now
				s.log.Warn().Int("max_connections", s.cfg.MaxConnections).Msg("refused an SPOP connection: --max-connections reached")
			}
			_ = c.Close()
			continue
		}
		s.conns[g] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(g)
	}
}

// newConn prepares an accepted connection for serveConn.
func (s *Server) newConn(c net.Conn) *guardConn {
	g := newGuardConn(c, s.handler, s.counters.messages.stripe(), s.onFrame, s.onRefuse)
	g.timeouts = timeouts{hello: s.cfg.HelloTimeout, frame: s.cfg.FrameTimeout, idle: s.cfg.IdleTimeout}
	g.onTimeout = func() { s.counters.timeouts.Add(1) }
	g.clock = s.cfg.Clock
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	return g
}

// ServeConn serves one connection accepted elsewhere (a test's pipe, say)
// until it ends, as Serve serves each connection it accepts.
func (s *Server) ServeConn(c net.Conn) {
	g := s.newConn(c)
	s.mu.Lock()
	s.conns[g] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.serveConn(g)
}

func (s *Server) allowed(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) onFrame(_ byte, now time.Time) {
	if s.cfg.OnContact != nil {
		s.cfg.OnContact(now)
	}
}

func (s *Server) onRefuse(reason string) {
	s.counters.badFrames.Add(1)
	s.log.Warn().Str("reason", reason).Msg("refused an SPOP frame and closed the connection")
}

// serveConn runs the library's worker on one connection; the guardConn under
// it handles the NOTIFY frames, so the library sees only HELLO and
// DISCONNECT. A panic in the library or in the handler closes this
// connection only.
func (s *Server) serveConn(g *guardConn) {
	s.counters.connections.Add(1)
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
		}
		_ = g.Close()
		s.counters.connections.Add(-1)
		s.mu.Lock()
		delete(s.conns, g)
		s.mu.Unlock()
		s.wg.Done()
	}()
	worker.Handle(g, libraryNotify, libraryLogger{s.log})
}

// libraryNotify is the library's NOTIFY handler. It is never called: the
// guardConn handles every NOTIFY before the library could read it; the
// library still answers a NOTIFY it were given with an ACK.
func libraryNotify(*request.Request) {}

func (s *Server) recovered(r any) {
	// The panic value and stack come from parsing code, never from request
	// values: no argument is formatted into a panic message.
	s.log.Error().Str("panic", fmt.Sprint(r)).Bytes("stack", debug.Stack()).Msg("recovered a panic on an SPOP connection; closed that connection")
	s.counters.panics.Add(1)
}

// Shutdown stops accepting, lets the frames already received finish (their
// ACKs are sent), then closes every connection with a DISCONNECT. It waits
// until ctx is done at most, then closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.listener != nil {
		_ = s.listener.Close()
	}
	for g := range s.conns {
		g.drain()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for g := range s.conns {
			_ = g.Conn.Close()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("SPOP connections did not drain in time: %w", ctx.Err())
	}
}

// Connections returns the number of open SPOP connections.
func (s *Server) Connections() int64 { return s.counters.connections.Load() }

// Stats are the server's running totals since it started.
type Stats struct {
	Messages    uint64 // SPOE messages received
	Connections int64  // SPOP connections open now
	Refused     uint64 // connections refused: peer outside Allow
	OverLimit   uint64 // connections refused: MaxConnections open
	Timeouts    uint64 // connections closed for a HELLO, frame or idle timeout
	BadFrames   uint64 // frames refused; each closed its connection
	Panics      uint64 // panics recovered; each closed its connection only
}

// Stats returns the server's running totals.
func (s *Server) Stats() Stats {
	c := &s.counters
	return Stats{Messages: c.messages.Load(), Connections: c.connections.Load(), Refused: c.refused.Load(),
		OverLimit: c.overLimit.Load(), Timeouts: c.timeouts.Load(), BadFrames: c.badFrames.Load(), Panics: c.panics.Load()}
}

// libraryLogger sends the SPOP library's messages to zerolog at debug level:
// they are about connections ending, which HAProxy does routinely.
type libraryLogger struct{ log zerolog.Logger }

func (l libraryLogger) Errorf(format string, args ...any) {
	l.log.Debug().Msgf("spop: "+format, args...)
}

// stripedCounter is a counter written from many goroutines without sharing a
// cache line: each connection adds to one stripe.
type stripedCounter struct {
	next    atomic.Uint32
	stripes [16]struct {
		atomic.Uint64
		_ [56]byte
	}
}

func (c *stripedCounter) stripe() *atomic.Uint64 {
	return &c.stripes[c.next.Add(1)%uint32(len(c.stripes))].Uint64
}

func (c *stripedCounter) Load() uint64 {
	var n uint64
	for i := range c.stripes {
		n += c.stripes[i].Load()
	}
	return n
}
