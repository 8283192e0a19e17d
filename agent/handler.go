package agent

import (
	"net/netip"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/keying"
	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/internal/botclass"
)

// Message and argument names of the shipped haproxy/*.spoe.conf files.
const (
	// MessageRequest is sent on every request (per-request mode).
	MessageRequest = "headcount-request"
	// MessageHeartbeat is sent at most once per heartbeat interval per
	// client and on its first request (heartbeat mode, haproxy/heartbeat/).
	MessageHeartbeat = "headcount-heartbeat"
	// MessageLogout is sent on a logout request, in both modes.
	MessageLogout = "headcount-logout"

	argIP  = "ip"
	argUA  = "ua"
	argXFF = "xff"
)

// Variables the ACK of a heartbeat sets in HAProxy (txn scope; the shipped
// headcount-heartbeat.spoe.conf prefixes them: txn.headcount.<name>).
// haproxy-heartbeat.cfg notes a client as told only when the first is set,
// so a heartbeat lost to a timeout, an unreachable agent or a restart is sent
// again with the client's next request. Per-request messages are
// acknowledged without actions.
const (
	// VarOK is 1: the agent has the heartbeat.
	VarOK = "ok"
	// VarMaxIn is set when the heartbeat started a session: in this many
	// seconds the session is over by --max-session, so HAProxy tells the
	// agent about the client's first request from then on, as per-request
	// mode would, instead of waiting for the interval.
	VarMaxIn = "max_in"
)

// maxInMargin is added to --max-session, rounded up to whole seconds, in
// VarMaxIn: HAProxy's clock ("date") counts whole seconds, so the second it
// reads after the ACK may begin up to 1 s before the session's start, and
// the table ends a session up to two ticks after its maximum. With 2 s the
// first heartbeat HAProxy sends from then on always finds the session over.
const maxInMargin = 2

// Sessions is what the handler needs of the session table.
type Sessions interface {
	Observe(key uint64, now time.Time) bool
	Logout(key uint64, now time.Time) bool
}

// HandlerConfig sets what the handler meters.
type HandlerConfig struct {
	// ExcludeIP lists client networks whose requests are not metered.
	ExcludeIP []netip.Prefix
	// ExcludeUA lists User-Agent patterns (health probes, monitors) whose
	// requests are not metered.
	ExcludeUA []*regexp.Regexp
	// Production false keeps the agent answering and covering, but counts
	// no session.
	Production bool
	// Heartbeat is true when HAProxy runs the heartbeat configuration. It
	// only decides which message is expected: the session table's idle
	// timeout is widened by the heartbeat interval where the table is made.
	Heartbeat bool
	// MaxSession is the session table's maximum session, told to HAProxy
	// when a heartbeat starts a session (VarMaxIn). Default 4h.
	MaxSession time.Duration
	// TrustedProxies lists the networks whose X-Forwarded-For is believed:
	// a request from anywhere else is keyed on its address and User-Agent
	// with "-" for X-Forwarded-For, so that a client cannot start sessions at
	// will by varying the header. Nil trusts every client (seed 004's key).
	TrustedProxies []netip.Prefix
	// ExcludeIPFile and ExcludeKeyFile name the exclusion files
	// (exclusions.go), read by LoadExclusions at start and on SIGHUP.
	ExcludeIPFile, ExcludeKeyFile string
	// Bots classifies the session a request starts as a person's or a
	// crawler's by its User-Agent, when the sessions are a *session.Table;
	// nil leaves every session unclassified.
	Bots *botclass.Classifier
}

// Handler turns SPOE messages into session table calls. It keeps nothing of
// a request once it returns: the three values are hashed with a per-process
// random seed and forgotten.
type Handler struct {
	cfg      HandlerConfig
	sessions Sessions
	// table is sessions when it is the session table: called directly, so
	// that the classify function a request passes stays on its stack.
	table  *session.Table
	keyer  *keying.Keyer
	log    zerolog.Logger
	warned atomic.Bool

	// The ACK actions of a heartbeat, encoded once: VarOK, and VarOK with
	// VarMaxIn when it started a session.
	heard, heardStarted []byte
}

