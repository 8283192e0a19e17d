package accounts

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestParse_Errors: every bad accounts file is refused with one message
// naming the file and, where there is one, the line.
func TestParse_Errors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.db"), filepath.Join(dir, "link.db")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "accounts.yaml")
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", file + `: no accounts: the file needs a list "accounts:" with at least one account`},
		{"empty list", "accounts: []\n", file + `: no accounts: the file needs a list "accounts:" with at least one account`},
		{"no list", "accounts:\n", file + `: no accounts: the file needs a list "accounts:" with at least one account`},
		{"not yaml", "accounts:\n  - id: a\n    name: b: c\n", file + `:3: not YAML: mapping values are not allowed in this context`},
		{"not yaml, no line", "\taccounts: []\n", file + `: not YAML: found character that cannot start any token`},
		{"not a mapping", "- a\n", file + `:1: the file must be a mapping with the key "accounts"`},
		{"unknown top key", "acounts: []\n", file + `:1: unknown key "acounts"; the file has one key, "accounts"`},
		{"accounts not a list", "accounts: acme\n", file + `:1: "accounts" must be a list of accounts, each starting with "- id: ..."`},
		{"account not a mapping", "accounts:\n  - acme\n", file + `:2: an account must be a mapping with the keys id, name, parent, db`},
		{"unknown key", "accounts:\n  - id: a\n    dbs: x.db\n", file + `:3: unknown key "dbs" in an account; its keys are id, name, parent, db`},
		{"key twice", "accounts:\n  - id: a\n    id: b\n", file + `:3: key "id" given twice in one account`},
		{"id not scalar", "accounts:\n  - id: [a]\n", file + `:2: id must be a single value`},
		{"no id", "accounts:\n  - name: A\n", file + `:2: an account has no id: give each account an id of A-Z a-z 0-9 . _ -`},
		{"null id", "accounts:\n  - id: null\n    name: A\n", file + `:2: an account has no id: give each account an id of A-Z a-z 0-9 . _ -`},
		{"bad id", "accounts:\n  - id: acme prod\n", file + `:2: account id "acme prod" has characters other than A-Z a-z 0-9 . _ -`},
		{"bad id slash", "accounts:\n  - id: acme/prod\n", file + `:2: account id "acme/prod" has characters other than A-Z a-z 0-9 . _ -`},
		{"duplicate id", "accounts:\n  - id: a\n  - id: b\n  - id: a\n", file + `:4: account id "a" is already used at line 2; ids must be unique`},
		{"unknown parent", "accounts:\n  - id: a\n  - id: b\n    parent: c\n", file + `:3: account "b": parent "c" is not an account of this file`},
		{"self parent", "accounts:\n  - id: a\n    parent: a\n", file + `:2: account "a" is its own ancestor: a → a; give one of them another parent, or none`},
		{"cycle", "accounts:\n  - id: r\n  - id: a\n    parent: c\n  - id: b\n    parent: a\n  - id: c\n    parent: b\n",
			file + `:3: account "a" is its own ancestor: a → c → b → a; give one of them another parent, or none`},
		{"db under two accounts", "accounts:\n  - id: a\n    db: a.db\n  - id: b\n    db: [x.db, " + filepath.Join(dir, "a.db") + "]\n",
			file + `:5: database ` + filepath.Join(dir, "a.db") + ` of account "b" is already listed under account "a" (line 3); a database belongs to one account`},
		{"db twice in one account", "accounts:\n  - id: a\n    db:\n      - x.db\n      - ./x.db\n",
			file + `:5: database ` + filepath.Join(dir, "x.db") + ` is listed twice in account "a" (line 4)`},
		{"same file by a link", "accounts:\n  - id: a\n    db: a.db\n  - id: b\n    db: link.db\n",
			file + `:5: database ` + filepath.Join(dir, "link.db") + ` of account "b" is the same file as ` + filepath.Join(dir, "a.db") + ` (account "a", line 3); a database belongs to one account`},
		{"db empty", "accounts:\n  - id: a\n    db: ['']\n", file + `:3: account "a": a database with no path`},
		{"db bad shape", "accounts:\n  - id: a\n    db: [[x.db]]\n", file + `:3: account "a": a database is a path, or a mapping with path and admin-addr`},
		{"db unknown key", "accounts:\n  - id: a\n    db:\n      - file: x.db\n", file + `:4: unknown key "file" in a database of account "a"; its keys are path and admin-addr`},
		{"accounts twice", "accounts:\n  - id: a\n    db: x.db\naccounts:\n  - id: b\n", file + `:4: key "accounts" given twice; put every account in one list`},
		{"db key twice", "accounts:\n  - id: a\n    db: {path: x.db, path: y.db}\n", file + `:3: key "path" given twice in a database of account "a"`},
		{"db path not scalar", "accounts:\n  - id: a\n    db:\n      - path: [x.db]\n", file + `:4: account "a": path must be a single value`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(file, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed %+v; want the error %q", f, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
		})
	}
}

// TestLoad_MissingFile: a path with no file, or one that cannot be read,
// says so with the path.
func TestLoad_MissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	_, err := Load(missing)
	if want := missing + ": no such accounts file; check the path"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	_, err = Load(dir)
	if want := dir + ": cannot read the accounts file: is a directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestLoad_Example: the shipped example parses to the tree it documents,
// relative paths joined to the file's directory, the names defaulted.
func TestLoad_Example(t *testing.T) {
	f, err := Load("../../examples/accounts/accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.IDs(), []string{"acme", "acme-prod", "acme-uat", "globex"}; !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	if got := f.Children(""); !slices.Equal(got, []string{"acme"}) {
		t.Errorf("roots %v, want [acme]", got)
	}
	if got := f.Children("acme"); !slices.Equal(got, []string{"acme-prod", "acme-uat", "globex"}) {
		t.Errorf("children of acme %v", got)
	}
	prod, _ := f.Account("acme-prod")
	if len(prod.DBs) != 2 || prod.DBs[0].Path != "/var/lib/headcount/prod-a.db" || prod.DBs[1].Path != "/var/lib/headcount/prod-b.db" || prod.DBs[1].Line != 12 {
		t.Errorf("acme-prod databases %+v", prod.DBs)
	}
	globex, _ := f.Account("globex")
	if len(globex.DBs) != 1 || globex.DBs[0].AdminAddr != "127.0.0.1:9346" || globex.DBs[0].Line != 21 {
		t.Errorf("globex databases %+v", globex.DBs)
	}
	if acme, _ := f.Account("acme"); acme.Name != "ACME Group" || len(acme.DBs) != 0 {
		t.Errorf("acme %+v", acme)
	}

	rel, err := Parse("/etc/headcount/accounts.yaml", []byte("accounts:\n  - id: a\n    db: sub/a.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := rel.Accounts[0]; a.Name != "a" || a.DBs[0].Path != "/etc/headcount/sub/a.db" {
		t.Errorf("relative path or default name: %+v", a)
	}
	if got := a0(rel).DBs[0].Errorf("x %d", 1).Error(); got != "/etc/headcount/accounts.yaml:3: x 1" {
		t.Errorf("DB.Errorf: %q", got)
	}
}

func a0(f *File) Account { return f.Accounts[0] }
