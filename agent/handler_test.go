package agent

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"headcount/agent/session"
	"headcount/agent/spop"
	"headcount/agent/spop/spoptest"
	"headcount/internal/botclass"
	"headcount/store"
)

// recordingSessions records the keys the handler passes on.
type recordingSessions struct {
	observed, logouts []uint64
}

func (r *recordingSessions) Observe(key uint64, _ time.Time) bool {
	r.observed = append(r.observed, key)
	return true
}

func (r *recordingSessions) Logout(key uint64, _ time.Time) bool {
	r.logouts = append(r.logouts, key)
	return true
}

// decoded encodes msgs in a NOTIFY frame and decodes it as the server does.
func decoded(t testing.TB, msgs ...spoptest.Message) []spop.Message {
	t.Helper()
	m, err := spop.DecodeNotify(spoptest.NotifyFrame(1, msgs...))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var ip4 = netip.MustParseAddr("203.0.113.9")

func requestMsg(ip, ua, xff any) spoptest.Message { return spoptest.Msg(MessageRequest, ip, ua, xff) }
func logoutMsg(ip, ua, xff any) spoptest.Message  { return spoptest.Msg(MessageLogout, ip, ua, xff) }
func heartbeatMsg(ip, ua, xff any) spoptest.Message {
	return spoptest.Msg(MessageHeartbeat, ip, ua, xff)
}

func keyOf(t *testing.T, h *Handler, m spoptest.Message) (uint64, bool) {
	t.Helper()
	rec := &recordingSessions{}
	h.sessions = rec
	h.HandleMessages(time.Now(), decoded(t, m))
	if len(rec.observed) == 0 {
		return 0, false
	}
	return rec.observed[0], true
}

func TestHandler_Key(t *testing.T) {
	h := NewHandler(HandlerConfig{Production: true}, nil, zerolog.Nop())
	base := requestMsg(netip.MustParseAddr("198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1, 10.0.0.1")
	same := []struct {
		name string
		m    spoptest.Message
	}{
		{"IPv4 sent as text", requestMsg("198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1, 10.0.0.1")},
		{"IPv4 sent IPv4-mapped", requestMsg(netip.MustParseAddr("::ffff:198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1, 10.0.0.1")},
		{"User-Agent sent as binary", requestMsg(netip.MustParseAddr("198.51.100.7"), []byte("Mozilla/5.0 (X11; Linux x86_64)"), "203.0.113.1, 10.0.0.1")},
	}
	different := []struct {
		name string
		m    spoptest.Message
	}{
		{"other IP", requestMsg(netip.MustParseAddr("198.51.100.8"), "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1, 10.0.0.1")},
		{"IPv6 IP", requestMsg(netip.MustParseAddr("2001:db8::7"), "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1, 10.0.0.1")},
		{"other User-Agent", requestMsg(netip.MustParseAddr("198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64) ", "203.0.113.1, 10.0.0.1")},
		{"other X-Forwarded-For", requestMsg(netip.MustParseAddr("198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.1")},
		{"missing X-Forwarded-For", requestMsg(netip.MustParseAddr("198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64)", nil)},
		{"bytes moved between fields", requestMsg(netip.MustParseAddr("198.51.100.7"), "Mozilla/5.0 (X11; Linux x86_64)2", "03.0.113.1, 10.0.0.1")},
	}
	want, ok := keyOf(t, h, base)
	if !ok {
		t.Fatal("the base request was not metered")
	}
	for _, tc := range same {
		if got, _ := keyOf(t, h, tc.m); got != want {
			t.Errorf("%s: key differs from the same client's", tc.name)
		}
	}
	for _, tc := range different {
		if got, _ := keyOf(t, h, tc.m); got == want {
			t.Errorf("%s: key equals another client's", tc.name)
		}
	}
	// A missing header is the value "-".
	nullUA, _ := keyOf(t, h, requestMsg(ip4, nil, nil))
	dashUA, _ := keyOf(t, h, requestMsg(ip4, "-", "-"))
	absent, _ := keyOf(t, h, spoptest.Message{Name: MessageRequest, Args: []spoptest.Arg{{Name: "ip", Value: ip4}}})
	if nullUA != dashUA || absent != dashUA {
		t.Errorf("NULL, absent and \"-\" headers give different keys")
	}
	// A new process has a new seed.
	other := NewHandler(HandlerConfig{Production: true}, nil, zerolog.Nop())
	if got, _ := keyOf(t, other, base); got == want {
		t.Errorf("two handlers hash the same client to the same key: the seed is not random")
	}
}

func TestHandler_Exclusions(t *testing.T) {
	h := NewHandler(HandlerConfig{
		Production: true,
		ExcludeIP:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:dead::/48")},
		ExcludeUA:  []*regexp.Regexp{regexp.MustCompile(`^kube-probe/`), regexp.MustCompile(`(?i)healthcheck`)},
	}, nil, zerolog.Nop())
	cases := []struct {
		name    string
		m       spoptest.Message
		metered bool
	}{
		{"ordinary client", requestMsg(ip4, "Mozilla/5.0", nil), true},
		{"excluded network", requestMsg(netip.MustParseAddr("10.1.2.3"), "Mozilla/5.0", nil), false},
		{"excluded network as text", requestMsg("10.1.2.3", "Mozilla/5.0", nil), false},
		{"excluded IPv6 network", requestMsg(netip.MustParseAddr("2001:db8:dead::1"), "Mozilla/5.0", nil), false},
		{"excluded network IPv4-mapped", requestMsg(netip.MustParseAddr("::ffff:10.1.2.3"), "Mozilla/5.0", nil), false},
		{"excluded User-Agent", requestMsg(ip4, "kube-probe/1.29", nil), false},
		{"excluded User-Agent as binary", requestMsg(ip4, []byte("ELB-HealthCheck/2.0"), nil), false},
		{"pattern not anchored where not asked", requestMsg(ip4, "Mozilla kube-probe/1", nil), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, metered := keyOf(t, h, tc.m); metered != tc.metered {
				t.Errorf("metered = %v, want %v", metered, tc.metered)
			}
		})
	}
}

func TestHandler_LogoutAndProduction(t *testing.T) {
	rec := &recordingSessions{}
	h := NewHandler(HandlerConfig{Production: true}, rec, zerolog.Nop())
	h.HandleMessages(time.Now(), decoded(t, logoutMsg(ip4, "ua", nil)))
	h.HandleMessages(time.Now(), decoded(t, requestMsg(ip4, "ua", nil), logoutMsg(ip4, "ua", nil)))
	if len(rec.logouts) != 2 || len(rec.observed) != 0 {
		t.Errorf("logouts=%d observed=%d; want 2 logouts and no request counted alongside a logout", len(rec.logouts), len(rec.observed))
	}
	h.HandleMessages(time.Now(), decoded(t, spoptest.Message{Name: "some-other-message", Args: []spoptest.Arg{{Name: "ip", Value: ip4}}}))
	if len(rec.observed) != 0 {
		t.Errorf("an unknown message was metered")
	}

	rec = &recordingSessions{}
	h = NewHandler(HandlerConfig{Production: false}, rec, zerolog.Nop())
	h.HandleMessages(time.Now(), decoded(t, requestMsg(ip4, "ua", nil), logoutMsg(ip4, "ua", nil)))
	if len(rec.observed)+len(rec.logouts) != 0 {
		t.Errorf("non-production mode counted a session")
	}
}

// setVar is a set-var action of txn scope with a one-byte name length and
// an UINT32 value whose varint bytes are given, as SPOE.txt lays it out.
func setVar(name string, varint ...byte) []byte {
	return append(append([]byte{1, 3, 2, byte(len(name))}, name...), append([]byte{spop.TypeUint32}, varint...)...)
}

// TestHandler_HeartbeatAck: the ACK of a heartbeat sets txn.<prefix>.ok, and
// also max_in (--max-session in whole seconds rounded up, plus 2) when the
// heartbeat started a session; per-request messages and logouts are
// acknowledged without actions. Excluded clients and a non-production agent
// still say ok: HAProxy may note them as told.
func TestHandler_HeartbeatAck(t *testing.T) {
	ok := setVar("ok", 1)
	started := append(append([]byte(nil), ok...), setVar("max_in", 0xF2, 0xF5, 0x05)...) // 4h + 2 s = 14402
	h := NewHandler(HandlerConfig{Production: true, Heartbeat: true, ExcludeUA: []*regexp.Regexp{regexp.MustCompile(`^probe$`)}}, mustTable(t), zerolog.Nop())
	now := time.Now()
	steps := []struct {
		name string
		msgs []spop.Message
		want []byte
	}{
		{"first heartbeat of a client", decoded(t, heartbeatMsg(ip4, "ua", nil)), started},
		{"its next heartbeat", decoded(t, heartbeatMsg(ip4, "ua", nil)), ok},
		{"another client's first", decoded(t, heartbeatMsg(ip4, "ua2", nil)), started},
		{"an excluded client", decoded(t, heartbeatMsg(ip4, "probe", nil)), ok},
		{"a per-request message", decoded(t, requestMsg(ip4, "ua3", nil)), nil},
		{"a logout", decoded(t, logoutMsg(ip4, "ua", nil)), nil},
		{"a heartbeat with a logout", decoded(t, heartbeatMsg(ip4, "ua", nil), logoutMsg(ip4, "ua", nil)), nil},
		{"the heartbeat after the logout", decoded(t, heartbeatMsg(ip4, "ua", nil)), started},
	}
	for _, st := range steps {
		if got := h.HandleMessages(now, st.msgs); !bytes.Equal(got, st.want) {
			t.Errorf("%s: ACK actions % x, want % x", st.name, got, st.want)
		}
	}

	h = NewHandler(HandlerConfig{Production: true, Heartbeat: true, MaxSession: 90*time.Minute + 500*time.Millisecond}, mustTable(t), zerolog.Nop())
	want := append(append([]byte(nil), ok...), setVar("max_in", 0xFB, 0xC2, 0x01)...) // 5401 + 2 = 5403
	if got := h.HandleMessages(now, decoded(t, heartbeatMsg(ip4, "ua", nil))); !bytes.Equal(got, want) {
		t.Errorf("--max-session 90m0.5s: ACK actions % x, want % x", got, want)
	}

	h = NewHandler(HandlerConfig{Production: false, Heartbeat: true}, mustTable(t), zerolog.Nop())
	if got := h.HandleMessages(now, decoded(t, heartbeatMsg(ip4, "ua", nil))); !bytes.Equal(got, ok) {
		t.Errorf("non-production: ACK actions % x, want % x (no session starts)", got, ok)
	}
}

func TestCoverage_Advance(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 1, 1, 0, 0, s, 0, time.UTC) }
	iv := func(a, b int) store.Interval { return store.Interval{Start: at(a), End: at(b)} }
	var c Coverage
	if _, ok := c.Advance(at(5), at(5)); ok {
		t.Fatal("coverage before any contact")
	}
	steps := []struct {
		contact int // monotonic seconds; -1: none
		advance int // monotonic seconds
		wall    int // the wall clock minus the monotonic one, seconds
		want    store.Interval
	}{
		{10, 12, 0, iv(10, 12)},     // first contact opens an interval, ending at now
		{20, 25, 0, iv(10, 25)},     // contacts within the window extend it
		{-1, 50, 0, iv(10, 50)},     // no contact: still covered until the window after the last one
		{-1, 100, 0, iv(10, 80)},    // ... and no longer
		{-1, 130, 0, iv(10, 80)},    // stays closed
		{140, 145, 0, iv(140, 145)}, // a contact after a gap longer than the window opens a new interval
		// The wall clock steps back 100 s: a new interval, which does not
		// cover again the wall time already covered.
		{150, 155, -100, iv(145, 145)},
		{300, 305, -100, iv(200, 205)},
		// It steps forward 1000 s: a new interval on the new time.
		{310, 315, 900, iv(1210, 1215)},
		{320, 330, 900, iv(1210, 1230)},
	}
	for i, s := range steps {
		if s.contact >= 0 {
			c.Contact(at(s.contact))
		}
		got, ok := c.Advance(at(s.advance), at(s.advance+s.wall))
		if !ok || !got.Start.Equal(s.want.Start) || !got.End.Equal(s.want.End) {
			t.Errorf("step %d: Advance = %v..%v (%v), want %v..%v", i, got.Start, got.End, ok, s.want.Start, s.want.End)
		}
	}
}

// TestHandler_NoAllocations holds the handler to its promise: nothing is
// allocated per request in the steady state, whatever the argument types,
// with exclusions configured.
func TestHandler_NoAllocations(t *testing.T) {
	table := mustTable(t)
	h := NewHandler(HandlerConfig{
		Production: true,
		ExcludeIP:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ExcludeUA:  []*regexp.Regexp{regexp.MustCompile(`^kube-probe/`)},
	}, table, zerolog.Nop())
	frames := [][]spop.Message{
		decoded(t, requestMsg(ip4, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)", "203.0.113.1, 10.0.0.1")),
		decoded(t, requestMsg(netip.MustParseAddr("2001:db8::1"), []byte("curl/8.5.0"), nil)),
		decoded(t, requestMsg(netip.MustParseAddr("198.51.100.7"), nil, "2001:db8::5")),
		decoded(t, logoutMsg(ip4, "Mozilla/5.0", nil)),
		decoded(t, heartbeatMsg(netip.MustParseAddr("198.51.100.9"), "Mozilla/5.0", nil)),
	}
	for _, msgs := range frames {
		h.HandleMessages(time.Now(), msgs) // first sight: the session starts
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, msgs := range frames {
			h.HandleMessages(time.Now(), msgs)
		}
	})
	if allocs != 0 {
		t.Errorf("Handle allocates %.1f times per 5 requests, want 0", allocs)
	}
}

func mustTable(t testing.TB) *session.Table {
	t.Helper()
	tab, err := session.New(session.Config{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// BenchmarkHandler measures Handle for a known client: hashing the three
// values and the table lookup.
func BenchmarkHandler(b *testing.B) {
	h := NewHandler(HandlerConfig{Production: true}, mustTable(b), zerolog.Nop())
	msgs := decoded(b, requestMsg(ip4, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)", "203.0.113.1, 10.0.0.1"))
	now := time.Now()
	h.HandleMessages(now, msgs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.HandleMessages(now, msgs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestHandler_LongHeaders: hundreds of X-Forwarded-For hops and a huge
// User-Agent (longer than any the shipped configuration lets through) hash
// like any other value: the same client, the same key; one byte apart, not.
func TestHandler_LongHeaders(t *testing.T) {
	h := NewHandler(HandlerConfig{Production: true}, nil, zerolog.Nop())
	var hops []string
	for i := 0; i < 400; i++ {
		hops = append(hops, fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256))
	}
	xff := strings.Join(hops, ", ")
	ua := strings.Repeat("Mozilla/5.0 ", 1000)
	k1, ok1 := keyOf(t, h, requestMsg(ip4, ua, xff))
	k2, ok2 := keyOf(t, h, requestMsg(ip4, ua, xff))
	k3, _ := keyOf(t, h, requestMsg(ip4, ua, xff+"1"))
	if !ok1 || !ok2 || k1 != k2 || k1 == k3 {
		t.Errorf("keys for %d-byte headers: %x %x %x; want the first two equal and the third different", len(xff)+len(ua), k1, k2, k3)
	}
}

// BenchmarkHandler_Classified is BenchmarkHandler with the crawler list in
// force: a request of a live session is not classified, so it costs the same.
func BenchmarkHandler_Classified(b *testing.B) {
	h := NewHandler(HandlerConfig{Production: true, Bots: botclass.New(botclass.Config{})}, mustTable(b), zerolog.Nop())
	msgs := decoded(b, requestMsg(ip4, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)", "203.0.113.1, 10.0.0.1"))
	now := time.Now()
	h.HandleMessages(now, msgs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.HandleMessages(now, msgs)
	}
}

// BenchmarkHandler_Start measures requests that each start a session (a new
// X-Forwarded-For each time): without classification, classified from the
// cache (one User-Agent), and matched against the crawler list (a new
// User-Agent each time, the matches per second unbounded).
func BenchmarkHandler_Start(b *testing.B) {
	const pool = 1 << 14
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	for _, tc := range []struct {
		name    string
		bots    *botclass.Classifier
		newUAs  bool
		perStep int
	}{
		{"unclassified", nil, false, pool},
		{"cached", botclass.New(botclass.Config{}), false, pool},
		{"matched", botclass.New(botclass.Config{MatchesPerSecond: 1 << 30, CacheEntries: 2}), true, pool},
	} {
		b.Run(tc.name, func(b *testing.B) {
			frames := make([][]spop.Message, pool)
			for i := range frames {
				agent := ua
				if tc.newUAs {
					agent = fmt.Sprintf("%s r%d", ua, i)
				}
				frames[i] = decoded(b, requestMsg(ip4, agent, fmt.Sprintf("198.51.%d.%d", i/250, i%250)))
			}
			now := time.Now()
			var h *Handler
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%pool == 0 { // every key of the pool has a session: start over on an empty table
					b.StopTimer()
					h = NewHandler(HandlerConfig{Production: true, Bots: tc.bots}, mustTable(b), zerolog.Nop())
					b.StartTimer()
				}
				h.HandleMessages(now, frames[i%pool])
			}
		})
	}
}

// TestHandler_ClassifiesOnceAndBounded: the handler classifies a session's
// User-Agent when it starts, not its later requests; a flood of new
// User-Agents beyond the classifier's matches per second is counted
// unclassified, and the next second is classified again.
func TestHandler_ClassifiesOnceAndBounded(t *testing.T) {
	tab := mustTable(t)
	bots := botclass.New(botclass.Config{MatchesPerSecond: 100})
	h := NewHandler(HandlerConfig{Production: true, Bots: bots}, tab, zerolog.Nop())
	now := time.Now().Truncate(time.Second)
	send := func(at time.Time, ua, xff string) { h.HandleMessages(at, decoded(t, requestMsg(ip4, ua, xff))) }
	for round := 0; round < 3; round++ { // three requests each: one classification each
		send(now, "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "")
		send(now, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "")
	}
	if s := bots.Stats(); s.Matched != 2 || s.Cached != 0 {
		t.Fatalf("after 6 requests of 2 sessions: %+v, want 2 matches and nothing else", s)
	}
	for i := 0; i < 300; i++ { // a flood of new User-Agents in one second
		send(now.Add(500*time.Millisecond), fmt.Sprintf("flood-agent/%d", i), "")
	}
	send(now.Add(time.Second), "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0", "") // the next second
	if s := bots.Stats(); s.Matched != 101 || s.Unknown != 202 {
		t.Errorf("stats %+v, want 101 matched (the bound, then the next second's) and 202 unknown", s)
	}
	tab.EndAll(now.Add(2 * time.Second))
	byClass := map[session.Class]uint64{}
	for _, c := range tab.Collect().Completions {
		byClass[c.Class] += c.Sessions
	}
	// The flood agents are people to the crawler list (98 of the first 100
	// matched) or unclassified (the 200 over the bound).
	want := map[session.Class]uint64{session.ClassHuman: 1 + 98 + 1, session.ClassBot: 1, session.ClassUnclassified: 202}
	for _, c := range session.Classes {
		if byClass[c] != want[c] {
			t.Errorf("%s sessions %d, want %d (all: %v)", c, byClass[c], want[c], byClass)
		}
	}
}
