package spop

import (
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"headcount/agent/spop/spoptest"
)

// TestServer_HostileConnections attacks the SPOP port from many connections
// at once — silent ones, slowloris ones trickling a frame a byte at a time,
// ones sending garbage — while a well-behaved connection (HAProxy) keeps
// sending NOTIFY frames. HAProxy's frames keep being answered promptly, and
// every hostile connection is closed within its timeout.
func TestServer_HostileConnections(t *testing.T) {
	h := &countingHandler{}
	const timeout = 300 * time.Millisecond
	s := startServer(t, Config{MaxConnections: 100, HelloTimeout: timeout, FrameTimeout: timeout, IdleTimeout: 3 * timeout}, h)

	good := spoptest.Dial(t, s.addr)
	good.Hello(false)
	stop := make(chan struct{})
	var worst time.Duration
	var sent int
	goodDone := make(chan struct{})
	go func() {
		defer close(goodDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			good.Notify(requestMsg(ip4, "Mozilla/5.0", "203.0.113.1"))
			worst = max(worst, time.Since(start))
			sent++
		}
	}()

	var wg sync.WaitGroup
	closedWithin := func(kind string, c net.Conn, limit time.Duration) {
		defer wg.Done()
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(limit))
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%s connection still open after %v", kind, limit)
				}
				return
			}
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	for i := 0; i < 10; i++ {
		// Silent: connects and says nothing.
		wg.Add(1)
		go closedWithin("silent", dial(), 3*timeout)

		// Slowloris: a valid HELLO, then a NOTIFY one byte every 50ms.
		c := dial()
		if _, err := c.Write(spoptest.HelloFrame()); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(c net.Conn) {
			frame := spoptest.NotifyFrame(1, requestMsg(ip4, "slow", nil))
			tick := time.NewTicker(50 * time.Millisecond) // the attacker's pace
			defer tick.Stop()
			for _, b := range frame {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				<-tick.C
			}
		}(c)
		go closedWithin("slowloris", c, 4*timeout)

		// Garbage: random bytes after a valid HELLO.
		g := dial()
		junk := make([]byte, 256)
		r := rand.New(rand.NewPCG(uint64(i), 1))
		for j := range junk {
			junk[j] = byte(r.Uint32())
		}
		if _, err := g.Write(append(spoptest.HelloFrame(), junk...)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go closedWithin("garbage", g, 3*timeout)
	}
	wg.Wait()
	close(stop)
	<-goodDone

	// Served apart from the attackers: a connection held up by them would
	// wait out their timeouts one after another (30 connections, 0.3-1.2 s
	// each) and answer a few frames at most. The count is the measure; the
	// slowest frame only has to stay below a second, as a loaded 2-core
	// machine running the race detector can pause a goroutine for some
	// hundreds of milliseconds.
	if sent < 500 || worst > time.Second {
		t.Errorf("HAProxy's connection: %d frames answered, slowest %v; want at least 500, each within a second", sent, worst)
	}
	if got := s.counters.timeouts.Load(); got < 20 {
		t.Errorf("timeouts counter = %d, want at least the 10 silent and 10 slowloris connections", got)
	}
	s.waitConnections(t, 1) // only HAProxy's connection remains
	if h.count(msgRequest) != sent {
		t.Errorf("handled %d messages, HAProxy's connection sent %d (a slowloris or garbage frame must not count)", h.count(msgRequest), sent)
	}
}

func TestServer_MaxConnections(t *testing.T) {
	s := startServer(t, Config{MaxConnections: 5}, &countingHandler{})
	var open []*spoptest.Client
	for i := 0; i < 5; i++ {
		c := spoptest.Dial(t, s.addr)
		c.Hello(false)
		open = append(open, c)
	}
	extra := spoptest.Dial(t, s.addr)
	if frames, closed := extra.Closed(); !closed || len(frames) != 0 {
		t.Fatalf("the 6th connection: closed=%v frames=%x; want closed without an answer", closed, frames)
	}
	if got := s.counters.overLimit.Load(); got != 1 {
		t.Errorf("over-limit counter = %d, want 1", got)
	}
	if !contains(s.logs.String(), "--max-connections reached") {
		t.Errorf("no log line for the refused connection")
	}
	open[0].Notify(requestMsg(ip4, "ua", nil)) // the others are still served
	_ = open[1].Conn.Close()
	s.waitConnections(t, 4) // a closed connection frees its place
	again := spoptest.Dial(t, s.addr)
	again.Hello(false)
	again.Notify(requestMsg(ip4, "ua", nil))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
