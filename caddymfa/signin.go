package caddymfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddymfa/caddy-mfa/caddymfa/factor"
	"github.com/caddymfa/caddy-mfa/caddymfa/store"
)

const (
	maxUsername = 256
	maxPassword = 1024
)

// Outcomes of a first factor, as the API names them.
const (
	statusAuthenticated      = "authenticated"
	statusMFARequired        = "mfa_required"
	statusEnrollmentRequired = "enrollment_required"
)

// clientIP is Caddy's client IP, which honours trusted_proxies; a client's
// own X-Forwarded-For is never believed.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audience binds tokens to the site (or the cookie_domain family of
// sites) that issued them.
func (h *Handler) audience(r *http.Request) string {
	if h.CookieDomain != "" {
		return h.CookieDomain
	}
	host := r.Host
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	return strings.ToLower(host)
}

func newID() string { return rand.Text() }

// attemptKey names a failure counter without storing user input as is
// (of any length, with any bytes). It does not depend on the secret: a
// rotation must not hand every locked account and client a fresh budget of
// guesses, and sites sharing a store count failures together. The store
// holds user names and client IPs in the clear elsewhere (sessions), so a
// keyed hash would hide nothing more.
func (h *Handler) attemptKey(kind, value string) string {
	sum := sha256.Sum256([]byte("caddy-mfa attempt key\x00" + kind + "\x00" + value))
	return kind + ":" + hex.EncodeToString(sum[:16])
}

// ipKey names the failure counter of the client at ip.
func (h *Handler) ipKey(ip string) string { return h.attemptKey("ip", limitedClient(ip)) }

// limitedClient is what the per-client limits count: an IPv4 address (an
// IPv4-mapped IPv6 one too) as is, an IPv6 address by its /64, which one
// subscriber usually holds whole.
func limitedClient(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr.WithZone(""), 64).Masked().String()
}

// checksInFlight bounds, in this process, the checks of a client that run
// between reading its IP lock and counting its failure: without it, any
// number of parallel guesses pass the read before the first is counted.
// With at most n at once per client, at most ip_threshold + n − 1 failures
// are evaluated before the IP lock holds, on each instance. The others
// wait their turn (colleagues behind one NAT address signing in at once
// are served one after another), up to maxClientWait.
var checksInFlight = clientGate{clients: map[string]*clientPlaces{}}

// maxClientWait is how long a check waits for a place of its client before
// a 429; it is not counted against anyone.
const maxClientWait = 10 * time.Second

type clientGate struct {
	mu      sync.Mutex
	clients map[string]*clientPlaces
}

type clientPlaces struct {
	places chan struct{} // one token per check running
	users  int           // checks running or waiting: the entry goes at 0
}

// enter waits for one of client's n places, until ctx ends or
// maxClientWait passes; it returns the function that gives the place back.
func (g *clientGate) enter(ctx context.Context, client string, n int) (leave func(), ok bool) {
	g.mu.Lock()
	p := g.clients[client]
	if p == nil {
		p = &clientPlaces{places: make(chan struct{}, n)}
		g.clients[client] = p
	}
	p.users++
	g.mu.Unlock()
	done := func() {
		g.mu.Lock()
		if p.users--; p.users == 0 {
			delete(g.clients, client)
		}
		g.mu.Unlock()
	}
	select {
	case p.places <- struct{}{}:
		return func() { <-p.places; done() }, true
	default:
	}
	t := time.NewTimer(maxClientWait)
	defer t.Stop()
	select {
	case p.places <- struct{}{}:
		return func() { <-p.places; done() }, true
	case <-ctx.Done():
	case <-t.C:
	}
	done()
	return nil, false
}

// ipChecksAtOnce is how many checks of one client may run at once: a tenth
// of ip_threshold, at least 2, so the IP limit holds to about a tenth.
func (h *Handler) ipChecksAtOnce() int { return max(2, h.limits.ip.Threshold/10) }

