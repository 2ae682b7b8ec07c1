package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// escaped is e as it is stored: every text field through EscapeText, so
// that no writer (the audit package, or a service inserting its own row)
// can put a terminal escape or a line break into the trail.
func (e AuditEvent) escaped() AuditEvent {
	e.Kind, e.User, e.Remote = EscapeText(e.Kind), EscapeText(e.User), EscapeText(e.Remote)
	e.Method, e.Detail = EscapeText(e.Method), EscapeText(e.Detail)
	return e
}

// EscapeText makes s safe to print on a terminal: every character that moves
// the cursor, changes colours, ends a line or reorders text is written as
// a Go-style escape (C0 controls and DEL as \n, \r, \t or \xHH; C1
// controls, the Unicode line and paragraph separators and the bidi
// controls as \uHHHH; a byte that is not UTF-8 as \xHH). Everything else,
// the backslash included, stays as it is, so escaping twice changes
// nothing: the viewer escapes again what the writer stored.
func EscapeText(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s // the common case: nothing to escape, no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			writeEscape(&b, s[i], r, n)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports whether the rune r, n bytes long, must be escaped.
func unsafeRune(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n == 1: // not UTF-8: a raw 0x9b is CSI to an 8-bit terminal
		return true
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi controls
		return true
	}
	return false
}

func writeEscape(b *strings.Builder, first byte, r rune, n int) {
	const hex = "0123456789abcdef"
	switch {
	case n == 1 && r == '\n':
		b.WriteString(`\n`)
	case n == 1 && r == '\r':
		b.WriteString(`\r`)
	case n == 1 && r == '\t':
		b.WriteString(`\t`)
	case n == 1: // an ASCII control, DEL, or a byte that is not UTF-8
		b.WriteString(`\x`)
		b.WriteByte(hex[first>>4])
		b.WriteByte(hex[first&0xf])
	default:
		fmt.Fprintf(b, `\u%04x`, r)
	}
}
