package agent

import (
	"hash/maphash"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/negasus/haproxy-spoe-go/request"
)

// Message and argument names of the shipped haproxy/headcount.spoe.conf.
const (
	MessageRequest = "headcount-request"
	MessageLogout  = "headcount-logout"
	argIP          = "ip"
	argUA          = "ua"
	argXFF         = "xff"
)

// missing is the value of an absent header (SPEC §1).
const missing = "-"

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
}

// Handler turns SPOP messages into session table calls. It keeps nothing
// of a request once it returns: the three values are hashed with a
// per-process random seed and forgotten.
type Handler struct {
	cfg      HandlerConfig
	sessions Sessions
	seed     maphash.Seed
	now      func() time.Time
}

// NewHandler returns a handler feeding sessions. now is the clock (time.Now
// in production).
func NewHandler(cfg HandlerConfig, sessions Sessions, now func() time.Time) *Handler {
	return &Handler{cfg: cfg, sessions: sessions, seed: maphash.MakeSeed(), now: now}
}

// Handle meters one NOTIFY frame's messages. A frame carrying a logout for a
// key does not also count a request for it.
func (h *Handler) Handle(req *request.Request) {
	var now time.Time
	for _, m := range *req.Messages {
		var logout bool
		switch m.Name {
		case MessageRequest:
		case MessageLogout:
			logout = true
		default:
			continue
		}
		var a args
		for _, it := range m.KV.Data() {
			switch it.Name {
			case argIP:
				a.ip = it.Value
			case argUA:
				a.ua = it.Value
			case argXFF:
				a.xff = it.Value
			}
		}
		key, ok := h.key(&a)
		if !ok || !h.cfg.Production {
			continue
		}
		if now.IsZero() {
			now = h.now()
		}
		if logout {
			h.sessions.Logout(key, now)
		} else if !hasLogout(req, m.Name) {
			h.sessions.Observe(key, now)
		}
	}
}

// hasLogout reports whether a frame with a request message also carries a
// logout (the shipped configuration never sends both; another one might).
func hasLogout(req *request.Request, name string) bool {
	if name == MessageLogout {
		return true
	}
	for _, m := range *req.Messages {
		if m.Name == MessageLogout {
			return true
		}
	}
	return false
}

type args struct{ ip, ua, xff any }

// key hashes a message's three values and reports whether the request is
// metered at all (false for excluded networks and User-Agents).
func (h *Handler) key(a *args) (uint64, bool) {
	var scratch [24]byte
	addr := clientAddr(a.ip)
	if addr.IsValid() {
		for _, p := range h.cfg.ExcludeIP {
			if p.Contains(addr) {
				return 0, false
			}
		}
	}
	for _, re := range h.cfg.ExcludeUA {
		if matchValue(re, a.ua) {
			return 0, false
		}
	}
	var hs maphash.Hash
	hs.SetSeed(h.seed)
	if addr.IsValid() {
		// One canonical form whatever the SPOP type: 4 bytes for IPv4 (also
		// when sent IPv4-mapped or as text), 16 for IPv6.
		if addr.Is4() {
			b := addr.As4()
			writeBytes(&hs, b[:])
		} else {
			b := addr.As16()
			writeBytes(&hs, b[:])
		}
	} else {
		writeValue(&hs, a.ip, scratch[:0])
	}
	writeValue(&hs, a.ua, scratch[:0])
	writeValue(&hs, a.xff, scratch[:0])
	return hs.Sum64(), true
}

// clientAddr returns the client address carried by an ip argument, or the
// zero Addr when it carries none.
func clientAddr(v any) netip.Addr {
	var addr netip.Addr
	switch x := v.(type) {
	case net.IP:
		addr, _ = netip.AddrFromSlice(x)
	case string:
		addr, _ = netip.ParseAddr(x)
	case []byte: // not what HAProxy sends for src; costs an allocation
		addr, _ = netip.ParseAddr(string(x))
	}
	return addr.Unmap().WithZone("")
}

// writeValue writes a header value, length-prefixed so that ("ab","c") and
// ("a","bc") hash differently, whatever its SPOP type. NULL (HAProxy's absent
// header) and an absent argument are "-".
func writeValue(h *maphash.Hash, v any, scratch []byte) {
	switch x := v.(type) {
	case string:
		writeLen(h, len(x))
		_, _ = h.WriteString(x)
	case []byte:
		writeBytes(h, x)
	case net.IP:
		writeBytes(h, x)
	default:
		writeBytes(h, textValue(v, scratch))
	}
}

// matchValue reports whether re matches a header value of any SPOP type.
// Only the types HAProxy never sends for a header (numbers, booleans,
// addresses) cost an allocation.
func matchValue(re *regexp.Regexp, v any) bool {
	switch x := v.(type) {
	case string:
		return re.MatchString(x)
	case []byte:
		return re.Match(x)
	case nil:
		return re.MatchString(missing)
	}
	return re.Match(textValue(v, nil))
}

// textValue formats the SPOP types that are neither strings nor binary.
func textValue(v any, buf []byte) []byte {
	switch x := v.(type) {
	case net.IP:
		return append(buf, x...)
	case bool:
		return strconv.AppendBool(buf, x)
	case int32:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(buf, x, 10)
	}
	return append(buf, missing...)
}

func writeBytes(h *maphash.Hash, b []byte) {
	writeLen(h, len(b))
	_, _ = h.Write(b)
}

func writeLen(h *maphash.Hash, l int) {
	n := [4]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)}
	_, _ = h.Write(n[:])
}
