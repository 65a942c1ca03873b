package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The inter-node encoding of an Envelope is binary and length-prefixed, so
// that a receiving node takes every frame out as a slice of the message it
// received, never decoding or re-encoding the frame itself:
//
//	version            1 byte (1)
//	broadcasts         uvarint count, then each:
//	                     varint seq, uvarint len + type,
//	                     varint deadline (Unix ms, 0 for none),
//	                     uvarint len + frame bytes
//	results            uvarint count, then each: uvarint len + user id,
//	                     uvarint len + frame bytes
//	teacher frames     uvarint count, then each: uvarint len + frame bytes
//	kick               uvarint len + user id
const envelopeVersion = 1

// MarshalEnvelope encodes an envelope for the inter-node channel. Its
// frames are copied in as they are.
func MarshalEnvelope(e Envelope) ([]byte, error) {
	size := 1 + 4*binary.MaxVarintLen64 + len(e.Kick)
	for _, b := range e.Broadcasts {
		size += 4*binary.MaxVarintLen64 + len(b.Type) + len(b.Raw)
	}
	for u, r := range e.Results {
		size += 2*binary.MaxVarintLen64 + len(u) + len(r)
	}
	for _, t := range e.Teacher {
		size += binary.MaxVarintLen64 + len(t)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, envelopeVersion)
	buf = binary.AppendUvarint(buf, uint64(len(e.Broadcasts)))
	for _, b := range e.Broadcasts {
		buf = binary.AppendVarint(buf, b.Seq)
		buf = appendBytes(buf, []byte(b.Type))
		var ms int64
		if !b.Deadline.IsZero() {
			ms = b.Deadline.UnixMilli()
		}
		buf = binary.AppendVarint(buf, ms)
		buf = appendBytes(buf, b.Raw)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Results)))
	for u, r := range e.Results {
		buf = appendBytes(buf, []byte(u))
		buf = appendBytes(buf, r)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Teacher)))
	for _, t := range e.Teacher {
		buf = appendBytes(buf, t)
	}
	buf = appendBytes(buf, []byte(e.Kick))
	return buf, nil
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

var errShortEnvelope = errors.New("decode envelope: truncated")

// envelopeReader takes the fields of an encoded envelope in order.
type envelopeReader struct {
	buf []byte
	err error
}

func (r *envelopeReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errShortEnvelope
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *envelopeReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.err = errShortEnvelope
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// bytes returns the next length-prefixed field as a slice of the input
// (its capacity cut, so an append never writes into what follows).
func (r *envelopeReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)) {
		r.err = errShortEnvelope
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

// count reads a count of items that take at least min bytes each, so a
// corrupt count cannot make the decoder allocate more than the input.
func (r *envelopeReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.buf)/min) {
		r.err = errShortEnvelope
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// messageTypes lets the decoder name a broadcast's type without
// allocating a string for each.
var messageTypes = map[string]string{
	TypeSessionStarted: TypeSessionStarted, TypeQuestionOpened: TypeQuestionOpened,
	TypeQuestionClosed: TypeQuestionClosed, TypeLeaderboard: TypeLeaderboard, TypeSessionEnded: TypeSessionEnded,
}

// UnmarshalEnvelope decodes what MarshalEnvelope encoded. The frames it
// returns alias raw, which the caller must not change afterwards.
func UnmarshalEnvelope(raw []byte) (Envelope, error) {
	if len(raw) == 0 || raw[0] != envelopeVersion {
		return Envelope{}, fmt.Errorf("decode envelope: unknown version")
	}
	r := envelopeReader{buf: raw[1:]}
	var e Envelope
	if n := r.count(4); n > 0 {
		e.Broadcasts = make([]Broadcast, n)
		for i := range e.Broadcasts {
			b := &e.Broadcasts[i]
			b.Seq = r.varint()
			typ := r.bytes()
			if known, ok := messageTypes[string(typ)]; ok {
				b.Type = known
			} else {
				b.Type = string(typ)
			}
			if ms := r.varint(); ms != 0 {
				b.Deadline = time.UnixMilli(ms).UTC()
			}
			b.Raw = r.bytes()
		}
	}
	if n := r.count(2); n > 0 {
		e.Results = make(map[string][]byte, n)
		for range n {
			u := string(r.bytes())
			e.Results[u] = r.bytes()
		}
	}
	if n := r.count(1); n > 0 {
		e.Teacher = make([][]byte, n)
		for i := range e.Teacher {
			e.Teacher[i] = r.bytes()
		}
	}
	if kick := r.bytes(); len(kick) > 0 {
		e.Kick = string(kick)
	}
	if r.err == nil && len(r.buf) > 0 {
		r.err = errors.New("decode envelope: trailing bytes")
	}
	if r.err != nil {
		return Envelope{}, r.err
	}
	return e, nil
}
