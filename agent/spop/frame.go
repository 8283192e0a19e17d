package spop

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// This file holds the SPOP frame layout and the control frames: decoding
// HAPROXY-HELLO and HAPROXY-DISCONNECT, encoding AGENT-HELLO and
// AGENT-DISCONNECT. NOTIFY and ACK, the hot path, are in notify.go.
//
// The encoders append a whole frame, length prefix included, to a buffer so
// that the connection writes each frame with one Write. The decoders read
// untrusted bytes: they never read past their input and never panic.

// SPOP frame types, flags and disconnect status codes (HAProxy's SPOE.txt,
// 3.2 and 3.5).
const (
	frameHaproxyHello      = 0x01
	frameHaproxyDisconnect = 0x02
	frameNotify            = 0x03
	frameAgentHello        = 0x65
	frameAgentDisconnect   = 0x66
	frameAck               = 0x67

	flagFin = 0x01

	statusNormal             = 0
	statusFrameTooBig        = 3
	statusInvalidFrame       = 4
	statusNoVersion          = 5
	statusNoFrameSize        = 6
	statusBadVersion         = 8
	statusBadFrameSize       = 9
	statusNoFragmentation    = 10
	statusUnknown            = 99
	minNegotiatedFrameSize   = 256 // SPOE.txt: a peer's max-frame-size is at least 256
	agentVersion             = "2.0"
	agentCapabilities        = "pipelining" // no async, no fragmentation: deprecated, and we need neither
	agentMaxFrameSize        = readBufferSize - 4
	defaultMaxFrameSize      = 16380 // HAProxy's default (tune.bufsize 16384 minus the length prefix): the HELLO's limit
	minFrameSize             = 7     // type, 4 flag bytes, stream-id and frame-id varints of one byte at least
	maxDisconnectMessageSize = 200   // an AGENT-DISCONNECT's message is cut to this: the frame stays under 256 bytes
)

// helloRequest is what the agent needs from a HAPROXY-HELLO.
type helloRequest struct {
	maxFrameSize uint32
	healthcheck  bool
}

// readMetadata reads a frame's flags, stream-id and frame-id from body (the
// frame after its type byte) and returns the payload after them.
func readMetadata(body []byte) (flags uint32, streamID, frameID uint64, payload []byte, ok bool) {
	if len(body) < 4 {
		return 0, 0, 0, nil, false
	}
	flags = binary.BigEndian.Uint32(body)
	p := body[4:]
	if streamID, p, ok = readVarint(p); !ok {
		return 0, 0, 0, nil, false
	}
	if frameID, p, ok = readVarint(p); !ok {
		return 0, 0, 0, nil, false
	}
	return flags, streamID, frameID, p, true
}

// decodeHello decodes a HAPROXY-HELLO's body (after the type byte). On
// failure it returns the AGENT-DISCONNECT status code to answer with and the
// reason; status is 0 on success. Unknown items are skipped, as SPOE.txt
// asks; the capabilities HAProxy offers do not matter: the agent offers
// pipelining only, which HAProxy uses if it supports it.
func decodeHello(body []byte) (h helloRequest, status uint32, reason string) {
	_, _, _, p, ok := readMetadata(body)
	if !ok {
		return h, statusInvalidFrame, "malformed HELLO frame"
	}
	var versions []byte
	var frameSize uint64
	var haveVersions, haveFrameSize bool
	for len(p) > 0 {
		var name []byte
		var v Value
		if name, p, ok = readString(p); !ok {
			return h, statusInvalidFrame, "malformed HELLO frame"
		}
		if v, p, ok = readValue(p); !ok {
			return h, statusInvalidFrame, "malformed HELLO frame"
		}
		switch string(name) {
		case "supported-versions":
			if v.Type != TypeString {
				return h, statusInvalidFrame, "HELLO's supported-versions is not a string"
			}
			versions, haveVersions = v.Bytes, true
		case "max-frame-size":
			if v.Type < TypeInt32 || v.Type > TypeUint64 {
				return h, statusInvalidFrame, "HELLO's max-frame-size is not an integer"
			}
			frameSize, haveFrameSize = v.Int, true
		case "healthcheck":
			h.healthcheck = v.Type == TypeBool && v.Int == 1
		}
	}
	switch {
	case !haveVersions:
		return h, statusNoVersion, "HELLO without supported-versions"
	case !supportsVersion2(versions):
		return h, statusBadVersion, "HELLO without an SPOP 2.x version"
	case !haveFrameSize:
		return h, statusNoFrameSize, "HELLO without max-frame-size"
	case frameSize < minNegotiatedFrameSize || frameSize > 1<<32-1:
		return h, statusBadFrameSize, fmt.Sprintf("HELLO's max-frame-size %d is out of range", frameSize)
	}
	h.maxFrameSize = uint32(frameSize)
	return h, 0, ""
}

