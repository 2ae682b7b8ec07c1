package containers

import "sync"

// keyed is a set of mutexes by key, created on use and dropped when free.
type keyed struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock waits for key and returns its unlock.
func (k *keyed) lock(key string) func() {
	e := k.ref(key)
	e.mu.Lock()
	return func() { e.mu.Unlock(); k.unref(key, e) }
}

// tryLock is lock that gives up at once when the key is held.
func (k *keyed) tryLock(key string) (func(), bool) {
	e := k.ref(key)
	if !e.mu.TryLock() {
		k.unref(key, e)
		return nil, false
	}
	return func() { e.mu.Unlock(); k.unref(key, e) }, true
}

func (k *keyed) ref(key string) *keyedEntry {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	return e
}

func (k *keyed) unref(key string, e *keyedEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(k.m, key)
	}
}
