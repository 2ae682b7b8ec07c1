package audit

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest pre-authentication user name that is looked up
// or recorded as given. Real names are far shorter (users.ValidName: 32).
const MaxNameLen = 64

// safePrefix is how much of an implausible name its safe form shows.
const safePrefix = 32

// PlausibleName reports whether a name sent before authentication could be
// a user name at all: at most MaxNameLen bytes of valid UTF-8, printable
// throughout (no control, format or bidi characters). Anything else is
// refused without a store lookup.
func PlausibleName(name string) bool {
	if len(name) > MaxNameLen || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// SafeName is the form in which a name sent before authentication may be
// logged, audited or used as a throttle key: a plausible name unchanged,
// anything else quoted with ASCII escapes and cut to its first 32 bytes plus
// its length, so that a 20 kB or binary name costs a few dozen bytes.
func SafeName(name string) string {
	if PlausibleName(name) {
		return name
	}
	if len(name) <= safePrefix {
		return strconv.QuoteToASCII(name)
	}
	return strconv.QuoteToASCII(name[:safePrefix]) + "…(" + strconv.Itoa(len(name)) + " bytes)"
}

// clamp bounds a free-text field of a record; callers pass bounded values,
// this only keeps a mistake from writing megabytes.
func clamp(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strconv.QuoteToASCII(s[:n]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