// errClientBusy answers a client whose checks kept every place taken for
// maxClientWait.
func errClientBusy() error { return rateLimited(time.Second) }

// enterIPCheck waits for a place for r's client among checksInFlight; ok
// false when none came in time. Call leave when the failure, if any, is
// counted.
func (h *Handler) enterIPCheck(r *http.Request) (leave func(), ok bool) {
	return checksInFlight.enter(r.Context(), limitedClient(clientIP(r)), h.ipChecksAtOnce())
}

// checkIPLock refuses a client IP that failed too often, without counting.
// user and factorType only label the audit event. Callers hold a place
// from enterIPCheck, so that the read and the count that follows it are
// not outrun.
func (h *Handler) checkIPLock(ctx context.Context, r *http.Request, now time.Time, user, factorType string) error {
	st, err := h.backend.Attempts(ctx, h.ipKey(clientIP(r)), now)
	if err != nil {
		return unavailable(err)
	}
	if st.Locked(now) {
		h.refusedByLock(r, user, factorType, "ip_locked")
		return rateLimited(st.LockedUntil.Sub(now))
	}
	return nil
}

// ipFailed records one failure of the client IP, by user with factorType,
// and the IP lock it may start.
func (h *Handler) ipFailed(ctx context.Context, r *http.Request, now time.Time, user, factorType string) {
	st, err := h.backend.CountAttempt(ctx, h.ipKey(clientIP(r)), now, h.limits.ip)
	if err != nil {
		h.logStoreError("counting IP failure", err)
		return
	}
	if startsLock(st, now) {
		h.lockStarted(r, user, factorType, "ip_locked")
	}
}

// startsLock reports whether the counted failure st put a time lock in
// force: it was counted while none was, and one is now.
func startsLock(st store.Attempt, now time.Time) bool {
	return st.Allowed && st.Locked(now)
}

// lockStarted audits a lock of kind that a failure just put in force, and
// counts it; refusals while it lasts are audited by refusedByLock and not
// counted again.
func (h *Handler) lockStarted(r *http.Request, user, factorType, kind string) {
	metrics.lockouts.WithLabelValues(kind).Inc()
	h.auditEvent(r, "lockout", user, factorType, kind, zap.Bool("refused", false))
}

// refusedByLock audits an attempt refused because a lock of kind is in force.
func (h *Handler) refusedByLock(r *http.Request, user, factorType, kind string) {
	h.auditEvent(r, "lockout", user, factorType, kind, zap.Bool("refused", true))
}

// checkPassword is the built-in first factor. Unknown users, wrong
// passwords and locked names are indistinguishable: the same counter
// applies to any name, and an unknown name is checked against a dummy hash.
func (h *Handler) checkPassword(ctx context.Context, r *http.Request, username, password string) (string, error) {
	if username == "" || password == "" {
		return "", badRequest("Enter your username and password.")
	}
	if len(username) > maxUsername || len(password) > maxPassword {
		return "", badRequest("The username or password is too long.")
	}
	leave, ok := h.enterIPCheck(r)
	if !ok {
		h.refusedByLock(r, username, "password", "ip_busy")
		return "", errClientBusy()
	}
	defer leave()
	now := h.now()
	if err := h.checkIPLock(ctx, r, now, username, "password"); err != nil {
		return "", err
	}
	key := h.attemptKey("pwd", username)
	st, err := h.backend.CountAttempt(ctx, key, now, h.limits.password)
	if err != nil {
		return "", unavailable(err)
	}
	if !st.Allowed {
		h.refusedByLock(r, username, "password", "user_locked")
		return "", rateLimited(st.LockedUntil.Sub(now))
	}
	u, ok, err := h.dir.Authenticate(ctx, username, password)
	if err != nil {
		return "", unavailable(err)
	}
	if !ok {
		h.auditEvent(r, "signin", username, "password", "failure")
		if startsLock(st, now) {
			h.lockStarted(r, username, "password", "user_locked")
		}
		h.ipFailed(ctx, r, now, username, "password")
		return "", errInvalidCredentials
	}
	if err := h.backend.ResetAttempts(ctx, key); err != nil {
		return "", unavailable(err)
	}
	h.auditEvent(r, "signin", u.Name, "password", "success")
	return u.Name, nil
}

