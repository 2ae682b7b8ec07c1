package audit

import (
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/lxcgate/lxcgate/internal/store"
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

// clamp bounds a free-text field of a record and escapes it (Escape);
// callers pass bounded values, the bound only keeps a mistake from writing
// megabytes. The input is cut before it is escaped, so that the work is
// bounded too, and the escaped form is cut again to n.
func clamp(s string, n int) string {
	orig := len(s)
	if orig > n {
		s = s[:n] // a rune split here shows as \xHH
	}
	s = Escape(s)
	if len(s) <= n && orig <= n {
		return s
	}
	cut := min(n, len(s))
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(orig) + " bytes)"
}

// Escape makes s safe to print on a terminal: every character that moves
// the cursor, changes colours, ends a line or reorders text is written as
// a Go-style escape (see store.EscapeText, which every audit row's fields
// pass through on their way into the table, whoever writes them). Escaping
// twice changes nothing: the viewer escapes again what the writer stored.
func Escape(s string) string { return store.EscapeText(s) }
