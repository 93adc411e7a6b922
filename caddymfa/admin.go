package caddymfa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin.api.mfa module: endpoints on Caddy's admin
// endpoint with which an operator looks at a user, unlocks one who hit a
// lock, or resets one who lost their authenticator:
//
//	GET  /mfa/users/{user}         factors, recovery codes left, locks, sessions
//	POST /mfa/users/{user}/unlock  forget the user's failure counters
//	POST /mfa/users/{user}/reset   remove factors, recovery codes and trusted
//	                               devices, forget failures, end every session
//
// With several stores open, ?store=<name> picks one.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.mfa",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/mfa/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// live holds the handlers of the running configs. The admin module is
// provisioned before the apps and outlives them, so it looks handlers up
// per request; it needs them for the keys their counters live under.
var live = struct {
	sync.Mutex
	handlers map[*Handler]struct{}
}{handlers: map[*Handler]struct{}{}}

// makeReachable lists h for the admin API until its config is unloaded.
func (h *Handler) makeReachable(ctx caddy.Context) {
	live.Lock()
	live.handlers[h] = struct{}{}
	live.Unlock()
	context.AfterFunc(ctx, func() {
		live.Lock()
		delete(live.handlers, h)
		live.Unlock()
	})
}

// adminTarget is one open store and the live handlers that use it.
type adminTarget struct {
	name     string
	backend  *backend
	handlers []*Handler
}

func adminError(status int, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return caddy.APIError{HTTPStatus: status, Err: err, Message: err.Error()}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/mfa/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "users" {
		return adminError(http.StatusNotFound, "not found: use /mfa/users/{user}[/unlock|/reset]")
	}
	user, err := adminUserName(parts[1])
	if err != nil {
		return err
	}
	action := ""
	if len(parts) == 3 {
		action = parts[2]
	}
	method := map[string]string{"": http.MethodGet, "unlock": http.MethodPost, "reset": http.MethodPost}[action]
	if method == "" {
		return adminError(http.StatusNotFound, "unknown action %q: use unlock or reset", action)
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		return adminError(http.StatusMethodNotAllowed, "use %s here", method)
	}
	t, err := findAdminTarget(r.URL.Query().Get("store"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var answer any
	switch action {
	case "":
		answer, err = t.describe(ctx, user)
	case "unlock":
		answer, err = t.unlock(ctx, r, user)
	case "reset":
		answer, err = t.reset(ctx, r, user)
	}
	switch {
	case errors.Is(err, errUnknownUser):
		return adminError(http.StatusNotFound, "unknown user %q: no running mfa handler lists them and store %s holds nothing of theirs", user, t.name)
	case err != nil:
		return adminError(http.StatusServiceUnavailable, "store %s: %v", t.name, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(answer)
}

// adminUserName decodes one path segment into a user name.
func adminUserName(segment string) (string, error) {
	user, err := url.PathUnescape(segment)
	switch {
	case err != nil:
		return "", adminError(http.StatusBadRequest, "the user name is not a valid URL path segment")
	case user == "" || len(user) > maxUsername || !utf8.ValidString(user):
		return "", adminError(http.StatusBadRequest, "a user name is 1 to %d bytes of UTF-8", maxUsername)
	case strings.ContainsFunc(user, unicode.IsControl):
		return "", adminError(http.StatusBadRequest, "a user name has no control characters")
	}
	return user, nil
}

// findAdminTarget picks the open store named by want, or the only one.
// Backends on the same data (sites whose connection settings differ) are
// one store: the target acts through any of them, for the handlers of all.
func findAdminTarget(want string) (adminTarget, error) {
	byName := map[string]*backend{}
	backends.Range(func(key, val any) bool {
		k, _ := key.(string)
		b, _ := val.(*backend)
		if b != nil && (want == "" || want == k || want == b.name) {
			byName[b.name] = b
		}
		return true
	})
	switch {
	case len(byName) == 0 && want != "":
		return adminTarget{}, adminError(http.StatusNotFound, "no open store is named %q; open: %s", want, strings.Join(openStoreNames(), ", "))
	case len(byName) == 0:
		return adminTarget{}, adminError(http.StatusNotFound, "no mfa store is open: the running config has no mfa handler")
	case len(byName) > 1:
		return adminTarget{}, adminError(http.StatusBadRequest, "several stores are open; add ?store=<name> with one of: %s", strings.Join(openStoreNames(), ", "))
	}
	var t adminTarget
	for name, b := range byName {
		t = adminTarget{name: name, backend: b}
	}
	t.handlers = handlersOn(t.name)
	if len(t.handlers) == 0 {
		return adminTarget{}, adminError(http.StatusServiceUnavailable, "store %s is closing: no running mfa handler uses it", t.name)
	}
	return t, nil
}

// openStoreNames lists each open store once, however many backends work
// on its data.
func openStoreNames() []string {
	var names []string
	backends.Range(func(_, val any) bool {
		if b, ok := val.(*backend); ok {
			names = append(names, b.name)
		}
		return true
	})
	slices.Sort(names)
	return slices.Compact(names)
}

// storeName is how the admin API shows the pool key of a store that
// gives no DataName: the key with a password in a URL (redis://:pw@host)
// masked.
func storeName(key string) string {
	i := strings.Index(key, "://")
	if i < 0 {
		return key
	}
	start := strings.LastIndexAny(key[:i], ": ") + 1
	u, err := url.Parse(key[start:])
	if err != nil {
		return key[:start] + "(unparsable address hidden)"
	}
	return key[:start] + u.Redacted()
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
