package spop

import (
	"encoding/binary"
	"errors"
)

// This file decodes NOTIFY frames in place and encodes their ACKs: the hot
// path. Decoding allocates nothing once a connection's notify has grown to
// the largest frame seen; an ACK is appended to the connection's write
// buffer.
//
// Wire format (HAProxy's SPOE.txt, 3.1 and 3.2): a frame is
//   LENGTH:u32 TYPE:u8 FLAGS:u32 STREAM-ID:varint FRAME-ID:varint PAYLOAD
// and a NOTIFY payload is a list of messages
//   NAME:string NB-ARGS:u8 (KEY:string VALUE:typed-data)*
// where a string is a varint length and bytes, and typed data is a type byte
// (low 4 bits type, high 4 bits flags) and a value of that type.

// SPOP typed-data types.
const (
	TypeNull   = 0
	TypeBool   = 1
	TypeInt32  = 2
	TypeUint32 = 3
	TypeInt64  = 4
	TypeUint64 = 5
	TypeIPv4   = 6
	TypeIPv6   = 7
	TypeString = 8
	TypeBinary = 9
)

var errBadFrame = errors.New("malformed NOTIFY frame")

// Value is one SPOP typed value. Bytes point into the frame being handled
// and are valid only while the handler runs.
type Value struct {
	Type  byte
	Bytes []byte // STRING, BINARY, IPV4 (4 bytes), IPV6 (16 bytes)
	Int   uint64 // the integer types, as sent; BOOL: 0 or 1
}

// Arg is a message argument.
type Arg struct {
	Name  []byte
	Value Value
}

// Message is one SPOE message of a NOTIFY frame.
type Message struct {
	Name []byte
	Args []Arg
}

// Arg returns the value of the argument called name, and false if there is
// none.
func (m *Message) Arg(name string) (Value, bool) {
	for i := range m.Args {
		if string(m.Args[i].Name) == name {
			return m.Args[i].Value, true
		}
	}
	return Value{}, false
}

// notify is a decoded NOTIFY frame. Its slices are reused from frame to
// frame on one connection, so steady state decoding allocates nothing.
type notify struct {
	flags    uint32
	streamID uint64
	frameID  uint64
	messages []Message
	args     []Arg // backing store of every message's Args
}

// decodeNotify decodes a NOTIFY frame's body (after the length and the type
// byte) into n. It never reads past body and never panics on bad input.
func decodeNotify(body []byte, n *notify) error {
	var p []byte
	var ok bool
	if n.flags, n.streamID, n.frameID, p, ok = readMetadata(body); !ok {
		return errBadFrame
	}
	n.messages = n.messages[:0]
	n.args = n.args[:0]
	type span struct{ from, to int }
	var spans [16]span // args of each message, as offsets into n.args
	spanOf := spans[:0]
	for len(p) > 0 {
		var name []byte
		if name, p, ok = readString(p); !ok || len(p) < 1 {
			return errBadFrame
		}
		nbArgs := int(p[0])
		p = p[1:]
		from := len(n.args)
		for i := 0; i < nbArgs; i++ {
			var a Arg
			if a.Name, p, ok = readString(p); !ok {
				return errBadFrame
			}
			if a.Value, p, ok = readValue(p); !ok {
				return errBadFrame
			}
			n.args = append(n.args, a)
		}
		n.messages = append(n.messages, Message{Name: name})
		spanOf = append(spanOf, span{from, len(n.args)})
	}
	for i := range n.messages {
		n.messages[i].Args = n.args[spanOf[i].from:spanOf[i].to:spanOf[i].to]
	}
	return nil
}

// readVarint decodes SPOP's variable-length integer (the peers encoding:
// 7.875 bits in the first byte, then 7 bits a byte).
func readVarint(p []byte) (uint64, []byte, bool) {
	if len(p) == 0 {
		return 0, p, false
	}
	v := uint64(p[0])
	if v < 240 {
		return v, p[1:], true
	}
	shift := uint(4)
	for i := 1; i < len(p) && i <= 10; i++ {
		v += uint64(p[i]) << shift
		if p[i] < 128 {
			return v, p[i+1:], true
		}
		shift += 7
	}
	return 0, p, false
}

// appendVarint encodes v in SPOP's variable-length integer format.
func appendVarint(b []byte, v uint64) []byte {
	if v < 240 {
		return append(b, byte(v))
	}
	b = append(b, byte(v)|0xF0)
	v = (v - 240) >> 4
	for v >= 128 {
		b = append(b, byte(v)|0x80)
		v = (v - 128) >> 7
	}
	return append(b, byte(v))
}

func readString(p []byte) ([]byte, []byte, bool) {
	n, rest, ok := readVarint(p)
	if !ok || n > uint64(len(rest)) {
		return nil, p, false
	}
	return rest[:n:n], rest[n:], true
}

func readValue(p []byte) (Value, []byte, bool) {
	if len(p) == 0 {
		return Value{}, p, false
	}
	v := Value{Type: p[0] & 0x0F}
	flags := p[0] >> 4
	p = p[1:]
	var ok bool
	switch v.Type {
	case TypeNull:
	case TypeBool:
		v.Int = uint64(flags & 1)
	case TypeInt32, TypeUint32, TypeInt64, TypeUint64:
		if v.Int, p, ok = readVarint(p); !ok {
			return v, p, false
		}
	case TypeIPv4, TypeIPv6:
		size := 4
		if v.Type == TypeIPv6 {
			size = 16
		}
		if len(p) < size {
			return v, p, false
		}
		v.Bytes, p = p[:size:size], p[size:]
	case TypeString, TypeBinary:
		if v.Bytes, p, ok = readString(p); !ok {
			return v, p, false
		}
	default:
		return v, p, false
	}
	return v, p, true
}

// appendAck appends the ACK of a NOTIFY frame to b: the NOTIFY's stream-id
// and frame-id, FIN set, and the encoded actions (none when empty).
func appendAck(b []byte, streamID, frameID uint64, actions []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, frameAck, 0, 0, 0, flagFin) // length placeholder, type, FIN
	b = appendVarint(b, streamID)
	b = appendVarint(b, frameID)
	b = append(b, actions...)
	return putLength(b, start)
}

// Variable scopes of a set-var action (SPOE.txt, "Actions").
const (
	ScopeProc = 0
	ScopeSess = 1
	ScopeTxn  = 2
	ScopeReq  = 3
	ScopeRes  = 4
)

const actionSetVar = 1

// AppendSetVarUint appends to b a set-var action of an ACK: HAProxy sets the
// variable name, in scope, to the integer v. HAProxy prefixes the name with
// the SPOE agent's "option var-prefix" (txn.<prefix>.<name>) and sets it only
// if its configuration uses that variable.
func AppendSetVarUint(b []byte, scope byte, name string, v uint32) []byte {
	b = append(b, actionSetVar, 3, scope)
	b = appendString(b, name)
	b = append(b, TypeUint32)
	return appendVarint(b, uint64(v))
}

// DecodeNotify decodes a whole NOTIFY frame, from its length prefix on, into
// its messages, which point into frame. The server decodes in place and
// reuses its buffers; this is for tests and tools.
func DecodeNotify(frame []byte) ([]Message, error) {
	if len(frame) < 5 || frame[4] != frameNotify || int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
		return nil, errBadFrame
	}
	var n notify
	if err := decodeNotify(frame[5:], &n); err != nil {
		return nil, err
	}
	return n.messages, nil
}