// supportsVersion2 reports whether a comma-separated supported-versions list
// holds a 2.x version: announcing a major version means supporting all its
// minor versions, so the agent's 2.0 is then acceptable.
func supportsVersion2(list []byte) bool {
	for _, v := range bytes.Split(list, []byte(",")) {
		v = bytes.TrimSpace(v)
		if major, _, ok := bytes.Cut(v, []byte(".")); ok && string(major) == "2" {
			return true
		}
	}
	return false
}

// disconnectStatus returns the status-code of a HAPROXY-DISCONNECT's body
// (after the type byte), or false if it has none.
func disconnectStatus(body []byte) (uint64, bool) {
	_, _, _, p, ok := readMetadata(body)
	for ok && len(p) > 0 {
		var name []byte
		var v Value
		if name, p, ok = readString(p); !ok {
			break
		}
		if v, p, ok = readValue(p); ok && string(name) == "status-code" && v.Type >= TypeInt32 && v.Type <= TypeUint64 {
			return v.Int, true
		}
	}
	return 0, false
}

// appendAgentHello appends an AGENT-HELLO frame: SPOP version 2.0, the
// negotiated max-frame-size, capabilities "pipelining". Stream-id and
// frame-id are 0 and FIN is set, as HAProxy 3.1+ requires.
func appendAgentHello(b []byte, maxFrameSize uint32) []byte {
	start := len(b)
	b = appendControlHeader(b, frameAgentHello)
	b = appendKVString(b, "version", agentVersion)
	b = appendKVUint32(b, "max-frame-size", maxFrameSize)
	b = appendKVString(b, "capabilities", agentCapabilities)
	return putLength(b, start)
}

// appendAgentDisconnect appends an AGENT-DISCONNECT frame with status and
// message (cut to maxDisconnectMessageSize bytes). Stream-id and frame-id
// are 0 and FIN is set.
func appendAgentDisconnect(b []byte, status uint32, message string) []byte {
	if len(message) > maxDisconnectMessageSize {
		message = message[:maxDisconnectMessageSize]
	}
	start := len(b)
	b = appendControlHeader(b, frameAgentDisconnect)
	b = appendKVUint32(b, "status-code", status)
	b = appendKVString(b, "message", message)
	return putLength(b, start)
}

// appendControlHeader appends a length placeholder, the frame type, the FIN
// flag and stream-id and frame-id 0.
func appendControlHeader(b []byte, typ byte) []byte {
	return append(b, 0, 0, 0, 0, typ, 0, 0, 0, flagFin, 0, 0)
}

// putLength fills in the length prefix of the frame that starts at start.
func putLength(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendString(b []byte, s string) []byte {
	return append(appendVarint(b, uint64(len(s))), s...)
}

func appendKVString(b []byte, name, value string) []byte {
	return appendString(append(appendString(b, name), TypeString), value)
}

func appendKVUint32(b []byte, name string, value uint32) []byte {
	return appendVarint(append(appendString(b, name), TypeUint32), uint64(value))
}