// NewHandler returns a handler feeding sessions.
// Call LoadExclusions before it meters when the configuration names
// exclusion files.
func NewHandler(cfg HandlerConfig, sessions Sessions, log zerolog.Logger) *Handler {
	if cfg.MaxSession <= 0 {
		cfg.MaxSession = session.DefaultMaxSession
	}
	heard := spop.AppendSetVarUint(nil, spop.ScopeTxn, VarOK, 1)
	maxIn := uint32((cfg.MaxSession+time.Second-1)/time.Second) + maxInMargin
	heardStarted := spop.AppendSetVarUint(append([]byte(nil), heard...), spop.ScopeTxn, VarMaxIn, maxIn)
	keyer := keying.New(keying.Config{ExcludeIP: cfg.ExcludeIP, ExcludeUA: cfg.ExcludeUA, TrustedProxies: cfg.TrustedProxies,
		ExcludeIPFile: cfg.ExcludeIPFile, ExcludeKeyFile: cfg.ExcludeKeyFile, Bots: cfg.Bots})
	h := &Handler{cfg: cfg, sessions: sessions, keyer: keyer, log: log, heard: heard, heardStarted: heardStarted}
	h.table, _ = sessions.(*session.Table)
	return h
}

// LoadExclusions reads the exclusion files and puts them in force at once,
// returning how many networks and session keys they hold. On an error the
// lists in force stay as they were.
func (h *Handler) LoadExclusions() (networks, keys int, err error) {
	return h.keyer.LoadExclusions()
}

// XFFIgnored returns how many requests carried an X-Forwarded-For that was
// left out of their key because they did not come from a trusted proxy.
func (h *Handler) XFFIgnored() uint64 { return h.keyer.XFFIgnored() }

// HandleMessages meters one NOTIFY frame's messages and returns its ACK's
// actions: for a heartbeat, VarOK (and VarMaxIn if it started a session);
// nothing otherwise. A frame carrying a logout does not also count a
// request (the shipped configurations never send both; another one might),
// and its ACK sets nothing. It allocates nothing.
func (h *Handler) HandleMessages(now time.Time, msgs []spop.Message) []byte {
	logout := false
	for i := range msgs {
		if string(msgs[i].Name) == MessageLogout {
			logout = true
		}
	}
	var heartbeat, started bool
	for i := range msgs {
		m := &msgs[i]
		isLogout := false
		switch string(m.Name) {
		case MessageRequest, MessageHeartbeat:
			h.checkMode(m.Name)
			if logout {
				continue
			}
			if string(m.Name) == MessageHeartbeat {
				heartbeat = true
			}
		case MessageLogout:
			isLogout = true
		default:
			continue
		}
		key, ok := h.key(m)
		if !ok || !h.cfg.Production {
			continue
		}
		if isLogout {
			h.sessions.Logout(key, now)
		} else if h.observe(key, now, m) && string(m.Name) == MessageHeartbeat {
			started = true
		}
	}
	switch {
	case started:
		return h.heardStarted
	case heartbeat:
		return h.heard
	}
	return nil
}

// observe records a request of key and reports whether it started a
// session. The User-Agent is classified only when the table asks, for a
// session start.
func (h *Handler) observe(key uint64, now time.Time, m *spop.Message) bool {
	if h.table == nil {
		return h.sessions.Observe(key, now)
	}
	return h.table.ObserveClass(key, now, func() session.Class { return h.classify(m, now) })
}

// classify returns the class of the session m starts, by its User-Agent.
func (h *Handler) classify(m *spop.Message, now time.Time) session.Class {
	var ua spop.Value
	for i := range m.Args {
		if string(m.Args[i].Name) == argUA {
			ua = m.Args[i].Value
		}
	}
	var scratch [24]byte
	return h.keyer.Classify(valueBytes(ua, scratch[:0]), now)
}

