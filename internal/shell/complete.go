package shell

import "strings"

// complete extends the command name being typed: to the whole name when one
// matches, else to the longest common prefix of those that do.
func (s *Session) complete(line string) (string, bool) {
	var cands []string
	head, word := "", line
	if i := strings.LastIndexAny(line, " \t"); i >= 0 {
		// An argument: ask the command for candidates.
		head, word = line[:i+1], line[i+1:]
		fields := strings.Fields(line)
		cmd := s.lookup(fields[0])
		if cmd == nil || cmd.Complete == nil || !s.allowed(cmd) || strings.HasPrefix(word, "-") {
			return "", false
		}
		cands = cmd.Complete(&Ctx{ctx: s.ctx, s: s, User: s.user})
	} else {
		for _, c := range s.visible() {
			cands = append(cands, c.Name)
			cands = append(cands, c.Aliases...)
		}
	}
	var match []string
	for _, n := range cands {
		if strings.HasPrefix(n, word) {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 0:
		return "", false
	case 1:
		return head + match[0] + " ", true
	}
	p := match[0]
	for _, m := range match[1:] {
		for !strings.HasPrefix(m, p) {
			p = p[:len(p)-1]
		}
	}
	if len(p) > len(word) {
		return head + p, true
	}
	return "", false
}

// closest returns the visible command nearest to name, or "" when none is
// near enough to be a typo.
func (s *Session) closest(name string) string {
	best, bestD := "", 3
	for _, c := range s.visible() {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			d := distance(name, n)
			if strings.HasPrefix(n, name) && len(name) >= 2 {
				d = 1
			}
			if d < bestD {
				best, bestD = c.Name, d
			}
		}
	}
	return best
}

// distance is the Levenshtein edit distance, with transpositions counted as
// one edit (so "lsit" is one away from "list").
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
