// Package atomicfile writes files all at once or not at all.
package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes path through a temporary file in the same directory, synced
// and renamed into place with mode: readers see all of the new file or the
// old one, and a failed write leaves nothing behind. Its errors name path,
// never the temporary file, which the user did not ask for and which is gone
// by the time they read the error.
func Write(path string, mode os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return named(path, "create", "", err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing left to remove
	err = write(tmp)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return named(path, "write", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return named(path, "write", tmp.Name(), err)
	}
	return nil
}

// named returns err about path when it is about the temporary file tmp (or,
// with tmp "", about creating it): an *fs.PathError or *os.LinkError becomes
// an *fs.PathError for path with op and the same cause, so errors.Is still
// finds it. Any other error, such as the writer's own, is returned as is.
func named(path, op, tmp string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && (tmp == "" || pe.Path == tmp) {
		return &fs.PathError{Op: op, Path: path, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) && le.Old == tmp {
		return &fs.PathError{Op: op, Path: path, Err: le.Err}
	}
	return err
}
