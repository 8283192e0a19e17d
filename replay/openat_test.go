package replay

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// OpenAt reads a plain file from the offset, and a gzipped one from that
// offset in its decompressed stream.
func TestOpenAt(t *testing.T) {
	dir := t.TempDir()
	content := []byte("first line\nsecond line\nthird line\n")
	plain := filepath.Join(dir, "access.log")
	if err := os.WriteFile(plain, content, 0o600); err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "access.log.1.gz")
	if err := os.WriteFile(gz, zipped.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, gz} {
		for _, off := range []int64{0, 11, int64(len(content))} {
			var read int64
			rc, err := OpenAt(path, nil, &read, off)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, content[off:]) {
				t.Errorf("%s from %d: %q, %v; want %q", filepath.Base(path), off, got, err, content[off:])
			}
		}
	}
}
