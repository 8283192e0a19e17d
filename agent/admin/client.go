package admin

import (
	"crypto/tls"
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
	// User and Password, when User is set, are sent with basic
	// authentication: an agent serves /backup and /snapshot to clients not
	// on loopback only with the credentials of one of its users.
	User, Password string
	// TLS, when set, makes the client speak HTTPS with it.
	TLS *tls.Config
}

// ReadSnapshot reads the days from ≤ d < to of the database at path: from
// the file when no agent holds it, else from the agent through c.
func ReadSnapshot(path string, c Client, from, to time.Time, parts store.Parts) (store.Snapshot, error) {
	db, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err == nil {
		defer db.Close()
		return db.Snapshot(from, to, parts)
	}
	if !errors.Is(err, store.ErrLocked) {
		return store.Snapshot{}, err
	}
	return c.Snapshot(path, from, to, parts)
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
// streamed by the agent through c. It refuses, with a *RefusedError and
// before anything is written, an out that is the database itself or a file
// a headcount process holds open.
func CopyDatabase(path string, c Client, out string) error {
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
	return c.Backup(path, out)
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
	resp, err := c.get(30*time.Second, "/snapshot?"+q.Encode())
	if err != nil {
		return store.Snapshot{}, c.unreachable(path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.Snapshot{}, c.refused("/snapshot", resp)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("reading the agent's answer: %w", err)
	}
	var answer SnapshotResponse
	if err := json.Unmarshal(body, &answer); err != nil {
		return store.Snapshot{}, fmt.Errorf("the agent at %s sent an unreadable answer: %w", c.Addr, err)
	}
	if answer.DB != id {
		return store.Snapshot{}, c.foreign(path)
	}
	if answer.Schema < 2 {
		// An agent built before schema 2 classified nothing: its days and windows have no bots
		// and no classes, and are unclassified, as the file itself reads.
		for i := range answer.Snapshot.Days {
			d := &answer.Snapshot.Days[i]
			d.Bots, d.Unclassified = 0, d.Sessions
		}
		for i := range answer.Snapshot.Windows {
			w := &answer.Snapshot.Windows[i]
			w.Bots, w.Unclassified = 0, w.Sessions
		}
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
	resp, err := c.get(10*time.Minute, "/backup")
	if err != nil {
		return c.unreachable(path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.refused("/backup", resp)
	}
	if resp.Header.Get(BackupDBHeader) != id {
		return c.foreign(path)
	}
	return atomicfile.Write(out, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}

// get asks the agent for route (path and query), with c's credentials and
// TLS, within timeout.
func (c Client) get(timeout time.Duration, route string) (*http.Response, error) {
	scheme := "http://"
	if c.TLS != nil {
		scheme = "https://"
	}
	req, err := http.NewRequest(http.MethodGet, scheme+c.Addr+route, nil)
	if err != nil {
		return nil, err
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, TLSClientConfig: c.TLS}}
	return client.Do(req)
}

// refused says why the agent did not serve route, and what to do.
func (c Client) refused(route string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.User == "":
		return fmt.Errorf("the agent at %s serves %s to this host only with credentials: give --admin-user and the password (--admin-password-file or HEADCOUNT_ADMIN_PASSWORD)", c.Addr, route)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("the agent at %s refused the password of --admin-user %s for %s: check both against its --web-config-file", c.Addr, c.User, route)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("the agent at %s serves %s to its own host only (it has no basic_auth_users in a --web-config-file): run this on the agent's host, or give the agent users", c.Addr, route)
	case resp.StatusCode == http.StatusBadRequest && c.TLS == nil && strings.Contains(answer, "HTTPS"):
		return fmt.Errorf("the agent at %s serves HTTPS: give --admin-ca FILE (or --admin-tls)", c.Addr)
	}
	return fmt.Errorf("the agent at %s answered %s: %s", c.Addr, resp.Status, answer)
}

func (c Client) unreachable(path string, err error) error {
	return fmt.Errorf("%s is held by a running agent, and its admin endpoint %s did not answer (set --admin-addr to the agent's): %w", path, c.Addr, err)
}

func (c Client) foreign(path string) error {
	return fmt.Errorf("the agent at %s serves another database than %s: set --admin-addr to the agent that holds it", c.Addr, path)
}
