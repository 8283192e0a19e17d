package spop

import (
	"testing"

	"headcount/agent/spop/spoptest"
)

// FuzzDecodeNotify decodes arbitrary NOTIFY bodies: it never panics, never
// reads out of bounds, and what it accepts holds together (every argument's
// bytes lie inside the body).
func FuzzDecodeNotify(f *testing.F) {
	f.Add(spoptest.NotifyFrame(1, requestMsg(ip4, "Mozilla/5.0", "203.0.113.1"))[5:])
	f.Add(spoptest.NotifyFrame(7, requestMsg("198.51.100.7", []byte{0, 1, 2}, nil), logoutMsg(ip4, nil, "x"))[5:])
	f.Add([]byte{0, 0, 0, 1, 0xF0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})
	var n notify
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := decodeNotify(body, &n); err != nil {
			return
		}
		for _, m := range n.messages {
			for _, a := range m.Args {
				if len(a.Value.Bytes) > len(body) || len(a.Name) > len(body) {
					t.Fatalf("an argument larger than the frame")
				}
			}
		}
	})
}

// FuzzDecodeHello decodes arbitrary HAPROXY-HELLO bodies: it never panics,
// and a HELLO it accepts has a max-frame-size SPOE.txt allows.
func FuzzDecodeHello(f *testing.F) {
	f.Add(spoptest.HelloFrame()[5:])
	f.Add(spoptest.EncodeHello(true)[5:])
	f.Add(helloWithFrameSize(1 << 20)[5:])
	f.Fuzz(func(t *testing.T, body []byte) {
		h, status, reason := decodeHello(body)
		if status != 0 {
			if reason == "" {
				t.Fatalf("status %d without a reason", status)
			}
			return
		}
		if h.maxFrameSize < minNegotiatedFrameSize {
			t.Fatalf("accepted max-frame-size %d", h.maxFrameSize)
		}
	})
}
