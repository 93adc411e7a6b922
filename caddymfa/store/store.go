// Package store defines where caddy-mfa keeps its state: enrolled factors,
// recovery codes, sessions, revocations, failure counters and single-use
// markers. Implementations live in subpackages and all pass the conformance
// suite in storetest.
//
// The store never sees a plaintext secret: factor secrets arrive sealed,
// recovery codes and tokens arrive as keyed hashes.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Implementations wrap them with %w.
var (
	// ErrNotFound: the record does not exist (or has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrReplay: a single-use value was already used.
	ErrReplay = errors.New("store: already used")
	// ErrStepUsed: a TOTP time step as late was already recorded. It is
	// an ErrReplay; StartSession answers it only for its step.
	ErrStepUsed = fmt.Errorf("%w: time step", ErrReplay)
	// ErrUnavailable: the backend cannot be reached; callers answer 503.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrInvalid: an argument no store accepts (empty or over-long key,
	// missing expiry). It is a bug in the caller, never the client's fault.
	ErrInvalid = errors.New("store: invalid argument")
)

// Store is the whole persistence contract. Every method is safe for
// concurrent use, and every method documented as atomic stays atomic when
// several processes share one backend.
//
// Every user name, ID and key is checked with CheckKey, and a zero expiry is
// ErrInvalid. A record is in force while now is before its expiry, and gone
// from that instant on. Methods
// that take no now use the store's own clock. After Close every method
// fails with ErrUnavailable.
type Store interface {
	// SaveFactor creates or replaces the factor with f.ID for user. A
	// replacement never lowers the LastStep already stored, so a stale copy
	// saved back cannot reopen a replay window.
	SaveFactor(ctx context.Context, user string, f FactorRecord) error
	// Factors lists user's factors, oldest first (by CreatedAt, then ID);
	// none is not an error. Pending factors past PendingUntil are gone.
	Factors(ctx context.Context, user string) ([]FactorRecord, error)
	// DeleteFactor removes one factor; ErrNotFound if it does not exist.
	DeleteFactor(ctx context.Context, user, factorID string) error
	// UseStep atomically records that the code of time step step was
	// accepted for the factor. It fails with ErrReplay when a step greater
	// than or equal to step was already recorded, and with ErrNotFound when
	// the factor does not exist.
	UseStep(ctx context.Context, user, factorID string, step int64) error

	// ReplaceRecoveryCodes atomically replaces user's recovery code hashes;
	// the old set is dead afterwards. An empty set deletes them. An empty
	// or repeated hash is ErrInvalid, and the old set stays.
	ReplaceRecoveryCodes(ctx context.Context, user string, hashes [][]byte) error
	// ConsumeRecoveryCode atomically removes the first of candidates found
	// in user's set (candidates are the hashes of one code under each
	// accepted key) and reports how many codes remain. ErrNotFound when
	// none matches. Of concurrent calls with the same code exactly one
	// succeeds.
	ConsumeRecoveryCode(ctx context.Context, user string, candidates [][]byte) (remaining int, err error)
	// RecoveryCodesLeft counts user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, user string) (int, error)

	// CountAttempt atomically counts one attempt against key under policy
	// and reports whether the caller may evaluate it (see Attempt). A
	// counter forgotten by now (ForgetAt under the policy of its last
	// count) starts again from zero; stores compare with now, not only
	// with their own expiry of the record.
	CountAttempt(ctx context.Context, key string, now time.Time, policy LockPolicy) (Attempt, error)
	// ResetAttempts forgets key's failures, as after a success.
	ResetAttempts(ctx context.Context, key string) error
	// Attempts reads key's state without counting.
	Attempts(ctx context.Context, key string, now time.Time) (Attempt, error)

	// SaveSession records an issued session, kept until s.ExpiresAt.
	SaveSession(ctx context.Context, s Session) error
	// Sessions lists user's unexpired, unrevoked sessions, oldest first (by
	// CreatedAt, then ID).
	Sessions(ctx context.Context, user string, now time.Time) ([]Session, error)
	// Revoke records r until r.ExpiresAt and deletes the session records it
	// covers. Revoking twice is not an error; a store may merge revocations
	// of the same session or user, but only by widening them (later
	// NotBefore, later ExpiresAt).
	Revoke(ctx context.Context, r Revocation) error
	// Revocations lists every revocation still in force at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)

	// UseOnce atomically marks key as used until expiresAt; ErrReplay if it
	// was already marked and has not expired. An expiresAt already past
	// stores nothing.
	UseOnce(ctx context.Context, key string, expiresAt time.Time) error
	// OnceUsed reports whether key is marked used and the mark has not
	// expired. It only reads: callers racing a UseOnce may all see false,
	// so it serves to refuse early what UseOnce would refuse anyway.
	OnceUsed(ctx context.Context, key string) (bool, error)

	// StartSession writes what the end of a sign-in writes: start.OnceKey
	// (when set) spent as UseOnce would, start.Step (when set) recorded
	// for start.Session.User as UseStep would, start.ResetAttempts cleared
	// as ResetAttempts would, and start.Session saved as SaveSession
	// would. When the once key was spent already it answers ErrReplay;
	// else, when the step is not above the one recorded, ErrStepUsed, and
	// when the step's factor is gone, ErrNotFound. A store that can makes
	// it one atomic write (one fsync) and then writes nothing on those
	// answers; otherwise the key and the step are spent first, and
	// nothing else is written after such an answer.
	StartSession(ctx context.Context, start SessionStart) error

	// FirstSeen returns when user was first seen, recording now as that
	// time if the user was never seen before.
	FirstSeen(ctx context.Context, user string, now time.Time) (time.Time, error)

	// SaveDevice creates or replaces the trusted device d.ID of d.User
	// (device IDs are per user), kept until d.ExpiresAt. d.TokenHash must
	// be 1 to MaxKeyLen bytes. A token hash finds at most one device: the
	// replaced device's old hash finds nothing afterwards, and another
	// device that held d.TokenHash, of any user, is deleted. A device
	// already expired by the store's clock still replaces its predecessor
	// but is not stored.
	SaveDevice(ctx context.Context, d Device) error
	// DeviceByToken finds the device whose TokenHash is tokenHash and that
	// is unexpired at now; ErrNotFound if none. It changes nothing, not
	// even LastUsedAt.
	DeviceByToken(ctx context.Context, tokenHash []byte, now time.Time) (Device, error)
	// Devices lists user's devices unexpired at now, oldest first (by
	// CreatedAt, then ID); none is not an error.
	Devices(ctx context.Context, user string, now time.Time) ([]Device, error)
	// TouchDevice atomically records at as the last use of user's device
	// (never moving it back), only while that device exists: a device
	// revoked meanwhile stays revoked. ErrNotFound if it does not exist.
	TouchDevice(ctx context.Context, user, deviceID string, at time.Time) error
	// DeleteDevice removes one of user's devices; ErrNotFound if it does
	// not exist, belongs to someone else, or has expired by the store's
	// clock.
	DeleteDevice(ctx context.Context, user, deviceID string) error
	// DeleteDevices atomically removes all of user's devices and reports
	// how many were unexpired by the store's clock; none is 0, not an
	// error. Their token hashes find nothing afterwards.
	DeleteDevices(ctx context.Context, user string) (int, error)

	// ParkRequest keeps data (an encrypted request that met a challenge)
	// under id until expiresAt, replacing whatever id held. data may be
	// empty and at most 1 MiB (1<<20 bytes); more is ErrInvalid. An
	// expiresAt already past by the store's clock stores nothing and drops
	// what id held.
	ParkRequest(ctx context.Context, id string, data []byte, expiresAt time.Time) error
	// TakeParkedRequest atomically returns and deletes the data parked
	// under id; ErrNotFound if there is none (never parked, expired at now,
	// or already taken). Of concurrent calls exactly one gets the data.
	TakeParkedRequest(ctx context.Context, id string, now time.Time) ([]byte, error)

	// Close releases the backend.
	Close() error
}

