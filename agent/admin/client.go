package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"headcount/internal/atomicfile"
	"headcount/store"
)

// Client reads a database through the admin endpoint of the agent that
// holds it. Every answer is checked to come from the agent of that very
// file, so a wrong --admin-addr is an error, never another site's numbers.
type Client struct {
	// Addr is the agent's admin endpoint, host:port.
	Addr string
}

// ReadSnapshot reads the days from ≤ d < to of the database at path: from
// the file when no agent holds it, else from the agent at adminAddr.
func ReadSnapshot(path, adminAddr string, from, to time.Time, parts store.Parts) (store.Snapshot, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		defer db.Close()
		return db.Snapshot(from, to, parts)
	}
	if !errors.Is(err, store.ErrLocked) {
		return store.Snapshot{}, err
	}
	return Client{Addr: adminAddr}.Snapshot(path, from, to, parts)
}

// RefusedError is a backup destination that must not be replaced: the
// database itself (by any path, symlink or hard link), or a database that a
// headcount process holds open. Replacing either would leave that process
// writing to a deleted file. Nothing was written.
type RefusedError struct {
	Out    string // the destination as given
	Reason string
}

func (e *RefusedError) Error() string {
	return "backup " + e.Out + ": " + e.Reason + "; write the copy to another file"
}

// CopyDatabase writes a consistent copy of the database at path to out
// (mode 0600, atomically): from the file when no agent holds it, else
// streamed by the agent at adminAddr. It refuses, with a *RefusedError and
// before anything is written, an out that is the database itself or a file
// a headcount process holds open.
func CopyDatabase(path, adminAddr, out string) error {
	if err := checkDestination(path, out); err != nil {
		return err
	}
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		defer db.Close()
		return atomicfile.Write(out, 0o600, func(w io.Writer) error {
			_, err := db.Backup(w)
			return err
		})
	}
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	return Client{Addr: adminAddr}.Backup(path, out)
}

// checkDestination refuses an out that names the database at path (the same
// file: same device and inode) or a file whose lock a process holds.
func checkDestination(path, out string) error {
	dest, err := os.Stat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if src, err := os.Stat(path); err == nil && os.SameFile(src, dest) {
		return &RefusedError{Out: out, Reason: "that is the database " + path + " itself"}
	}
	held, err := store.Held(out)
	if err != nil {
		return err
	}
	if held {
		return &RefusedError{Out: out, Reason: "that file is a database in use by a running headcount process"}
	}
	return nil
}

// Snapshot asks the agent for the snapshot of the database at path.
func (c Client) Snapshot(path string, from, to time.Time, parts store.Parts) (store.Snapshot, error) {
	id, err := store.FileID(path)
	if err != nil {
		return store.Snapshot{}, err
	}
	q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
	if parts.Hours {
		q.Set("hours", "1")
	}
	if parts.Windows {
		q.Set("windows", "1")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + c.Addr + "/snapshot?" + q.Encode())
	if err != nil {
		return store.Snapshot{}, c.unreachable(path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return store.Snapshot{}, fmt.Errorf("the agent at %s answered %s: %s", c.Addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var answer SnapshotResponse
	if err := json.Unmarshal(body, &answer); err != nil {
		return store.Snapshot{}, fmt.Errorf("the agent at %s sent an unreadable answer: %w", c.Addr, err)
	}
	if answer.DB != id {
		return store.Snapshot{}, c.foreign(path)
	}
	return answer.Snapshot, nil
}

// Backup streams a consistent copy of the database at path from the agent
// into out (mode 0600, atomically).
func (c Client) Backup(path, out string) error {
	id, err := store.FileID(path)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + c.Addr + "/backup")
	if err != nil {
		return c.unreachable(path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the agent at %s answered %s", c.Addr, resp.Status)
	}
	if resp.Header.Get(BackupDBHeader) != id {
		return c.foreign(path)
	}
	return atomicfile.Write(out, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}

func (c Client) unreachable(path string, err error) error {
	return fmt.Errorf("%s is held by a running agent, and its admin endpoint %s did not answer (set --admin-addr to the agent's): %w", path, c.Addr, err)
}

func (c Client) foreign(path string) error {
	return fmt.Errorf("the agent at %s serves another database than %s: set --admin-addr to the agent that holds it", c.Addr, path)
}
