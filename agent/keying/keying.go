// Package keying turns a request's three values (client address, User-Agent,
// X-Forwarded-For) into its session key, decides whether the request is
// metered at all (excluded networks, User-Agents and session keys; trusted
// proxies) and classifies the session it starts. The live agent's handler
// and log replay both key requests here, so a log replayed is keyed exactly
// as the same traffic metered live.
//
// Nothing of a request is kept: the values are hashed with a per-process
// random seed and forgotten. The key hashes are never written anywhere.
package keying

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"regexp"
	"sync/atomic"
	"time"

	"headcount/agent/session"
	"headcount/internal/botclass"
)

// Missing is the value an absent header counts as in the key.
const Missing = "-"

// FieldLimit is how many bytes of the User-Agent and of X-Forwarded-For
// the shipped HAProxy configuration sends the agent (req.fhdr(…),bytes(0,512)):
// the agent keys, classifies and excludes on those bytes only, and a replay
// of access logs, whose lines hold the whole values, cuts them to the same.
const FieldLimit = 512

// MissingBytes is Missing as bytes; never modify it.
var MissingBytes = []byte(Missing)

// Config sets what a Keyer meters and how it keys.
type Config struct {
	// ExcludeIP lists client networks whose requests are not metered.
	ExcludeIP []netip.Prefix
	// ExcludeUA lists User-Agent patterns (health probes, monitors) whose
	// requests are not metered.
	ExcludeUA []*regexp.Regexp
	// TrustedProxies lists the networks whose X-Forwarded-For is believed:
	// a request from anywhere else is keyed on its address and User-Agent
	// with "-" for X-Forwarded-For, so that a client cannot start sessions at
	// will by varying the header. Nil trusts every client (seed 004's key).
	TrustedProxies []netip.Prefix
	// ExcludeIPFile and ExcludeKeyFile name the exclusion files (files.go),
	// read by LoadExclusions.
	ExcludeIPFile, ExcludeKeyFile string
	// Bots classifies the session a request starts as a person's or a
	// crawler's by its User-Agent; nil leaves every session unclassified.
	Bots *botclass.Classifier
}

// exclusionSet is what the exclusion files say, replaced whole when they
// are read again: networks, and the keys of excluded sessions, hashed as
// requests are (the header values themselves are not kept).
type exclusionSet struct {
	networks []netip.Prefix
	keys     map[uint64]struct{}
}

// Keyer keys requests. Its methods are safe for concurrent use and allocate
// nothing (ExcludedUA aside: see there).
type Keyer struct {
	cfg        Config
	seed       maphash.Seed
	exclusions atomic.Pointer[exclusionSet]
	xffIgnored atomic.Uint64
}

// New returns a Keyer with a random seed and no exclusion files read yet:
// call LoadExclusions when cfg names them.
func New(cfg Config) *Keyer {
	k := &Keyer{cfg: cfg, seed: maphash.MakeSeed()}
	k.exclusions.Store(&exclusionSet{})
	return k
}

// LoadExclusions reads the exclusion files and puts them in force at once,
// returning how many networks and session keys they hold. On an error the
// lists in force stay as they were.
func (k *Keyer) LoadExclusions() (networks, keys int, err error) {
	set := &exclusionSet{}
	if path := k.cfg.ExcludeIPFile; path != "" {
		if set.networks, err = readExcludeIPFile(path); err != nil {
			return 0, 0, err
		}
	}
	if path := k.cfg.ExcludeKeyFile; path != "" {
		tuples, err := readExcludeKeyFile(path)
		if err != nil {
			return 0, 0, err
		}
		set.keys = make(map[uint64]struct{}, len(tuples))
		for _, t := range tuples {
			set.keys[k.Hash(IPBytes(t.ip, nil), []byte(t.ua), []byte(t.xff))] = struct{}{}
		}
	}
	k.exclusions.Store(set)
	return len(set.networks), len(set.keys), nil
}

// XFFIgnored returns how many requests carried an X-Forwarded-For that was
// left out of their key because they did not come from a trusted proxy.
func (k *Keyer) XFFIgnored() uint64 { return k.xffIgnored.Load() }