// FactorRecord is one enrolled (or pending) second factor of a user.
type FactorRecord struct {
	ID    string `json:"id"`
	Type  string `json:"type"`  // "totp", later "webauthn", "email", …
	Label string `json:"label"` // shown to the user, e.g. "Authenticator app"
	// Secret is sealed by the caller (AES-GCM, user id as additional data);
	// the store keeps it as opaque bytes.
	Secret []byte `json:"secret"`
	// Pending factors are being enrolled and must not be accepted as a
	// second factor; they are deleted at PendingUntil.
	Pending      bool      `json:"pending,omitempty"`
	PendingUntil time.Time `json:"pending_until,omitzero"`
	// StartedBy is the session (sid) that began a pending setup, when a
	// signed-in user began it; only that session may finish it.
	StartedBy string    `json:"started_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// LastStep is the last accepted TOTP time step (replay protection);
	// kept current by UseStep.
	LastStep int64 `json:"last_step,omitempty"`
}

// SessionStart is the end of a sign-in, for StartSession.
type SessionStart struct {
	Session Session
	// OnceKey, when set, is the single-use key of the token the sign-in
	// came with, spent until OnceExpiresAt.
	OnceKey       string
	OnceExpiresAt time.Time
	// Step, when its FactorID is set, is the TOTP time step the sign-in's
	// code was of, spent with the session.
	Step StepUse
	// ResetAttempts are the attempt counters the sign-in's success clears.
	ResetAttempts []string
}

// Check refuses, with ErrInvalid, a SessionStart no store accepts, so that
// a store can answer before it spends anything.
func (start SessionStart) Check() error {
	if err := CheckKey("session id", start.Session.ID); err != nil {
		return err
	}
	if err := CheckKey("user", start.Session.User); err != nil {
		return err
	}
	if start.Session.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: session without expiry", ErrInvalid)
	}
	if start.OnceKey != "" {
		if err := CheckKey("once key", start.OnceKey); err != nil {
			return err
		}
		if start.OnceExpiresAt.IsZero() {
			return fmt.Errorf("%w: once marker without expiry", ErrInvalid)
		}
	}
	if start.Step.FactorID != "" {
		if err := CheckKey("factor id", start.Step.FactorID); err != nil {
			return err
		}
	}
	for _, k := range start.ResetAttempts {
		if err := CheckKey("attempt key", k); err != nil {
			return err
		}
	}
	return nil
}

// StepUse is a TOTP time step accepted for a factor, as UseStep records it.
type StepUse struct {
	FactorID string
	Step     int64
}

// Session is the server-side record of an issued session.
type Session struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	AMR       []string  `json:"amr,omitempty"`
	ClientIP  string    `json:"client_ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	// DeviceID is the trusted device the session was started with, if
	// any: revoking the device ends the session too.
	DeviceID string `json:"device_id,omitempty"`
}

