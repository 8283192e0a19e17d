package replay

// Time stamps are parsed by hand: time.Parse allocates and takes a layout
// string apart on every call.

// monthOf returns the month (1-12) of a three-letter English abbreviation.
func monthOf(b []byte) int {
	if len(b) != 3 {
		return 0
	}
	switch string(b) { // compiled to comparisons, no allocation
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// digits returns the value of b, all decimal digits, and whether it is.
func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

var monthDays = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// civil returns the Unix nanoseconds of a date and time of day in UTC, and
// whether the fields are a real date and time between 1970 and 2261 (Unix
// nanoseconds in an int64 end in 2262).
func civil(y, mo, d, h, mi, s, ns int) (int64, bool) {
	if y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > monthDays[mo] || h > 23 || mi > 59 || s > 60 {
		return 0, false
	}
	if mo == 2 && d == 29 && !(y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
		return 0, false
	}
	if s == 60 { // a leap second counts as the next second's start
		s = 59
		ns = 999_999_999
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s)
	return secs*1e9 + int64(ns), true
}

// parseCLF parses Apache's %t without its brackets, `02/Jan/2006:15:04:05
// -0700`, or HAProxy's accept date `02/Jan/2006:15:04:05.000` (no offset:
// withOffset false; the time is then taken as UTC). It returns Unix
// nanoseconds in UTC.
func parseCLF(b []byte, withOffset bool) (int64, bool) {
	// dd/Mon/yyyy:HH:MM:SS
	if len(b) < 20 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' {
		return 0, false
	}
	d, ok1 := digits(b[0:2])
	mo := monthOf(b[3:6])
	y, ok2 := digits(b[7:11])
	h, ok3 := digits(b[12:14])
	mi, ok4 := digits(b[15:17])
	s, ok5 := digits(b[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || mo == 0 {
		return 0, false
	}
	ns, rest, ok := fraction(b[20:])
	if !ok {
		return 0, false
	}
	var offset int64
	if withOffset {
		// " -0700"
		if len(rest) != 6 || rest[0] != ' ' {
			return 0, false
		}
		var ok bool
		if offset, ok = parseOffset(rest[1:], false); !ok {
			return 0, false
		}
		rest = rest[6:]
	}
	if len(rest) != 0 {
		return 0, false
	}
	t, ok := civil(y, mo, d, h, mi, s, ns)
	return t - offset, ok
}

// parseOffset parses a UTC offset, ±hhmm (or ±hh:mm with colon), into
// nanoseconds.
func parseOffset(b []byte, colon bool) (int64, bool) {
	want := 5
	if colon {
		want = 6
	}
	if len(b) != want || b[0] != '+' && b[0] != '-' {
		return 0, false
	}
	h, ok1 := digits(b[1:3])
	mb := b[3:5]
	if colon {
		if b[3] != ':' {
			return 0, false
		}
		mb = b[4:6]
	}
	m, ok2 := digits(mb)
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	off := int64(h*3600+m*60) * 1e9
	if b[0] == '-' {
		off = -off
	}
	return off, true
}

// parseRFC3339 parses an RFC 5424 syslog timestamp,
// `2006-01-02T15:04:05[.fff]Z` or with an offset `±hh:mm`, into Unix
// nanoseconds in UTC.
func parseRFC3339(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	s, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	ns, rest, ok := fraction(b[19:])
	if !ok {
		return 0, false
	}
	var offset int64
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	default:
		var ok bool
		if offset, ok = parseOffset(rest, true); !ok {
			return 0, false
		}
	}
	t, ok := civil(y, mo, d, h, mi, s, ns)
	return t - offset, ok
}

// fraction reads the fractional seconds ".d" to ".ddddddddd" that may start
// b, and returns them in nanoseconds (0 when b does not start with '.')
// with the rest of b; false for a '.' without digits or with more than nine.
func fraction(b []byte) (ns int, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '.' {
		return 0, b, true
	}
	i := 1
	scale := 100_000_000
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		ns += int(b[i]-'0') * scale
		scale /= 10
		i++
	}
	if i == 1 || i > 10 {
		return 0, b, false
	}
	return ns, b[i:], true
}