// ExcludedAddr reports whether a client address is in an excluded network
// (--exclude-ip or the exclude-ip file). The zero Addr is never excluded.
func (k *Keyer) ExcludedAddr(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	return contains(k.cfg.ExcludeIP, addr) || contains(k.exclusions.Load().networks, addr)
}

// ExcludedUA reports whether a User-Agent ("-" when absent) matches an
// excluded pattern. The regular expressions keep their argument, so ua
// escapes: pass bytes that live on the heap anyway (a read buffer, a frame),
// never a stack buffer, or the call allocates.
func (k *Keyer) ExcludedUA(ua []byte) bool {
	for _, re := range k.cfg.ExcludeUA {
		if re.Match(ua) {
			return true
		}
	}
	return false
}

// Key returns the session key of a request and reports whether it is
// metered (false for an excluded session key). addr is the client address
// (the zero Addr when the request carries none), ip its bytes in the key
// (IPBytes for a valid addr), ua and xff the header values ("-" when
// absent); xffSent tells that the request carried an X-Forwarded-For header
// at all. The X-Forwarded-For of a request from outside the trusted proxies
// counts as "-". Call ExcludedAddr and ExcludedUA first.
func (k *Keyer) Key(addr netip.Addr, ip, ua, xff []byte, xffSent bool) (uint64, bool) {
	ex := k.exclusions.Load()
	untrusted := k.cfg.TrustedProxies != nil && !(addr.IsValid() && contains(k.cfg.TrustedProxies, addr))
	if len(ex.keys) > 0 {
		// Excluded keys are the values as the request carries them, as
		// HCL's tool writes them.
		raw := k.Hash(ip, ua, xff)
		if _, excluded := ex.keys[raw]; excluded {
			return 0, false
		}
		if !untrusted {
			return raw, true
		}
	}
	if untrusted {
		if xffSent && !(len(xff) == 1 && xff[0] == '-') {
			k.xffIgnored.Add(1)
		}
		xff = MissingBytes
	}
	return k.Hash(ip, ua, xff), true
}

// Classify returns the class of the session a request with User-Agent ua
// starts at now.
func (k *Keyer) Classify(ua []byte, now time.Time) session.Class {
	if k.cfg.Bots == nil {
		return session.ClassUnclassified
	}
	switch k.cfg.Bots.Classify(ua, now) {
	case botclass.Human:
		return session.ClassHuman
	case botclass.Bot:
		return session.ClassBot
	}
	return session.ClassUnclassified
}

// contains reports whether one of nets contains addr.
func contains(nets []netip.Prefix, addr netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// IPBytes appends an address in the form the key gives it to buf: 4 bytes
// for IPv4 (also IPv4-mapped), 16 for IPv6.
func IPBytes(addr netip.Addr, buf []byte) []byte {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		return append(buf, b[:]...)
	}
	b := addr.As16()
	return append(buf, b[:]...)
}

// Hash returns the key of three field values: length-prefixed so that
// ("ab","c") and ("a","bc") differ, hashed in one pass from a stack buffer
// (maphash.Hash's incremental writes cost twice as much); longer values,
// beyond what the shipped configuration sends, go through maphash.Hash.
func (k *Keyer) Hash(ip, ua, xff []byte) uint64 {
	size := 12 + len(ip) + len(ua) + len(xff)
	if size <= keyBufferSize {
		var buf [keyBufferSize]byte
		b := appendField(buf[:0], ip)
		b = appendField(b, ua)
		b = appendField(b, xff)
		return maphash.Bytes(k.seed, b)
	}
	var hs maphash.Hash
	hs.SetSeed(k.seed)
	var prefix [4]byte
	for _, f := range [3][]byte{ip, ua, xff} {
		binary.BigEndian.PutUint32(prefix[:], uint32(len(f)))
		_, _ = hs.Write(prefix[:])
		_, _ = hs.Write(f)
	}
	return hs.Sum64()
}

// keyBufferSize holds the three fields at the shipped configuration's
// bounds (FieldLimit bytes each) with their length prefixes.
const keyBufferSize = 1600

func appendField(b, field []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(field)))
	return append(b, field...)
}
