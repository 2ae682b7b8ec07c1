// Package migrations holds lxcgate's numbered SQL migrations. It lives beside
// the files because an embed pattern cannot reach a parent directory.
package migrations

import "embed"

// FS holds every NNNN_name.sql file; internal/store applies them in order.
//
//go:embed *.sql
var FS embed.FS
