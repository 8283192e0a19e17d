package keying

import "testing"

func TestParseKeyLine(t *testing.T) {
	tests := []struct {
		line    string
		ok      bool
		ua, xff string
	}{
		{`10.0.0.1 "UA" "XFF"`, true, "UA", "XFF"},
		{`10.0.0.1   "a \\ b"   "-"  `, true, `a \ b`, "-"},
		{`::1 "" ""`, true, "", ""},
		{`10.0.0.1 "UA"`, false, "", ""},
		{`10.0.0.1 UA "XFF"`, false, "", ""},
		{`10.0.0.1 "UA" "XFF" extra`, false, "", ""},
		{`host "UA" "XFF"`, false, "", ""},
		{`10.0.0.1 "unterminated`, false, "", ""},
	}
	for _, tc := range tests {
		k, ok := parseKeyLine(tc.line)
		if ok != tc.ok || ok && (k.ua != tc.ua || k.xff != tc.xff) {
			t.Errorf("parseKeyLine(%q) = %+v, %v; want ua %q xff %q ok %v", tc.line, k, ok, tc.ua, tc.xff, tc.ok)
		}
	}
}
