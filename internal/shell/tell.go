package shell

import (
	"fmt"
	"sync"
)

// sessions are the interactive sessions by user, for Tell.
type sessions struct {
	mu sync.Mutex
	by map[string]map[*termConsole]struct{}
}

func (ss *sessions) add(user string, t *termConsole) func() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.by == nil {
		ss.by = map[string]map[*termConsole]struct{}{}
	}
	if ss.by[user] == nil {
		ss.by[user] = map[*termConsole]struct{}{}
	}
	ss.by[user][t] = struct{}{}
	return func() {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		delete(ss.by[user], t)
		if len(ss.by[user]) == 0 {
			delete(ss.by, user)
		}
	}
}

// Tell writes a line on every interactive session of user's (a notice:
// a lease running out, an automatic stop); the terminal keeps what is
// being typed and redraws it below. It returns how many sessions heard it.
func (sh *Shell) Tell(user, text string) int {
	sh.live.mu.Lock()
	list := make([]*termConsole, 0, len(sh.live.by[user]))
	for t := range sh.live.by[user] {
		list = append(list, t)
	}
	sh.live.mu.Unlock()
	for _, t := range list {
		fmt.Fprintln(t, text)
	}
	return len(list)
}