// checkMode warns once when HAProxy's configuration and the agent's mode
// disagree: heartbeats to a per-request agent would end sessions after the
// idle timeout although the client is still active.
func (h *Handler) checkMode(name []byte) {
	if (string(name) == MessageHeartbeat) == h.cfg.Heartbeat || h.warned.Load() || !h.warned.CompareAndSwap(false, true) {
		return
	}
	if h.cfg.Heartbeat {
		h.log.Warn().Msg("HAProxy sends " + MessageRequest + " but the agent runs with --heartbeat: use the per-request configuration or drop --heartbeat")
	} else {
		h.log.Warn().Msg("HAProxy sends " + MessageHeartbeat + " but the agent runs without --heartbeat: sessions end too early; start it with --heartbeat set to HAProxy's interval")
	}
}

// key hashes a message's three values with keying and reports whether the
// request is metered at all (false for excluded networks, User-Agents and
// session keys). The X-Forwarded-For of a request from outside the trusted
// proxies counts as "-".
func (h *Handler) key(m *spop.Message) (uint64, bool) {
	var ip, ua, xff spop.Value
	for i := range m.Args {
		switch string(m.Args[i].Name) {
		case argIP:
			ip = m.Args[i].Value
		case argUA:
			ua = m.Args[i].Value
		case argXFF:
			xff = m.Args[i].Value
		}
	}
	addr := clientAddr(ip)
	if h.keyer.ExcludedAddr(addr) || h.keyer.ExcludedUA(matchBytes(ua)) {
		return 0, false
	}
	var scratch [3][24]byte
	ipBytes := valueBytes(ip, scratch[0][:0])
	if addr.IsValid() {
		// One canonical form whatever the SPOP type: 4 bytes for IPv4 (also
		// when sent IPv4-mapped or as text), 16 for IPv6.
		ipBytes = keying.IPBytes(addr, scratch[0][:0])
	}
	uaBytes, xffBytes := valueBytes(ua, scratch[1][:0]), valueBytes(xff, scratch[2][:0])
	return h.keyer.Key(addr, ipBytes, uaBytes, xffBytes, xff.Type != spop.TypeNull)
}

// clientAddr returns the client address an ip argument carries, or the zero
// Addr when it carries none.
func clientAddr(v spop.Value) netip.Addr {
	var addr netip.Addr
	switch v.Type {
	case spop.TypeIPv4:
		addr = netip.AddrFrom4([4]byte(v.Bytes))
	case spop.TypeIPv6:
		addr = netip.AddrFrom16([16]byte(v.Bytes))
	case spop.TypeString, spop.TypeBinary: // not what HAProxy sends for src; costs an allocation
		addr, _ = netip.ParseAddr(string(v.Bytes))
	}
	return addr.Unmap().WithZone("")
}

// valueBytes returns a header value's bytes whatever its SPOP type; NULL
// (HAProxy's absent header) and an absent argument are "-". Numbers and
// booleans are written as text into buf.
func valueBytes(v spop.Value, buf []byte) []byte {
	switch v.Type {
	case spop.TypeString, spop.TypeBinary, spop.TypeIPv4, spop.TypeIPv6:
		return v.Bytes
	case spop.TypeBool:
		return strconv.AppendBool(buf, v.Int != 0)
	case spop.TypeInt32:
		return strconv.AppendInt(buf, int64(int32(v.Int)), 10)
	case spop.TypeInt64:
		return strconv.AppendInt(buf, int64(v.Int), 10)
	case spop.TypeUint32, spop.TypeUint64:
		return strconv.AppendUint(buf, v.Int, 10)
	}
	return append(buf, keying.Missing...)
}

// matchBytes returns a header value's bytes for keying.Keyer.ExcludedUA,
// which keeps its argument: the frame's own bytes, or "-" for NULL. Only
// the types HAProxy never sends for a header (numbers, booleans) cost an
// allocation, since a stack buffer would move to the heap.
func matchBytes(v spop.Value) []byte {
	switch v.Type {
	case spop.TypeString, spop.TypeBinary, spop.TypeIPv4, spop.TypeIPv6:
		return v.Bytes
	case spop.TypeNull:
		return keying.MissingBytes
	}
	return valueBytes(v, nil)
}
