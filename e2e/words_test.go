package e2e

import (
	"strconv"
	"strings"
	"sync"
)

// Command lines for the gateway's shell, quoted word by word so that any
// byte reaches the command as typed, and the checks the isolation tests
// make on the answers.

// quoteWord quotes one word for the gateway's command line (POSIX single
// quotes, which internal/cli understands), so that any byte but NUL
// reaches the command as typed.
func quoteWord(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteLine joins words into one quoted command line.
func quoteLine(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}

// runWords runs one command line as user, every word quoted.
func (g *gw) runWords(user, key, stdin string, words ...string) result {
	g.t.Helper()
	return g.sshKey(user, key, stdin, quoteLine(words...))
}

// oneLine reports whether s is exactly one non-empty line.
func oneLine(s string) bool {
	s = strings.TrimSuffix(s, "\n")
	return s != "" && !strings.Contains(s, "\n")
}

// normaliseName replaces the name a command was given (raw, and as %q
// writes it) by NAME, so that answers for two names can be compared.
func normaliseName(s, name string) string {
	if name == "" {
		return s
	}
	s = strings.ReplaceAll(s, strconv.Quote(name), `"NAME"`)
	s = strings.ReplaceAll(s, strconv.QuoteToASCII(name), `"NAME"`)
	return strings.ReplaceAll(s, name, "NAME")
}

// parallel runs f(i) for i in [0, n) with at most limit at once.
func parallel(n, limit int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}(i)
	}
	wg.Wait()
}
