// Package accounts reads an accounts file: the accounts of a customer, each
// with its parent and the headcount databases that meter it, so that one
// report can give each account's own sessions and those of its subtree.
//
// The file is YAML:
//
//	accounts:
//	  - id: acme              # unique, [A-Za-z0-9._-]
//	    name: ACME Group      # free text, optional (default: the id)
//	  - id: acme-prod
//	    parent: acme
//	    db: [prod-a.db, prod-b.db]   # several databases: one account (an HA pair)
//	  - id: acme-uat
//	    parent: acme
//	    db: {path: uat.db, admin-addr: 127.0.0.1:9346}
//
// An account without db is a grouping node. A relative database path is
// taken from the accounts file's directory. A database entry is a path, or a
// mapping with path and the admin-addr of the agent that holds the file
// while it runs (default: export's --admin-addr).
//
// Parse checks the file's shape and its tree: every error names the file
// and line. Whether each database exists and is headcount's is known when it
// is read; the caller reports that with the DB's line (DB.Errorf).
package accounts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a parsed, valid accounts file.
type File struct {
	Path     string
	Accounts []Account // in the file's order
}

// Account is one account of the file.
type Account struct {
	ID     string
	Name   string // the id when the file gives none
	Parent string // empty: a root
	DBs    []DB   // empty: a grouping node, metered only through its descendants
	Line   int
}

// DB is one database of an account.
type DB struct {
	Path      string // as resolved: a relative path is joined to the file's directory
	AdminAddr string // the admin endpoint of the agent that holds it; empty: the caller's default
	File      string // the accounts file
	Line      int
}

// Errorf returns an error naming the accounts file and the line of d, for
// a problem found when d is read; %w in format wraps as fmt.Errorf does.
func (d DB) Errorf(format string, a ...any) error {
	return fmt.Errorf("%s:%d: "+format, append([]any{d.File, d.Line}, a...)...)
}

// ErrInvalid marks every error of a file that cannot be used: a missing or
// unreadable file, bad YAML, or a bad account.
var ErrInvalid = errors.New("invalid accounts file")

// invalid is an error of the file, at a line (0: the whole file).
type invalid struct {
	file string
	line int
	msg  string
}

func (e *invalid) Error() string {
	if e.line == 0 {
		return e.file + ": " + e.msg
	}
	return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
}

func (e *invalid) Is(target error) bool { return target == ErrInvalid }

// Load reads and parses the accounts file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &invalid{file: path, msg: "no such accounts file; check the path"}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &invalid{file: path, msg: fmt.Sprintf("cannot read the accounts file: %v", err)}
	}
	return Parse(path, data)
}

// Parse parses data, the accounts file at path (used for messages and to
// resolve relative database paths), and checks it: known keys, ids unique
// and made of A-Z a-z 0-9 . _ -, every parent an account of the file, no
// cycle, no database listed twice.
func Parse(path string, data []byte) (*File, error) {
	fail := func(line int, format string, a ...any) error {
		return &invalid{file: path, line: line, msg: fmt.Sprintf(format, a...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fail(yamlLine(err), "not YAML: %s", yamlMessage(err))
	}
	if len(doc.Content) == 0 {
		return nil, fail(0, `no accounts: the file needs a list "accounts:" with at least one account`)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, `the file must be a mapping with the key "accounts"`)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "accounts" {
			return nil, fail(k.Line, `unknown key %q; the file has one key, "accounts"`, k.Value)
		}
		if list != nil {
			// A second list would silently replace the first one's accounts.
			return nil, fail(k.Line, `key "accounts" given twice; put every account in one list`)
		}
		list = v
	}
	if list == nil || list.Kind == yaml.ScalarNode && list.Tag == "!!null" || list.Kind == yaml.SequenceNode && len(list.Content) == 0 {
		return nil, fail(0, `no accounts: the file needs a list "accounts:" with at least one account`)
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fail(list.Line, `"accounts" must be a list of accounts, each starting with "- id: ..."`)
	}

	dir := filepath.Dir(path)
	f := &File{Path: path}
	lines := map[string]int{}      // id → its line
	owners := map[string]Account{} // cleaned database path → its account
	dbLines := map[string]int{}    // cleaned database path → its line
	for _, n := range list.Content {
		if n.Kind != yaml.MappingNode {
			return nil, fail(n.Line, `an account must be a mapping with the keys id, name, parent, db`)
		}
		a := Account{Line: n.Line}
		var dbNode *yaml.Node
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				return nil, fail(k.Line, "key %q given twice in one account", k.Value)
			}
			seen[k.Value] = true
			switch k.Value {
			case "id", "name", "parent":
				if v.Kind != yaml.ScalarNode {
					return nil, fail(v.Line, "%s must be a single value", k.Value)
				}
				value := v.Value
				if v.Tag == "!!null" {
					value = "" // "id:" or "parent: null" gives none
				}
				switch k.Value {
				case "id":
					a.ID = value
				case "name":
					a.Name = value
				case "parent":
					a.Parent = value
				}
			case "db":
				dbNode = v
			default:
				return nil, fail(k.Line, "unknown key %q in an account; its keys are id, name, parent, db", k.Value)
			}
		}
		switch {
		case a.ID == "":
			return nil, fail(n.Line, "an account has no id: give each account an id of A-Z a-z 0-9 . _ -")
		case !validID(a.ID):
			return nil, fail(n.Line, "account id %q has characters other than A-Z a-z 0-9 . _ -", a.ID)
		}
		if first, ok := lines[a.ID]; ok {
			return nil, fail(n.Line, "account id %q is already used at line %d; ids must be unique", a.ID, first)
		}
		lines[a.ID] = n.Line
		if a.Name == "" {
			a.Name = a.ID
		}
		dbs, err := parseDBs(path, dir, a.ID, dbNode, fail)
		if err != nil {
			return nil, err
		}
		for _, d := range dbs {
			key := filepath.Clean(d.Path)
			if owner, ok := owners[key]; ok {
				if owner.ID == a.ID {
					return nil, fail(d.Line, "database %s is listed twice in account %q (line %d)", d.Path, a.ID, dbLines[key])
				}
				return nil, fail(d.Line, "database %s of account %q is already listed under account %q (line %d); a database belongs to one account", d.Path, a.ID, owner.ID, dbLines[key])
			}
			owners[key], dbLines[key] = a, d.Line
		}
		a.DBs = dbs
		f.Accounts = append(f.Accounts, a)
	}
	for _, a := range f.Accounts {
		if a.Parent != "" {
			if _, ok := lines[a.Parent]; !ok {
				return nil, fail(a.Line, "account %q: parent %q is not an account of this file", a.ID, a.Parent)
			}
		}
	}
	if err := checkCycles(f, fail); err != nil {
		return nil, err
	}
	if err := checkSameFiles(f, fail); err != nil {
		return nil, err
	}
	return f, nil
}

