package plural

import "testing"

func TestCount(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{Count(0, "day"), "0 days"},
		{Count(1, "day"), "1 day"},
		{Count(2, "day"), "2 days"},
		{Count(-1, "day"), "-1 day"},
		{Count(uint64(1), "session"), "1 session"},
		{Count(uint64(2461125), "session"), "2461125 sessions"},
		{Count(1, "coverage interval"), "1 coverage interval"},
		{Count(3, "coverage interval"), "3 coverage intervals"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
