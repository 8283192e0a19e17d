package metricsfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The legacy metrics file, written by headcount before the MHS shape
// (files already handed over stay checkable: Verify still reads it):
//
//	# headcount metrics v1 deployment=dx-prod from=2026-11-01T00:00:00Z to=2026-11-02T00:00:00Z
//	window_start,window_end,sessions,chain
//	2026-11-01T00:00:00Z,2026-11-01T00:10:00Z,12,<hex SHA-256>
//	...
//	# signature <base64 Ed25519 signature of the last chain value>
//
// chain(0) = SHA-256(the first line); chain(i) = SHA-256(chain(i-1) ||
// "start,end,sessions" of row i). The deployment's key (headcount keygen)
// signs the last chain value, so a row edited, removed, reordered or
// appended breaks either the chain or the signature, and Verify says where.

const legacyHeader = "window_start,window_end,sessions,chain"

// legacyRow is one 10-minute window of a legacy metrics file.
type legacyRow struct {
	Start, End time.Time
	Sessions   uint64
}

func (r legacyRow) fields() string {
	return r.Start.UTC().Format(time.RFC3339) + "," + r.End.UTC().Format(time.RFC3339) + "," + strconv.FormatUint(r.Sessions, 10)
}

func chain(prev [32]byte, line string) [32]byte {
	return sha256.Sum256(append(prev[:], line...))
}

// ErrTampered is wrapped by every error Verify returns for a file that was
// changed after it was signed.
var ErrTampered = errors.New("the metrics file was changed")

// verifyLegacy checks a legacy metrics file with the deployment's public
// key. It returns the rows, or an error naming the first line that was edited,
// removed, reordered or appended, or a bad signature.
func verifyLegacy(lines []string, pub ed25519.PublicKey) ([]legacyRow, error) {
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "# headcount metrics v1 ") || lines[1] != legacyHeader {
		return nil, errors.New("not a headcount metrics file")
	}
	last := lines[len(lines)-1]
	sigText, ok := strings.CutPrefix(last, "# signature ")
	if !ok {
		return nil, fmt.Errorf("%w: the signature line is missing (line %d)", ErrTampered, len(lines))
	}
	sig, err := base64.StdEncoding.DecodeString(sigText)
	if err != nil {
		return nil, fmt.Errorf("%w: the signature does not read (line %d)", ErrTampered, len(lines))
	}
	h := sha256.Sum256([]byte(lines[0]))
	var rows []legacyRow
	var chainAt [][32]byte // the chain value after each row
	for i, line := range lines[2 : len(lines)-1] {
		n := i + 3 // line number
		parts := strings.Split(line, ",")
		if len(parts) != 4 {
			return nil, fmt.Errorf("%w: line %d does not read", ErrTampered, n)
		}
		start, err1 := time.Parse(time.RFC3339, parts[0])
		end, err2 := time.Parse(time.RFC3339, parts[1])
		sessions, err3 := strconv.ParseUint(parts[2], 10, 64)
		stored, err4 := hex.DecodeString(parts[3])
		if errors.Join(err1, err2, err3, err4) != nil || len(stored) != 32 {
			return nil, fmt.Errorf("%w: line %d does not read", ErrTampered, n)
		}
		r := legacyRow{Start: start, End: end, Sessions: sessions}
		if len(rows) > 0 {
			prev := rows[len(rows)-1]
			switch {
			case r.Start.Before(prev.End):
				return nil, fmt.Errorf("%w: line %d is out of order (reordered)", ErrTampered, n)
			case r.Start.After(prev.End):
				for _, later := range lines[n : len(lines)-1] { // the missing window further down?
					if strings.HasPrefix(later, prev.End.UTC().Format(time.RFC3339)+",") {
						return nil, fmt.Errorf("%w: line %d is out of order (reordered)", ErrTampered, n)
					}
				}
				return nil, fmt.Errorf("%w: a row is missing before line %d (removed)", ErrTampered, n)
			}
		}
		h = chain(h, strings.Join(parts[:3], ","))
		if !bytes.Equal(h[:], stored) {
			return nil, fmt.Errorf("%w: line %d was edited", ErrTampered, n)
		}
		rows = append(rows, r)
		chainAt = append(chainAt, h)
	}
	if ed25519.Verify(pub, h[:], sig) {
		return rows, nil
	}
	// The chain holds, but the signature is not over its end: rows were
	// added after the signed one, or the signature is not the deployment's.
	for i, c := range chainAt[:max(len(chainAt)-1, 0)] {
		if ed25519.Verify(pub, c[:], sig) {
			return nil, fmt.Errorf("%w: line %d and after were appended", ErrTampered, i+4)
		}
	}
	return nil, fmt.Errorf("%w: the signature does not match the rows: rows at the end were removed, or the rows were re-chained, or another key signed it", ErrTampered)
}
