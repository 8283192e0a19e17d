package accounts

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any input is either refused with an ErrInvalid naming the
// file, or parsed into a tree that holds what Parse promises: ids valid and
// unique, every parent an account, no cycle, no database twice.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/accounts/accounts.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("accounts:\n  - id: a\n  - id: b\n    parent: a\n    db: [x.db, {path: y.db, admin-addr: 127.0.0.1:1}]\n"))
	f.Add([]byte("accounts:\n  - id: a\n    parent: b\n  - id: b\n    parent: a\n"))
	f.Add([]byte("accounts: [{id: a, db: a.db}, {id: b, db: ./a.db}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("/etc/headcount/accounts.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		ids := map[string]string{}
		for _, a := range file.Accounts {
			if a.ID == "" || !validID(a.ID) || a.Name == "" {
				t.Fatalf("account %+v", a)
			}
			if _, dup := ids[a.ID]; dup {
				t.Fatalf("id %q twice", a.ID)
			}
			ids[a.ID] = a.Parent
		}
		paths := map[string]bool{}
		for _, a := range file.Accounts {
			if _, ok := ids[a.Parent]; a.Parent != "" && !ok {
				t.Fatalf("unknown parent %q", a.Parent)
			}
			steps := 0
			for p := a.Parent; p != ""; p = ids[p] {
				if steps++; steps > len(ids) {
					t.Fatalf("cycle through %q", a.ID)
				}
			}
			for _, d := range a.DBs {
				if !filepath.IsAbs(d.Path) || paths[filepath.Clean(d.Path)] {
					t.Fatalf("database %q", d.Path)
				}
				paths[filepath.Clean(d.Path)] = true
			}
		}
	})
}