// Device is a browser a user chose to trust: its cookie holds a random
// token, the store only the token's SHA-256.
type Device struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	TokenHash  []byte    `json:"token_hash"`
	Label      string    `json:"label"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// RevocationFeed is implemented by stores shared between processes: it
// calls fn for every revocation recorded anywhere (by any process) from
// the moment it returns until ctx ends, so each process can keep its
// in-memory copy current without asking the store on every request. After
// a lost connection it calls resync, and the caller reloads Revocations.
type RevocationFeed interface {
	WatchRevocations(ctx context.Context, fn func(Revocation), resync func()) error
}

// CountingStarter is implemented by stores that can count an attempt and
// start the session it earns in one atomic write (for a file store, one
// commit instead of two, and half the fsyncs of a sign-in).
type CountingStarter interface {
	// CountAndStart counts one attempt against key under policy, as
	// CountAttempt would, calls check with the counted state and, when
	// check answers a start, writes it as StartSession would, all in one
	// atomic write. It returns the counted state and:
	//   - check's error, as check returned it, when check refuses; the
	//     attempt stays counted;
	//   - StartSession's answers (ErrReplay, ErrStepUsed, ErrNotFound,
	//     ErrInvalid) when the start is refused; the attempt stays
	//     counted and nothing of the start is written;
	//   - a store error, when nothing was written.
	//
	// check runs inside the write, so concurrent writers wait for it: it
	// must be quick, must not call the store, and may run more than once
	// (its last answer counts).
	CountAndStart(ctx context.Context, key string, now time.Time, policy LockPolicy,
		check func(Attempt) (*SessionStart, error)) (Attempt, error)
}

// CountAndStart is s.CountAndStart when s is a CountingStarter, and
// otherwise the same in two writes: CountAttempt, check, then StartSession
// when check answers a start. Either way the attempt is counted before
// check runs, and the answers are CountingStarter's; only a refused start
// may have spent its key or step first, as StartSession allows.
func CountAndStart(ctx context.Context, s Store, key string, now time.Time, policy LockPolicy,
	check func(Attempt) (*SessionStart, error)) (Attempt, error) {
	if cs, ok := s.(CountingStarter); ok {
		return cs.CountAndStart(ctx, key, now, policy, check)
	}
	st, err := s.CountAttempt(ctx, key, now, policy)
	if err != nil {
		return Attempt{}, err
	}
	start, err := check(st)
	if err != nil || start == nil {
		return st, err
	}
	return st, s.StartSession(ctx, *start)
}

// Revocation kills one session (SessionID set) or every session of User
// issued before NotBefore (SessionID empty). It is kept until ExpiresAt,
// after which no token it covers can be valid any more.
type Revocation struct {
	SessionID string    `json:"session_id,omitempty"`
	User      string    `json:"user,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Covers reports whether r kills the session sessionID of user issued at
