package spop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Server accepts SPOP connections from HAProxy and runs each one's loop (see
// conn.go) in its own goroutine. It refuses peers outside Config.Allow and
// connections over Config.MaxConnections, and drains on Shutdown.
type Server struct {
	cfg     Config
	handler Handler
	log     zerolog.Logger

	mu           sync.Mutex
	conns        map[*conn]struct{}
	listener     net.Listener
	draining     bool
	lastLimitLog time.Time
	wg           sync.WaitGroup

	counters serverCounters
	hooks    testHooks
}

// testHooks let tests wait for events instead of sleeping. Nil in production.
type testHooks struct {
	draining func() // Shutdown has marked every connection draining
	connEnd  func() // a connection has ended and been counted out
}

// serverCounters are the server's running totals, read by the metrics.
type serverCounters struct {
	messages    stripedCounter
	connections atomic.Int64
	accepted    atomic.Uint64 // connections served since start
	refused     atomic.Uint64 // connections refused by --allow
	overLimit   atomic.Uint64 // connections refused by --max-connections
	timeouts    atomic.Uint64 // connections closed for a HELLO, frame or idle timeout
	badFrames   atomic.Uint64 // frames refused
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

// Handler handles the messages of one NOTIFY frame, received at now, and
// returns the actions of the frame's ACK, encoded (AppendSetVarUint builds
// them), or nil for an ACK without actions. The messages and their bytes are
// valid only during the call; the returned bytes are copied into the ACK
// before the next call. Calls for one connection come one after another, in
// the order of the frames; calls for different connections run
// concurrently. The frame is acknowledged after the call returns.
type Handler interface {
	HandleMessages(now time.Time, msgs []Message) (actions []byte)
}

// NewServer returns a server that passes the messages of NOTIFY frames to
// handler, one frame at a time per connection, and acknowledges each frame
// after handler returns. Zero fields of cfg take their defaults.
func NewServer(cfg Config, handler Handler, log zerolog.Logger) *Server {
	cfg.setDefaults()
	return &Server{cfg: cfg, handler: handler, log: log, conns: make(map[*conn]struct{})}
}

// LoopbackOnly is the default --allow: 127.0.0.0/8 and ::1.
func LoopbackOnly() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Serve accepts connections on l until Shutdown and serves each in its own
// goroutine. It returns nil after Shutdown and the accept error otherwise;
// passing accept failures (out of file descriptors) are logged and retried.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		_ = l.Close()
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
		cn := s.newConn(c)
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
		s.conns[cn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(cn)
	}
}

// newConn prepares an accepted connection for serveConn; its HELLO deadline
// runs from now.
func (s *Server) newConn(c net.Conn) *conn {
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.HelloTimeout))
	return &conn{
		s:        s,
		nc:       c,
		messages: s.counters.messages.stripe(),
		buf:      make([]byte, readBufferSize),
		maxFrame: defaultMaxFrameSize,
	}
}

// ServeConn serves one connection accepted elsewhere (a test's pipe, say)
// until it ends, as Serve serves each connection it accepts, and closes it.
func (s *Server) ServeConn(c net.Conn) {
	cn := s.newConn(c)
	s.mu.Lock()
	s.conns[cn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.serveConn(cn)
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

// serveConn runs one connection's loop, then closes the connection. When
// the loop ends because the server drains, HAProxy is told so with an
// AGENT-DISCONNECT first. A panic (in the handler, say) closes this
// connection only; it is counted before the connection closes.
func (s *Server) serveConn(c *conn) {
	s.counters.connections.Add(1)
	s.counters.accepted.Add(1)
	defer func() {
		if r := recover(); r != nil {
			s.recovered(r)
			// ACK the frames already handled, then say why the connection ends.
			c.out = appendAgentDisconnect(c.out, statusUnknown, "agent error")
			_ = c.flush(time.Now())
		}
		_ = c.nc.Close()
		s.counters.connections.Add(-1)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
		if s.hooks.connEnd != nil {
			s.hooks.connEnd()
		}
	}()
	err := c.serve()
	if errors.Is(err, errDraining) {
		c.out = appendAgentDisconnect(c.out, statusNormal, "agent is shutting down")
		_ = c.flush(time.Now())
	}
}

// recovered logs and counts a panic. The panic value may hold request values
// (a handler's message, say), so only a runtime error's own message, or else
// the value's type, is logged, with the stack.
func (s *Server) recovered(r any) {
	what := fmt.Sprintf("%T (value not logged)", r)
	if re, ok := r.(runtime.Error); ok {
		what = re.Error()
	}
	s.counters.panics.Add(1)
	s.log.Error().Str("panic", what).Bytes("stack", debug.Stack()).Msg("recovered a panic on an SPOP connection; closed that connection")
}

// Shutdown stops accepting and drains every connection: the frames already
// received are handled and ACKed, a frame that had begun gets a short grace
// to arrive, then HAProxy gets an AGENT-DISCONNECT (status 0, "agent is
// shutting down") and the connection closes. It waits until ctx is done at
// most, then closes what remains and returns an error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	if s.listener != nil {
		_ = s.listener.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	if s.hooks.draining != nil {
		s.hooks.draining()
	}

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
		for c := range s.conns {
			_ = c.nc.Close()
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
	Accepted    uint64 // SPOP connections served since start (health checks included)
	Refused     uint64 // connections refused: peer outside Allow
	OverLimit   uint64 // connections refused: MaxConnections open
	Timeouts    uint64 // connections closed for a HELLO, frame or idle timeout
	BadFrames   uint64 // frames refused; each closed its connection
	Panics      uint64 // panics recovered; each closed its connection only
}

// Stats returns the server's running totals.
func (s *Server) Stats() Stats {
	c := &s.counters
	return Stats{Messages: c.messages.Load(), Connections: c.connections.Load(), Accepted: c.accepted.Load(), Refused: c.refused.Load(),
		OverLimit: c.overLimit.Load(), Timeouts: c.timeouts.Load(), BadFrames: c.badFrames.Load(), Panics: c.panics.Load()}
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
