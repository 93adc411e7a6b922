package caddymfa

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("mfa", parseCaddyfile)
	// After basic_auth and forward_auth (identity_from reads what they
	// set), before everything that answers or proxies: no `order` line.
	httpcaddyfile.RegisterDirectiveOrder("mfa", httpcaddyfile.After, "forward_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads the mfa directive:
//
//	mfa {
//		secret <secret>                     # repeat to rotate: first signs, all verify
//		user <name> <hash> [{ email <e>; name <display name>; groups <g>... }]
//		users_file <path>
//		identity_from <placeholder>
//		store file [<path>] | store <module> ...
//		factors totp [recovery_code]
//		enforce required|enrolled
//		session_lifetime <duration>
//		session_idle <duration>
//		prefix <path>
//		issuer <name>
//		cookie_domain <domain>
//		headers { user|email|name|groups|methods|auth_time|mfa_time <Header-Name>|off }  # unnamed: Authelia's four; methods, auth_time, mfa_time off
//		lockout { threshold <n>; durations <d>...; max_failures <n>; ip_threshold <n>; forget <d> }
//		templates <dir>
//		branding { title <t>; logo <url>; color <#hex> }
//		max_body <size>
//		step_up <path>... <max_age> | step_up { match <matcher> <args>...; max_age <d>; factors <type>... }
//		bypass <path>... | bypass { match <matcher> <args>... }
//		enrollment_grace <duration>
//		trusted_device <duration>|0
//		keep_body <size>|off
//		bind_ip
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		dir := d.Val()
		// Settings that take one value would silently keep the last; a
		// second lockout block would reset what the first set.
		once := dir
		if dir == "rate_limit" {
			once = "lockout"
		}
		switch dir {
		case "secret", "user", "step_up", "bypass", "headers":
		default:
			if seen[once] {
				return d.Errf("mfa: %s given twice: give it once", dir)
			}
			seen[once] = true
		}
		var err error
		switch dir {
		case "secret":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Secrets = append(h.Secrets, args...)
		case "user":
			err = h.unmarshalUser(d)
		case "users_file":
			err = oneArg(d, &h.UsersFile)
		case "identity_from":
			err = oneArg(d, &h.IdentityFrom)
		case "store":
			err = h.unmarshalStore(d)
		case "factors":
			h.Factors = d.RemainingArgs()
			if len(h.Factors) == 0 {
				return d.ArgErr()
			}
		case "enforce":
			err = oneArg(d, &h.Enforce)
		case "session_lifetime":
			err = positiveDurationArg(d, &h.SessionLifetime)
		case "session_idle":
			err = positiveDurationArg(d, &h.SessionIdle)
		case "prefix":
			err = oneArg(d, &h.Prefix)
		case "issuer":
			err = oneArg(d, &h.Issuer)
		case "cookie_domain":
			err = oneArg(d, &h.CookieDomain)
		case "headers":
			err = h.unmarshalHeaders(d)
		case "lockout", "rate_limit":
			err = h.unmarshalLockout(d)
		case "templates":
			err = oneArg(d, &h.Templates)
		case "branding":
			err = h.unmarshalBranding(d)
		case "bind_ip":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.BindIP = true
		case "step_up":
			err = h.unmarshalStepUp(d)
		case "bypass":
			err = h.unmarshalBypass(d)
		case "enrollment_grace":
			err = durationArg(d, &h.EnrollmentGrace)
		case "trusted_device":
			var v caddy.Duration
			if err = durationArg(d, &v); err == nil {
				h.TrustedDevice = &v
			}
		case "keep_body":
			var s string
			if err = oneArg(d, &s); err == nil {
				if s == "off" {
					h.KeepBody = -1
					break
				}
				n, perr := humanize.ParseBytes(s)
				switch {
				case perr != nil:
					return d.Errf("keep_body: %q is not a size such as 64KiB (or off)", s)
				case n > maxKeepBody:
					return d.Errf("keep_body: %s is over the %s a kept request can hold", s, humanize.IBytes(maxKeepBody))
				case n == 0:
					h.KeepBody = -1
				default:
					h.KeepBody = int64(n)
				}
			}
		case "max_body":
			var s string
			if err = oneArg(d, &s); err == nil {
				n, perr := humanize.ParseBytes(s)
				switch {
				case perr != nil:
					return d.Errf("max_body: %q is not a size such as 64KiB", s)
				case n < minMaxBody || n > maxMaxBody:
					return d.Errf("max_body: %s is not between %s and %s", s, humanize.IBytes(minMaxBody), humanize.IBytes(maxMaxBody))
				}
				h.MaxBody = int64(n)
			}
		default:
			return d.Errf("mfa: unknown setting %q", dir)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// once refuses a block's setting given a second time: it would silently
// replace (or add to) the first.
func once(d *caddyfile.Dispenser, block string, seen map[string]bool) error {
	if seen[d.Val()] {
		return d.Errf("%s: %s given twice: give it once", block, d.Val())
	}
	seen[d.Val()] = true
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	dir := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: missing value", dir)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: takes one value", dir)
	}
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	dir := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return d.Errf("%s: %q is not a whole number", dir, s)
	}
	*dst = n
	return nil
}