// issuedAt. Whether r is still in force is the caller's question.
func (r Revocation) Covers(sessionID, user string, issuedAt time.Time) bool {
	if r.SessionID != "" {
		return r.SessionID == sessionID
	}
	return r.User != "" && r.User == user && issuedAt.Before(r.NotBefore)
}

// LockPolicy says how attempts lock a key. Every counted attempt raises the
// count, including those refused while locked. When the count reaches a
// multiple of Threshold the key is locked for Locks[n-1] from now (n: how
// many thresholds were reached; the last entry repeats), never shortening a
// lock in force. From HardCap counted attempts on (0: no cap) the state
// reports HardLocked until a reset. A record with no attempt for Forget is
// dropped, counting from the end of its lock if that is later (0: kept until
// reset); see ForgetAt.
type LockPolicy struct {
	Threshold int             `json:"threshold"`
	Locks     []time.Duration `json:"locks"`
	HardCap   int             `json:"hard_cap,omitempty"`
	Forget    time.Duration   `json:"forget,omitempty"`
}

// LockFor returns how long the n-th lock of the policy lasts (n ≥ 1).
func (p LockPolicy) LockFor(n int) time.Duration {
	if len(p.Locks) == 0 || n < 1 {
		return 0
	}
	return p.Locks[min(n, len(p.Locks))-1]
}

// ForgetAt returns when a counter in state a is dropped under p, or zero if
// it is kept until reset. A Forget shorter than a lock never cuts the lock
// short, and escalation survives the lock itself.
func (p LockPolicy) ForgetAt(a Attempt) time.Time {
	if p.Forget <= 0 {
		return time.Time{}
	}
	from := a.LastAt
	if a.LockedUntil.After(from) {
		from = a.LockedUntil
	}
	return from.Add(p.Forget)
}

// Next applies one counted attempt at now to the stored state prev. Stores
// call it (or reproduce it exactly, as a Redis script does) inside their
// atomic update, so every store locks alike.
func (p LockPolicy) Next(prev Attempt, now time.Time) Attempt {
	next := Attempt{
		Failures:    prev.Failures + 1,
		LockedUntil: prev.LockedUntil,
		LastAt:      now,
		Allowed:     !now.Before(prev.LockedUntil),
		HardLocked:  p.HardCap > 0 && prev.Failures >= p.HardCap,
	}
	if p.Threshold > 0 && next.Failures%p.Threshold == 0 {
		if until := now.Add(p.LockFor(next.Failures / p.Threshold)); until.After(next.LockedUntil) {
			next.LockedUntil = until
		}
	}
	return next
}

// Attempt is the state of one counter.
type Attempt struct {
	// Failures counts attempts since the last reset.
	Failures int `json:"failures"`
	// LockedUntil is the end of the current (or last) lock.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// LastAt is when the last attempt was counted.
	LastAt time.Time `json:"last_at,omitzero"`
	// Allowed (set by CountAttempt only): the key was not locked when this
	// attempt was counted, so the caller may evaluate it. When false the
	// caller refuses without looking at the submitted value.
	Allowed bool `json:"-"`
	// HardLocked (set by CountAttempt only): the hard cap was reached
	// before this attempt.
	HardLocked bool `json:"-"`
}

// Locked reports whether a lock is in force at now.
func (a Attempt) Locked(now time.Time) bool { return now.Before(a.LockedUntil) }

// CheckRecoveryHashes returns ErrInvalid for a set that holds an empty
// hash (it would match an empty candidate) or a hash twice (its code
// would work twice).
func CheckRecoveryHashes(hashes [][]byte) error {
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if len(h) == 0 {
			return fmt.Errorf("%w: empty recovery code hash", ErrInvalid)
		}
		if seen[string(h)] {
			return fmt.Errorf("%w: a recovery code hash given twice", ErrInvalid)
		}
		seen[string(h)] = true
	}
	return nil
}
