package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
	"unsafe"
)

// readBufferSize is the size of a file's read buffer; a line longer than
// maxLine is skipped as one that fits no format.
const (
	readBufferSize = 1 << 20
	maxLine        = 64 << 10
)

// Open opens a log file for Run: "-" is stdin, and a file (or stdin) whose
// content starts with gzip's magic number is decompressed, whatever its name.
// When read is not nil, the bytes read from the file (compressed, for a
// gzipped one) are added to it as they are read, for a progress line.
func Open(name string, stdin io.Reader, read *int64) (io.ReadCloser, error) {
	return OpenAt(name, stdin, read, 0)
}

// OpenAt is Open that starts reading at offset in the file's stream (the
// decompressed one, for a gzipped file, whose bytes up to offset are read
// and dropped): where an earlier run's Result.Offsets says to read on. The
// offset of stdin must be 0.
func OpenAt(name string, stdin io.Reader, read *int64, offset int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	plain := false
	if name == "-" {
		rc = io.NopCloser(stdin)
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		rc = f
		if offset > 0 {
			gz, err := gzipFile(f)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if !gz {
				if _, err := f.Seek(offset, io.SeekStart); err != nil {
					f.Close()
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				plain = true
			}
		}
	}
	var src io.Reader = rc
	if read != nil {
		src = &countingReader{r: rc, n: read}
	}
	br := bufio.NewReaderSize(src, 64<<10)
	if plain {
		return readCloser{br, rc}, nil
	}
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if gzipMagic(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%s: not a readable gzip file: %w", name, err)
		}
		if _, err := io.CopyN(io.Discard, zr, offset); err != nil && !errors.Is(err, io.EOF) {
			rc.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return readCloser{zr, rc}, nil
	}
	return readCloser{br, rc}, nil
}

// countingReader adds the bytes it reads to n.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// lineReader returns the lines of a reader as slices of its buffer, valid
// until the next call.
type lineReader struct {
	r        io.Reader
	buf      []byte
	start    int // first byte not returned yet
	end      int // bytes in buf
	err      error
	tooLong  bool // the current line exceeded maxLine: its rest is being dropped
	line     uint64
	longLine bool  // set with the line Next returns when it was longer than maxLine
	base     int64 // offset in the stream of buf[0]
	off      int64 // offset in the stream of the line Next returned
}

// newLineReader returns a lineReader of r, which starts at offset in its
// stream.
func newLineReader(r io.Reader, offset int64) *lineReader {
	return &lineReader{r: r, buf: make([]byte, readBufferSize), base: offset}
}

// consumed returns the offset in the stream of the first byte not returned yet.
func (lr *lineReader) consumed() int64 { return lr.base + int64(lr.start) }

// Next returns the next line without its newline, and false at the end or
// on a read error (Err).
func (lr *lineReader) Next() ([]byte, bool) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+i]
			lr.off = lr.base + int64(lr.start)
			lr.start += i + 1
			lr.line++
			// Long whether or not it fitted in what the reads brought in.
			lr.longLine = lr.tooLong || len(line) > maxLine
			lr.tooLong = false
			return line, true
		}
		if lr.err != nil {
			if lr.start < lr.end { // a last line without a newline
				line := lr.buf[lr.start:lr.end]
				lr.off = lr.base + int64(lr.start)
				lr.start = lr.end
				lr.line++
				lr.longLine = lr.tooLong || len(line) > maxLine
				lr.tooLong = false
				return line, true
			}
			return nil, false
		}
		if lr.end-lr.start >= maxLine { // drop the line's start: it fits no format
			lr.tooLong = true
			lr.start = lr.end
		}
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.base += int64(lr.start)
			lr.start = 0
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if err != nil {
			lr.err = err
		}
	}
}

// Err returns the read error that ended the lines, nil at a clean end.
func (lr *lineReader) Err() error {
	if errors.Is(lr.err, io.EOF) {
		return nil
	}
	return lr.err
}

// parseAddr returns the address a logged client host is, or the zero Addr
// for a host name. IPv4 is parsed by hand; IPv6 through netip, given the
// line's bytes as a string without a copy (it keeps nothing of them but a
// zone, which gets a copy).
func parseAddr(b []byte) netip.Addr {
	var a [4]byte
	part, n, digitsSeen := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digitsSeen > 0 && n == 0 { // a leading zero, which netip refuses too
				return parseOther(b)
			}
			n = n*10 + int(c-'0')
			digitsSeen++
			if n > 255 || digitsSeen > 3 {
				return parseOther(b)
			}
		case c == '.' && digitsSeen > 0 && part < 3:
			a[part] = byte(n)
			part++
			n, digitsSeen = 0, 0
		default:
			return parseOther(b)
		}
	}
	if part != 3 || digitsSeen == 0 {
		return parseOther(b)
	}
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

func parseOther(b []byte) netip.Addr {
	if bytes.IndexByte(b, ':') < 0 || len(b) == 0 {
		return netip.Addr{}
	}
	s := unsafe.String(&b[0], len(b)) // read during the call only
	if bytes.IndexByte(b, '%') >= 0 {
		s = string(b) // a zone would be kept by netip: give it a copy
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap().WithZone("")
}

// Gzipped reports whether the file name is gzipped, by its first bytes. Its
// offsets are in the decompressed stream; its size is not.
func Gzipped(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	gz, _ := gzipFile(f)
	return gz
}

// gzipMagic reports whether b starts with gzip's magic number.
func gzipMagic(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gzipFile reports whether f starts with gzip's magic number.
func gzipFile(f *os.File) (bool, error) {
	var magic [2]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return gzipMagic(magic[:n]), nil
}

// OffsetHolds reports whether the file name still holds at offset the stream
// an earlier run read up to there, as far as a look at it can tell: the byte
// before offset ends a line, and the first line from offset on that fits the
// format (any, for FormatAuto) is not later than notAfter, the newest line
// that run can have read. A file truncated in place and written anew since
// (logrotate's copytruncate) that has grown past the size recorded fails it:
// its lines at offset are newer. A gzipped file is taken as it is (it is
// read from its start up to offset anyway). Reading a file from its start
// instead of offset costs time only: the lines before the run's reading
// start are ignored by their times.
func OffsetHolds(name string, offset int64, format Format, notAfter time.Time) bool {
	if offset <= 0 {
		return true
	}
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 1+maxLine)
	n, err := f.ReadAt(buf, offset-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	if gz, _ := gzipFile(f); gz {
		return true
	}
	if n == 0 || buf[0] != '\n' {
		return false
	}
	rest := buf[1:n]
	if n == len(buf) { // the last line may be cut: only whole lines are looked at
		if i := bytes.LastIndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
	}
	parsers := []parser{parserOf(format)}
	if format == FormatAuto {
		parsers = []parser{ParseDXUST, ParseNCSA, ParseHAProxy}
	}
	var r Record
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = trimEOL(line)
		if len(line) == 0 {
			continue
		}
		for _, p := range parsers {
			if p(line, &r) {
				return r.Time <= notAfter.UnixNano()
			}
		}
	}
	return n == 1 // nothing after offset yet holds; lines that fit no format do not
}
