// Package ref names a container the one way lxcgate names it everywhere:
// its owner and its name. Two users may both own "dev", so a name alone
// never identifies a container.
package ref

// Ref is a container's identity.
type Ref struct {
	Owner string
	Name  string
}

// String is "owner/name": for logs, lock keys and rule comments.
func (r Ref) String() string { return r.Owner + "/" + r.Name }
