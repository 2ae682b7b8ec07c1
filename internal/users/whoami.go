package users

// Whoami is who a caller is, as 'whoami --json' and the web API's
// /api/v1/me write it.
type Whoami struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Method string `json:"method"` // how they authenticated
	Remote string `json:"remote"` // from where
}
