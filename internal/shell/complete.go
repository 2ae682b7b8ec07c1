package shell

import "strings"

// complete extends the word being typed: a command name, a flag name, a
// flag's value where the flag lists them, or a positional argument (the
// command's Complete: container names, sub-commands). It extends to the
// whole word when one candidate matches, else to the longest common
// prefix of those that do.
func (s *Session) complete(line string) (string, bool) {
	head, word := "", line
	var cands []string
	if i := strings.LastIndexAny(line, " \t"); i >= 0 {
		head, word = line[:i+1], line[i+1:]
		cands = s.argCandidates(strings.Fields(head), word)
	} else {
		for _, c := range s.visible() {
			cands = append(cands, c.Name)
			cands = append(cands, c.Aliases...)
		}
	}
	return extend(head, word, cands)
}

// argCandidates lists what may follow words (the command and what was
// typed after it) when the next word starts with prefix.
func (s *Session) argCandidates(words []string, prefix string) []string {
	cmd := s.lookup(words[0])
	if cmd == nil || !s.allowed(cmd) {
		return nil
	}
	admin := s.user.IsAdmin()
	if strings.HasPrefix(prefix, "-") {
		var out []string
		for _, f := range cmd.flags(admin) {
			out = append(out, "--"+f.Name)
		}
		return out
	}
	var pos []string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			pos = append(pos, words[i+1:]...)
			break
		}
		name, _, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
		f, isFlag := cmd.flag(name)
		switch {
		case !strings.HasPrefix(w, "-") || w == "-":
			pos = append(pos, w)
		case isFlag && f.TakesValue() && !inline && i == len(words)-1:
			return f.Values // the flag's value is being typed
		case isFlag && f.TakesValue() && !inline:
			i++ // skip its value
		}
	}
	if cmd.AdminArgs && !admin {
		return nil
	}
	return cmd.completeVerb(&Ctx{ctx: s.ctx, s: s, sh: s.sh, User: s.user}, pos)
}

// extend completes word from cands.
func extend(head, word string, cands []string) (string, bool) {
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
