package users

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum (19 MiB, 2 passes), about 25 ms on one
// core, so a burst of logins cannot exhaust the gateway's memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Password length limits. argon2id has no 72-byte cut like bcrypt; the upper
// bound only stops absurd inputs.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// ErrWeakPassword is returned for passwords outside the length limits.
var ErrWeakPassword = fmt.Errorf("password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)

// CheckPasswordPolicy reports whether pw may be set as a password.
func CheckPasswordPolicy(pw string) error {
	if len([]rune(pw)) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ErrWeakPassword
	}
	return nil
}

// DefaultMaxConcurrentHashes is how many argon2 hashes run at once unless
// SetMaxConcurrentHashes says otherwise.
const DefaultMaxConcurrentHashes = 4

// hashSlots bounds the argon2 runs in flight. Each holds its memory cost
// (19 MiB) while it runs, so without a bound a burst of password attempts
// grows the gateway by 19 MiB per attempt; with it, by at most N x 19 MiB,
// the rest waiting their turn.
// (A pointer set in its initializer: package variables such as dummyHash
// hash during initialization, before any init function runs.)
var hashSlots = func() *atomic.Pointer[chan struct{}] {
	var p atomic.Pointer[chan struct{}]
	ch := make(chan struct{}, DefaultMaxConcurrentHashes)
	p.Store(&ch)
	return &p
}()

// SetMaxConcurrentHashes sets how many password hashes may run at once
// (auth.max_concurrent_hashes); n <= 0 means the default. Hashes already
// running or waiting finish under the old bound.
func SetMaxConcurrentHashes(n int) {
	if n <= 0 {
		n = DefaultMaxConcurrentHashes
	}
	ch := make(chan struct{}, n)
	hashSlots.Store(&ch)
}

// idKey is argon2.IDKey; tests replace it to observe concurrency.
var idKey = argon2.IDKey

// argon2id runs idKey in a slot, waiting for one no longer than ctx allows.
func argon2id(ctx context.Context, pw, salt []byte, time, mem uint32, threads uint8, keyLen uint32) ([]byte, error) {
	slots := *hashSlots.Load()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to hash a password: %w", ctx.Err())
	}
	defer func() { <-slots }()
	return idKey(pw, salt, time, mem, threads, keyLen), nil
}

// HashPassword returns a PHC-style argon2id string.
func HashPassword(pw string) (string, error) {
	return HashPasswordContext(context.Background(), pw)
}

// HashPasswordContext is HashPassword, giving up waiting for a hash slot
// when ctx ends.
func HashPasswordContext(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := argon2id(ctx, []byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// VerifyPassword reports whether pw matches the encoded hash, in constant
// time with respect to the password.
func VerifyPassword(encoded, pw string) (bool, error) {
	return VerifyPasswordContext(context.Background(), encoded, pw)
}

// VerifyPasswordContext is VerifyPassword, giving up waiting for a hash
// slot when ctx ends (a client that hung up); the error then says so.
func VerifyPasswordContext(ctx context.Context, encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &time, &threads); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	// The parameters come from our own database, but a corrupt row must
	// not ask for gigabytes either.
	if mem > 4*argonMemory || time > 16 || threads == 0 || threads > 16 || len(want) > 64 {
		return false, errBadHash
	}
	got, err := argon2id(ctx, []byte(pw), salt, time, mem, threads, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a user does not exist or has no
// password, so that a failed login takes the same time either way.
var dummyHash = func() string {
	h, err := HashPassword("lxcgate-no-such-user")
	if err != nil {
		panic(err)
	}
	return h
}()

// RandomPassword returns a password of n characters from an unambiguous set.
func RandomPassword(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 0, n)
	buf := make([]byte, 1)
	// Rejection sampling keeps every character equally likely.
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		if int(buf[0]) < limit {
			out = append(out, alphabet[int(buf[0])%len(alphabet)])
		}
	}
	return string(out)
}