// firstFactorDone is what a passed first factor leads to.
type firstFactorDone struct {
	Status  string
	Pending pending
	Token   string               // the mfa_token, unless Status is authenticated
	Factors []store.FactorRecord // active factors, when Status is mfa_required
	// GraceUntil: a user without a factor may skip enrollment until then.
	GraceUntil time.Time
	// Session and SessionToken are set when Status is authenticated.
	Session      session
	SessionToken string
}

// afterFirstFactor decides the next step for user: a session right away
// (a trusted device of theirs, or `enforce enrolled` without a factor), or
// an mfa_token that carries the flow to the second factor or enrollment.
func (h *Handler) afterFirstFactor(ctx context.Context, r *http.Request, user string, amr []string, deviceToken string) (firstFactorDone, error) {
	now := h.now()
	active, err := h.activeFactors(ctx, user)
	if err != nil {
		return firstFactorDone{}, err
	}
	done := firstFactorDone{Status: statusMFARequired, Factors: active}
	if len(active) > 0 && deviceToken != "" {
		if d, ok := h.trustedDevice(ctx, r, user, deviceToken); ok {
			done.Status = statusAuthenticated
			done.Session, done.SessionToken, err = h.startSession(ctx, r, newSession{
				User: user, AuthTime: now, AMR: append(slices.Clone(amr), amrDevice),
				MFAFactor: factorDevice, DeviceID: d.ID,
			})
			return done, err
		}
	}
	if len(active) == 0 {
		done.Status = statusEnrollmentRequired
		if h.enforce == enforceEnrolled {
			done.Status = statusAuthenticated
			done.Session, done.SessionToken, err = h.startSession(ctx, r, newSession{User: user, AuthTime: now, AMR: amr})
			return done, err
		}
		if done.GraceUntil, err = h.graceUntil(ctx, user); err != nil {
			return firstFactorDone{}, err
		}
	}
	done.Pending = pending{
		User:      user,
		ID:        newID(),
		Audience:  h.audience(r),
		ExpiresAt: now.Add(defaultPendingLifetime),
		AuthTime:  now,
		AMR:       amr,
		// The session inherits it: a password changed meanwhile ends both.
		PasswordTag: h.passwordTags[user],
	}
	if done.Token, err = h.tokens.issuePending(done.Pending, now); err != nil {
		return firstFactorDone{}, err
	}
	return done, nil
}

// graceUntil is when user's enrollment grace ends (zero: none left).
func (h *Handler) graceUntil(ctx context.Context, user string) (time.Time, error) {
	if h.EnrollmentGrace <= 0 || h.enforce != enforceRequired {
		return time.Time{}, nil
	}
	now := h.now()
	first, err := h.backend.FirstSeen(ctx, user, now)
	if err != nil {
		return time.Time{}, unavailable(err)
	}
	until := first.Add(time.Duration(h.EnrollmentGrace))
	if !now.Before(until) {
		return time.Time{}, nil
	}
	return until, nil
}

// activeFactors lists user's enrolled (not pending) second factors of the
// types this site accepts.
func (h *Handler) activeFactors(ctx context.Context, user string) ([]store.FactorRecord, error) {
	all, err := h.backend.Factors(ctx, user)
	if err != nil {
		return nil, unavailable(err)
	}
	var active []store.FactorRecord
	for _, f := range all {
		if !f.Pending && slices.Contains(h.factors, f.Type) {
			active = append(active, f)
		}
	}
	return active, nil
}

// factorAMR is the amr list of a first factor plus a second.
func factorAMR(first []string, secondType string) []string {
	amr := slices.Clone(first)
	if v := factor.AMR(secondType); v != "" && !slices.Contains(amr, v) {
		amr = append(amr, v)
	}
	return append(amr, "mfa")
}
