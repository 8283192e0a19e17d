package report

import (
	"bytes"
	"testing"
	"time"
)

// TestWriteAccounts_OtherFormat: a form that accounts reports do not have
// is refused with what to give instead, and nothing is written.
func TestWriteAccounts_OtherFormat(t *testing.T) {
	var b bytes.Buffer
	err := WriteAccounts(&b, AccountsReport{}, Format(99))
	if want := "an accounts report is printed as csv, pretty, json or html: give one of them to --format"; err == nil || err.Error() != want || b.Len() != 0 {
		t.Errorf("error %v, %d bytes written; want %q and nothing", err, b.Len(), want)
	}
}

// TestBuildAccounts_UnknownAccount: a report cannot start at an account
// that is not in the tree.
func TestBuildAccounts_UnknownAccount(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := BuildAccounts(AccountsInput{From: day, To: day.AddDate(0, 1, 0), Accounts: []AccountInput{{ID: "a", Grouping: true}}, Account: "b"})
	if err == nil || err.Error() != `no account "b"` {
		t.Errorf("error %v, want no account \"b\"", err)
	}
}