// positiveIntArg is intArg for settings whose zero would quietly mean
// "the default" in JSON: written out, it is a mistake.
func positiveIntArg(d *caddyfile.Dispenser, dst *int) error {
	dir := d.Val()
	if err := intArg(d, dst); err != nil {
		return err
	}
	if *dst < 1 {
		return d.Errf("%s: must be at least 1, got %d", dir, *dst)
	}
	return nil
}

// positiveDurationArg is durationArg for settings whose zero would quietly
// mean "the default".
func positiveDurationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	dir := d.Val()
	if err := durationArg(d, dst); err != nil {
		return err
	}
	if *dst <= 0 {
		return d.Errf("%s: must be a positive duration, got %v", dir, time.Duration(*dst))
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	dir := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s: %q is not a duration such as 30m or 12h", dir, s)
	}
	*dst = caddy.Duration(v)
	return nil
}

func (h *Handler) unmarshalUser(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("user: expected `user <name> <password hash>`")
	}
	u := UserConfig{Name: args[0], Password: args[1]}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := once(d, "user "+u.Name, seen); err != nil {
			return err
		}
		switch d.Val() {
		case "email":
			if err := oneArg(d, &u.Email); err != nil {
				return err
			}
		case "name", "display_name":
			if err := oneArg(d, &u.DisplayName); err != nil {
				return err
			}
		case "groups":
			u.Groups = append(u.Groups, d.RemainingArgs()...)
		default:
			return d.Errf("user %s: unknown setting %q (email, name, groups)", u.Name, d.Val())
		}
	}
	h.Users = append(h.Users, u)
	return nil
}

// unmarshalStore reads `store file [path]` or `store <module> ...`; a
// bare URL (redis://…) names the module by its scheme.
func (h *Handler) unmarshalStore(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if scheme, _, ok := strings.Cut(name, "://"); ok {
		if name = scheme; name == "rediss" {
			name = "redis" // TLS is a setting of the same module
		}
		d.Prev()
	}
	// A mistyped URL (redis:/:pw@host) is no module name, and Caddy's
	// error would quote it, password and all.
	if _, err := caddy.GetModule("http.mfa.stores." + name); err != nil &&
		(strings.ContainsAny(name, "@:/") || strings.HasPrefix(name, "redis")) {
		return d.Err("store: expected file, redis or a redis:// URL")
	}
	mod, err := caddyfile.UnmarshalModule(d, "http.mfa.stores."+name)
	if err != nil {
		return err
	}
	h.StoreRaw = caddyconfig.JSONModuleObject(mod, "backend", name, nil)
	return nil
}

func (h *Handler) unmarshalHeaders(d *caddyfile.Dispenser) error {
	var hn HeaderNames
	if h.Headers != nil {
		hn = *h.Headers
	}
	// Blocks merge, but a field named in two of them is a repeat too.
	seen := map[string]bool{}
	for f, v := range map[string]string{"user": hn.User, "email": hn.Email, "name": hn.Name, "groups": hn.Groups,
		"methods": hn.Methods, "auth_time": hn.AuthTime, "mfa_time": hn.MFATime} {
		seen[f] = v != ""
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		field := d.Val()
		if err := once(d, "headers", seen); err != nil {
			return err
		}
		var v string
		if err := oneArg(d, &v); err != nil {
			return err
		}
		if v == "off" {
			v = "-"
		}
		switch field {
		case "user":
			hn.User = v
		case "email":
			hn.Email = v
		case "name":
			hn.Name = v
		case "groups":
			hn.Groups = v
		case "methods":
			hn.Methods = v
		case "auth_time":
			hn.AuthTime = v
		case "mfa_time":
			hn.MFATime = v
		default:
			return d.Errf("headers: unknown header %q (user, email, name, groups, methods, auth_time, mfa_time)", field)
		}
	}
	h.Headers = &hn
	return nil
}

func (h *Handler) unmarshalLockout(d *caddyfile.Dispenser) error {
	lc := LockoutConfig{}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := once(d, "lockout", seen); err != nil {
			return err
		}
		var err error
		switch d.Val() {
		case "threshold":
			err = positiveIntArg(d, &lc.Threshold)
		case "max_failures":
			err = positiveIntArg(d, &lc.MaxFailures)
		case "ip_threshold":
			err = positiveIntArg(d, &lc.IPThreshold)
		case "forget":
			err = positiveDurationArg(d, &lc.Forget)
		case "durations":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				v, perr := caddy.ParseDuration(a)
				if perr != nil {
					return d.Errf("lockout durations: %q is not a duration", a)
				}
				lc.Durations = append(lc.Durations, caddy.Duration(v))
			}
		default:
			return d.Errf("lockout: unknown setting %q (threshold, durations, max_failures, ip_threshold, forget)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Lockout = &lc
	return nil
}

func (h *Handler) unmarshalBranding(d *caddyfile.Dispenser) error {
	b := BrandingConfig{}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := once(d, "branding", seen); err != nil {
			return err
		}
		var err error
		switch d.Val() {
		case "title":
			err = oneArg(d, &b.Title)
		case "logo":
			err = oneArg(d, &b.Logo)
		case "color":
			err = oneArg(d, &b.Color)
		default:
			return d.Errf("branding: unknown setting %q (title, logo, color)", d.Val())
		}
		if err != nil {
			return err
		}
	}
	h.Branding = &b
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