// parseDBs reads an account's db value: a path, a mapping {path,
// admin-addr}, or a list of either.
func parseDBs(path, dir, id string, n *yaml.Node, fail func(int, string, ...any) error) ([]DB, error) {
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var dbs []DB
	for _, it := range items {
		d := DB{File: path, Line: it.Line}
		switch it.Kind {
		case yaml.ScalarNode:
			d.Path = it.Value
		case yaml.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(it.Content); i += 2 {
				k, v := it.Content[i], it.Content[i+1]
				if k.Value != "path" && k.Value != "admin-addr" {
					return nil, fail(k.Line, "unknown key %q in a database of account %q; its keys are path and admin-addr", k.Value, id)
				}
				if seen[k.Value] {
					return nil, fail(k.Line, "key %q given twice in a database of account %q", k.Value, id)
				}
				seen[k.Value] = true
				if v.Kind != yaml.ScalarNode {
					return nil, fail(v.Line, "account %q: %s must be a single value", id, k.Value)
				}
				if k.Value == "path" {
					d.Path = v.Value
				} else {
					d.AdminAddr = v.Value
				}
			}
		default:
			return nil, fail(it.Line, "account %q: a database is a path, or a mapping with path and admin-addr", id)
		}
		if d.Path == "" {
			return nil, fail(it.Line, "account %q: a database with no path", id)
		}
		if !filepath.IsAbs(d.Path) {
			d.Path = filepath.Join(dir, d.Path)
		}
		dbs = append(dbs, d)
	}
	return dbs, nil
}

// checkCycles refuses an account that is its own ancestor, naming the first
// such account in the file and the cycle.
func checkCycles(f *File, fail func(int, string, ...any) error) error {
	parent := map[string]string{}
	for _, a := range f.Accounts {
		parent[a.ID] = a.Parent
	}
	for _, a := range f.Accounts {
		path := []string{a.ID}
		for p := parent[a.ID]; p != ""; p = parent[p] {
			path = append(path, p)
			if p == a.ID {
				return fail(a.Line, "account %q is its own ancestor: %s; give one of them another parent, or none", a.ID, strings.Join(path, " → "))
			}
			if len(path) > len(f.Accounts) {
				break // a cycle above a, reported at its own first account
			}
		}
	}
	return nil
}

// checkSameFiles refuses two database entries that are the same file under
// two names (a symbolic or hard link, a path through another directory):
// counted twice, its sessions would be reported twice.
func checkSameFiles(f *File, fail func(int, string, ...any) error) error {
	type seen struct {
		info    fs.FileInfo
		db      DB
		account string
	}
	var all []seen
	for _, a := range f.Accounts {
		for _, d := range a.DBs {
			info, err := os.Stat(d.Path)
			if err != nil {
				continue // reported when the database is read
			}
			for _, s := range all {
				if os.SameFile(s.info, info) {
					return fail(d.Line, "database %s of account %q is the same file as %s (account %q, line %d); a database belongs to one account", d.Path, a.ID, s.db.Path, s.account, s.db.Line)
				}
			}
			all = append(all, seen{info, d, a.ID})
		}
	}
	return nil
}

func validID(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// yamlLine returns the line a yaml.v3 error names, 0 when none.
func yamlLine(err error) int {
	var line int
	if _, e := fmt.Sscanf(yamlMessageRaw(err), "line %d:", &line); e == nil {
		return line
	}
	return 0
}

func yamlMessageRaw(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	return msg
}

// yamlMessage is a yaml.v3 error without its "yaml: line N:" prefix (the
// line is in ours).
func yamlMessage(err error) string {
	msg := yamlMessageRaw(err)
	if i := strings.Index(msg, ": "); strings.HasPrefix(msg, "line ") && i > 0 {
		msg = msg[i+2:]
	}
	return msg
}

// Children returns the ids of the accounts whose parent is id ("" for the
// roots), sorted.
func (f *File) Children(id string) []string {
	var ids []string
	for _, a := range f.Accounts {
		if a.Parent == id {
			ids = append(ids, a.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Account returns the account with id.
func (f *File) Account(id string) (Account, bool) {
	for _, a := range f.Accounts {
		if a.ID == id {
			return a, true
		}
	}
	return Account{}, false
}

// IDs returns every account id, sorted.
func (f *File) IDs() []string {
	ids := make([]string, 0, len(f.Accounts))
	for _, a := range f.Accounts {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}
