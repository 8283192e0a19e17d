package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite_AllOrNothing: a write that succeeds replaces the file with the
// mode asked; one that fails leaves the old file as it was and no temporary
// file behind.
func TestWrite_AllOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.csv")
	if err := Write(path, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "old\n"); return err }); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("disk full")
	err := Write(path, 0o644, func(w io.Writer) error {
		_, _ = io.WriteString(w, "half of the new")
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Write returned %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("after a failed write the file holds %q, want the old content", got)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only the file: a temporary file was left behind", len(entries))
	}
}

// TestWrite_ErrorsNameThePath: when the system refuses the write, the error
// names the file asked for, never the temporary file, and keeps its cause.
func TestWrite_ErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	content := func(w io.Writer) error { _, err := io.WriteString(w, "rows\n"); return err }

	// The rename fails: a directory is in the way.
	inTheWay := filepath.Join(dir, "report.csv")
	if err := os.Mkdir(inTheWay, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Write(inTheWay, 0o644, content)
	if want := "write " + inTheWay + ": file exists"; err == nil || err.Error() != want {
		t.Errorf("rename onto a directory: %v, want %q", err, want)
	}

	// The temporary file cannot be made: the directory is missing.
	missing := filepath.Join(dir, "no-such-dir", "report.csv")
	err = Write(missing, 0o644, content)
	if want := "create " + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing directory: %v, want %q", err, want)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v does not keep its cause", err)
	}

	// The writer's own write fails at the file: it was closed under it.
	closed := filepath.Join(dir, "closed.csv")
	err = Write(closed, 0o644, func(w io.Writer) error {
		w.(*os.File).Close()
		_, err := io.WriteString(w, "rows\n")
		return err
	})
	if want := "write " + closed + ": file already closed"; err == nil || err.Error() != want {
		t.Errorf("write to a closed file: %v, want %q", err, want)
	}
}
